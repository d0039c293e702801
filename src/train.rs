//! The training loop: epochs of GPU steps, progress, metrics, validation, checkpoints and
//! pictures.
//!
//! Per step the host writes the 16-byte step uniform and submits the compiled plan; the
//! data set is on the GPU, each batch is gathered there, and the loss is summed into an
//! accumulator there. The progress bar reads that accumulator back every few steps without
//! waiting for it.

use crate::checkpoint::{self, Checkpoint, Tensor};
use crate::data::{Dataset, Split};
use crate::gpu::{Gpu, Readback};
use crate::graph::autodiff::{add_optimizer, backward};
use crate::graph::plan::{pack_bytes, Plan, Resources};
use crate::graph::{DType, Graph, Init, NodeId, Op};
use crate::models::{self, ModelConfig};
use crate::ops::optimizer::Optimizer;
use crate::ops::StepUniform;
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything `train` needs besides the device and the data.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub model: ModelConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: Optimizer,
    pub seed: u64,
    pub out: PathBuf,
    /// Draw the progress bar (off in tests).
    pub progress: bool,
}

/// One epoch's figures (a row of metrics.csv).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean training loss over the epoch's steps, per feature (per pixel) or, for the VAE,
    /// per sample ([`ModelConfig::loss_unit`]).
    pub train_loss: f64,
    /// Validation loss over the whole validation split, in the same unit.
    pub val_loss: f64,
    pub seconds: f64,
    pub samples_per_s: f64,
    /// The validation loss's terms when it has several (the VAE's reconstruction and KL).
    pub val_terms: Vec<(String, f64)>,
}

/// Checks the flags against the data before anything runs.
pub fn validate(opts: &TrainOptions, split: &Split) -> Result<()> {
    if opts.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if opts.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if opts.batch_size > split.train.n {
        bail!(
            "--batch-size {} is larger than the training set ({} samples): use at most {}",
            opts.batch_size,
            split.train.n,
            split.train.n
        );
    }
    let lr = match opts.optimizer {
        Optimizer::Adam { lr, .. } | Optimizer::Sgd { lr, .. } => lr,
    };
    if !(lr.is_finite() && lr > 0.0) {
        bail!("--lr must be a positive finite number, got {lr}");
    }
    let cfg = &opts.model;
    if cfg.noise.is_some() && cfg.kind != models::ModelKind::Denoising {
        bail!("--noise applies to --model denoising only");
    }
    if cfg.sparsity.is_some() && cfg.kind != models::ModelKind::Sparse {
        bail!("--sparsity applies to --model sparse only");
    }
    if cfg.data_stats.is_some() {
        if cfg.is_conv() {
            bail!(
                "csv data feeds dense models only: use --model vanilla, sparse or vae, or --arch dense"
            );
        }
        if matches!(cfg.noise, Some(crate::ops::random::Noise::Gaussian(_))) {
            bail!("gaussian noise clips to [0, 1], which standardised csv data is not: use --noise mask:P");
        }
    }
    if cfg.is_conv() {
        if cfg.kind == models::ModelKind::Sparse {
            bail!(
                "--arch conv for the {} model is not built yet: use --arch dense",
                cfg.kind.name()
            );
        }
        models::conv::check(cfg).map_err(anyhow::Error::msg)?;
        let code: usize = models::conv::code_shape(cfg).iter().product();
        if cfg.latent != code && cfg.kind != models::ModelKind::Vae {
            bail!(
                "the convolutional code is {code} values (channels × ⌈H/8⌉ × ⌈W/8⌉);                  --latent does not apply, change --channels instead"
            );
        }
    }
    if opts.model.latent == 0 || opts.model.hidden.contains(&0) {
        bail!("--latent and --hidden widths must be at least 1");
    }
    if split.train.sample_len() != opts.model.input_dim
        || split.val.sample_len() != opts.model.input_dim
    {
        bail!(
            "the data has {} features per sample but the model expects {}",
            split.train.sample_len(),
            opts.model.input_dim
        );
    }
    Ok(())
}

/// Initial values of a parameter, reproducible from the run seed and the parameter's name.
pub fn init_values(init: Init, len: usize, seed: u64, name: &str) -> Vec<f32> {
    // FNV-1a of the name, so adding a layer does not change the others' draws.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Rng::new(seed ^ h);
    match init {
        Init::Zeros => vec![0.0; len],
        Init::GlorotUniform { fan_in, fan_out } => {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            rng.vec_f32(len, -limit, limit)
        }
        Init::FanInUniform { fan_in } => {
            let limit = 1.0 / (fan_in as f64).sqrt();
            rng.vec_f32(len, -limit, limit)
        }
    }
}

/// Writes every parameter of `g` that `res` holds with its initial values.
pub fn init_params(gpu: &Gpu, g: &Graph, res: &Resources, seed: u64) {
    for p in g.params() {
        let n = &g.nodes[p];
        if let (Op::Param(init), Some(buf)) = (n.op, res.get(&n.name)) {
            let v = init_values(init, n.len(), seed, &n.name);
            gpu.queue.write_buffer(buf, 0, bytemuck::cast_slice(&v));
        }
    }
}

/// The training graph: gather → model → mean loss → backward → optimizer → loss accumulator.
pub struct TrainGraph {
    pub graph: Graph,
    pub data: NodeId,
    pub indices: NodeId,
    pub loss: NodeId,
    pub loss_sum: NodeId,
}

/// How a model's data lives on the GPU: bytes for images, floats for standardised CSV data
/// (whose statistics the config carries).
pub fn data_dtype(cfg: &ModelConfig) -> DType {
    if cfg.data_stats.is_some() {
        DType::F32
    } else {
        DType::U8
    }
}

/// Uploads a set's samples into the data node of a plan (bytes packed, or floats).
pub fn upload_data(gpu: &Gpu, plan: &Plan, data: NodeId, set: &Dataset) {
    match &set.values {
        Some(v) => plan.write_f32(gpu, data, v),
        None => plan.write_u32(gpu, data, &pack_bytes(&set.images)),
    }
}

/// Builds the training graph for `n_train` samples.
pub fn train_graph(cfg: &ModelConfig, n_train: usize, batch: usize, opt: Optimizer) -> TrainGraph {
    let mut g = Graph::new();
    let data = g.input_typed("train/data", &[n_train, cfg.input_dim], data_dtype(cfg));
    let indices = g.input_typed("train/indices", &[n_train], DType::U32);
    let x = g.gather("x", data, indices, batch);
    let built = models::build(&mut g, cfg, x, false);
    let loss = training_loss(&mut g, &built, 1.0 / (batch * loss_divisor(cfg)) as f32);
    let grads = backward(&mut g, loss);
    add_optimizer(&mut g, &grads, opt);
    let loss_sum = g.state("train/loss_sum", &[1]);
    g.accumulate("accumulate_loss", loss_sum, loss, 1.0);
    TrainGraph {
        graph: g,
        data,
        indices,
        loss,
        loss_sum,
    }
}

/// The scalar a model trains on: `scale`·Σ of the per-sample loss, plus the whole-batch
/// penalty when the model has one (KL sparsity).
pub fn training_loss(g: &mut Graph, built: &models::Built, scale: f32) -> NodeId {
    match built.batch_penalty {
        None => g.sum_all("loss", built.per_sample, scale),
        Some(p) => {
            let mean = g.sum_all("loss_mean", built.per_sample, scale);
            g.push("loss", Op::Add, vec![mean, p], vec![1], DType::F32)
        }
    }
}

/// Features the reported loss is averaged over: 1 for per-sample losses, else the input width.
pub fn loss_divisor(cfg: &ModelConfig) -> usize {
    if cfg.loss_per_sample() {
        1
    } else {
        cfg.input_dim
    }
}

/// The evaluation graph: gather → model (with the reconstruction) → summed per-sample loss.
pub struct EvalGraph {
    pub graph: Graph,
    pub data: NodeId,
    pub indices: NodeId,
    pub x: NodeId,
    /// What the encoder sees (x, or its corrupted copy for the denoising model).
    pub input: NodeId,
    pub recon: NodeId,
    pub latent: NodeId,
    pub per_sample: NodeId,
    pub loss_sum: NodeId,
    /// Accumulators of the loss's terms (when it has several) and of the model's extra
    /// figures, with how each is averaged (None: like the loss).
    pub term_sums: Vec<(String, NodeId, Option<models::Norm>)>,
    /// Whether a whole-batch term belongs in the reported loss (KL sparsity).
    pub batch_term_in_loss: bool,
    /// The reconstruction term per sample (\[batch\], as the model is trained: BCE or MSE
    /// summed over the sample's values): the anomaly score.
    pub recon_per_sample: NodeId,
    /// ‖x − x̂‖² per sample (\[batch\]): comparable across models and with PCA.
    pub sq_error: NodeId,
}

/// Builds the evaluation graph over `prefix`'s data (`n` samples).
pub fn eval_graph(cfg: &ModelConfig, prefix: &str, n: usize, batch: usize) -> EvalGraph {
    let mut g = Graph::new();
    let data = g.input_typed(
        &format!("{prefix}/data"),
        &[n, cfg.input_dim],
        data_dtype(cfg),
    );
    let n_idx = n.div_ceil(batch) * batch;
    let indices = g.input_typed(&format!("{prefix}/indices"), &[n_idx], DType::U32);
    let x = g.gather("x", data, indices, batch);
    let built = models::build(&mut g, cfg, x, true);
    let recon = built.recon.expect("eval graph builds the reconstruction");
    let sq_error = g.loss("squared_error", crate::ops::loss::LossKind::Mse, recon, x);
    let recon_per_sample = built
        .terms
        .iter()
        .find(|(n, _)| *n == "reconstruction")
        .map_or(built.per_sample, |(_, id)| *id);
    let loss_sum = g.state(&format!("{prefix}/loss_sum"), &[1]);
    g.accumulate("accumulate_loss", loss_sum, built.per_sample, 1.0);
    let mut term_sums = Vec::new();
    if built.terms.len() > 1 || built.batch_penalty.is_some() {
        for (name, node) in &built.terms {
            let acc = g.state(&format!("{prefix}/{name}_sum"), &[1]);
            g.accumulate(&format!("accumulate_{name}"), acc, *node, 1.0);
            term_sums.push((name.to_string(), acc, None));
        }
    }
    for (name, node, norm) in &built.extra {
        let acc = g.state(&format!("{prefix}/{name}_sum"), &[1]);
        g.accumulate(&format!("accumulate_{name}"), acc, *node, 1.0);
        term_sums.push((name.to_string(), acc, Some(*norm)));
    }
    EvalGraph {
        term_sums,
        batch_term_in_loss: built.batch_penalty.is_some(),
        graph: g,
        data,
        indices,
        x,
        input: built.input,
        recon,
        recon_per_sample,
        sq_error,
        latent: built.latent,
        per_sample: built.per_sample,
        loss_sum,
    }
}

/// What one evaluation batch produced, for its valid rows.
pub struct BatchOutputs {
    /// Codes, [rows, latent] flattened.
    pub latent: Vec<f32>,
    /// Reconstructions, [rows, input_dim] flattened.
    pub recon: Vec<f32>,
    /// Reconstruction term per sample (the model's loss, summed over the sample).
    pub recon_loss: Vec<f32>,
    /// ‖x − x̂‖² per sample.
    pub sq_error: Vec<f32>,
}

/// A compiled evaluation plan with its data uploaded.
pub struct Evaluator {
    pub eg: EvalGraph,
    pub plan: Plan,
    pub n: usize,
    pub batch: usize,
    readback: Readback,
}

impl Evaluator {
    /// Compiles the evaluation graph over `set` and uploads it.
    pub fn new(
        gpu: &Gpu,
        res: &mut Resources,
        cfg: &ModelConfig,
        set: &Dataset,
        prefix: &str,
        batch: usize,
    ) -> Result<Self> {
        let eg = eval_graph(cfg, prefix, set.n, batch);
        let plan = Plan::compile(
            &eg.graph,
            gpu,
            res,
            &[
                eg.x,
                eg.input,
                eg.recon,
                eg.latent,
                eg.per_sample,
                eg.recon_per_sample,
                eg.sq_error,
            ],
        )?;
        upload_data(gpu, &plan, eg.data, set);
        let idx: Vec<u32> = (0..eg.graph.nodes[eg.indices].len() as u32)
            .map(|i| i.min(set.n as u32 - 1))
            .collect();
        plan.write_u32(gpu, eg.indices, &idx);
        let readback = Readback::new(gpu, "eval loss read-back", 1);
        Ok(Evaluator {
            eg,
            plan,
            n: set.n,
            batch,
            readback,
        })
    }

    /// Mean loss over the whole set (per feature, or per sample for the VAE), and its terms.
    pub fn loss(&mut self, gpu: &Gpu, cfg: &ModelConfig) -> Result<(f64, Vec<(String, f64)>)> {
        let acc = self
            .plan
            .buffer(self.eg.loss_sum)
            .context("loss accumulator")?
            .clone();
        gpu.queue
            .write_buffer(&acc, 0, bytemuck::cast_slice(&[0f32]));
        for (_, t, _) in &self.eg.term_sums {
            let b = self.plan.buffer(*t).context("term accumulator")?;
            gpu.queue.write_buffer(b, 0, bytemuck::cast_slice(&[0f32]));
        }
        let batches = self.n.div_ceil(self.batch);
        for b in 0..batches {
            self.run_batch(gpu, b);
        }
        let norm = (self.n * loss_divisor(cfg)) as f64;
        let mut total = self.readback.read_blocking(gpu, &acc)?[0] as f64 / norm;
        let mut terms = Vec::new();
        for (name, t, how) in &self.eg.term_sums {
            let b = self.plan.buffer(*t).context("term accumulator")?.clone();
            let sum = self.readback.read_blocking(gpu, &b)?[0] as f64;
            let value = match how {
                None => sum / norm,
                Some(models::Norm::PerCodeUnit) => sum / (self.n * cfg.latent) as f64,
                Some(models::Norm::PerBatch) => {
                    let mean = sum / batches as f64;
                    if self.eg.batch_term_in_loss {
                        total += mean;
                    }
                    mean
                }
            };
            terms.push((name.clone(), value));
        }
        Ok((total, terms))
    }

    /// Runs the plan on batch `b` (the last one padded, its padding masked); returns the
    /// number of real rows. The step is fixed, so the VAE's ε is the same every evaluation.
    fn run_batch(&self, gpu: &Gpu, b: usize) -> u32 {
        let valid = (self.n - b * self.batch).min(self.batch) as u32;
        let step = StepUniform {
            step: 1,
            batch_offset: (b * self.batch) as u32,
            seed: 0,
            valid_rows: valid,
        };
        self.plan.run(gpu, step);
        valid
    }

    /// Runs batch `b` and returns its valid rows' codes, reconstructions, reconstruction
    /// losses and squared errors.
    pub fn batch_outputs(&self, gpu: &Gpu, b: usize) -> Result<BatchOutputs> {
        let valid = self.run_batch(gpu, b) as usize;
        let g = &self.eg.graph;
        let read = |id: NodeId| -> Result<Vec<f32>> {
            let mut v = self.plan.read(gpu, g, id)?;
            v.truncate(valid * g.row_len(id));
            Ok(v)
        };
        Ok(BatchOutputs {
            latent: read(self.eg.latent)?,
            recon: read(self.eg.recon)?,
            recon_loss: read(self.eg.recon_per_sample)?,
            sq_error: read(self.eg.sq_error)?,
        })
    }

    /// Runs batch `b` and returns (inputs, reconstructions) of its valid rows.
    pub fn reconstruct_batch(&self, gpu: &Gpu, b: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let [x, _, r] = self.batch_views(gpu, b)?;
        Ok((x, r))
    }

    /// Runs batch `b` and returns (clean inputs, what the encoder saw, reconstructions) of
    /// its valid rows; the middle one is the noisy copy for the denoising model.
    pub fn batch_views(&self, gpu: &Gpu, b: usize) -> Result<[Vec<f32>; 3]> {
        let valid = self.run_batch(gpu, b) as usize;
        let d = self.eg.graph.row_len(self.eg.x);
        let read = |id| -> Result<Vec<f32>> {
            let mut v = self.plan.read(gpu, &self.eg.graph, id)?;
            v.truncate(valid * d);
            Ok(v)
        };
        Ok([read(self.eg.x)?, read(self.eg.input)?, read(self.eg.recon)?])
    }
}

fn write_metrics(path: &Path, rows: &[EpochMetrics]) -> Result<()> {
    let mut s = String::from("epoch,train_loss,val_loss,seconds,samples_per_s");
    if let Some(first) = rows.first() {
        for (name, _) in &first.val_terms {
            s.push_str(&format!(",val_{name}"));
        }
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{:.6},{:.6},{:.3},{:.1}",
            r.epoch, r.train_loss, r.val_loss, r.seconds, r.samples_per_s
        ));
        for (_, v) in &r.val_terms {
            s.push_str(&format!(",{v:.6}"));
        }
        s.push('\n');
    }
    crate::fsio::write_atomic(path, s.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn loss_plot(path: &Path, rows: &[EpochMetrics], cfg: &ModelConfig) -> Result<()> {
    use crate::viz::{line_plot, save_png, Series};
    let train = Series {
        name: "train",
        points: rows
            .iter()
            .map(|r| (r.epoch as f64, r.train_loss))
            .collect(),
    };
    let val = Series {
        name: "validation",
        points: rows.iter().map(|r| (r.epoch as f64, r.val_loss)).collect(),
    };
    let title = if cfg.loss_per_sample() {
        format!("{} + KL per sample", cfg.loss.name())
    } else {
        format!("{} per pixel", cfg.loss.name())
    };
    let img = line_plot(&title, "epoch", "loss", &[train, val], false, 800, 500);
    save_png(&img, path)
}

/// Writes reconstructions.png: validation originals above their reconstructions.
pub fn reconstruction_picture(
    gpu: &Gpu,
    ev: &Evaluator,
    cfg: &ModelConfig,
    path: &Path,
) -> Result<()> {
    let (x, r) = ev.reconstruct_batch(gpu, 0)?;
    let d = cfg.input_dim;
    let count = (x.len() / d).min(10);
    let [c, h, w] = cfg.image;
    let originals: Vec<&[f32]> = (0..count).map(|i| &x[i * d..(i + 1) * d]).collect();
    let recons: Vec<&[f32]> = (0..count).map(|i| &r[i * d..(i + 1) * d]).collect();
    let top = crate::viz::image_grid_chw(&originals, c, h, w, count, 4);
    let bottom = crate::viz::image_grid_chw(&recons, c, h, w, count, 4);
    let img = crate::viz::labelled_rows(&[("original", top), ("reconstruction", bottom)]);
    crate::viz::save_png(&img, path)
}

/// Writes the named `tensors` into the buffers of the nodes of `g` that `select` picks,
/// checking that each exists with the node's shape.
pub fn load_tensors(
    gpu: &Gpu,
    g: &Graph,
    res: &Resources,
    tensors: &std::collections::HashMap<String, Tensor>,
    select: impl Fn(&crate::graph::Node) -> bool,
) -> Result<()> {
    for n in g.nodes.iter().filter(|n| select(n)) {
        let t = tensors.get(&n.name).with_context(|| {
            format!(
                "the checkpoint has no tensor '{}': it was not written by this model and optimizer",
                n.name
            )
        })?;
        if t.shape != n.shape {
            bail!(
                "checkpoint tensor '{}' has shape {:?}, the model needs {:?}",
                n.name,
                t.shape,
                n.shape
            );
        }
        let buf = res.get(&n.name).context("persistent tensor")?;
        gpu.queue
            .write_buffer(buf, 0, bytemuck::cast_slice(&t.data));
    }
    Ok(())
}

/// Whether a node of the training graph goes into checkpoints: parameters and optimizer
/// state (not the data, the indices or the loss accumulator).
fn checkpointed(n: &crate::graph::Node) -> bool {
    match n.op {
        Op::Param(_) => true,
        Op::State => n.name != "train/loss_sum",
        _ => false,
    }
}

/// A compiled training step with its data on the GPU: what one epoch needs.
pub struct Trainer {
    pub tg: TrainGraph,
    pub plan: Plan,
    pub res: Resources,
    pub batch: usize,
    pub steps_per_epoch: usize,
    /// Optimizer steps taken so far.
    pub global_step: u64,
    pub seed: u64,
    /// Host time spent encoding steps' commands, and inside `queue.submit`, so far (a CPU
    /// driver such as lavapipe may execute the work inside submit).
    pub encode_time: std::time::Duration,
    pub submit_time: std::time::Duration,
    loss_sum: wgpu::Buffer,
    readback: Readback,
}

impl Trainer {
    /// Builds and compiles the training graph, initialises the parameters from `seed` and
    /// uploads the training set. Everything the steps need is created here.
    pub fn new(
        gpu: &Gpu,
        cfg: &ModelConfig,
        train: &Dataset,
        batch: usize,
        opt: Optimizer,
        seed: u64,
    ) -> Result<Trainer> {
        let tg = train_graph(cfg, train.n, batch, opt);
        let mut res = Resources::new();
        let plan = Plan::compile(&tg.graph, gpu, &mut res, &[tg.loss])?;
        init_params(gpu, &tg.graph, &res, seed);
        upload_data(gpu, &plan, tg.data, train);
        let loss_sum = plan
            .buffer(tg.loss_sum)
            .context("loss accumulator")?
            .clone();
        let readback = Readback::new(gpu, "train loss read-back", 1);
        Ok(Trainer {
            tg,
            plan,
            res,
            batch,
            steps_per_epoch: train.n / batch,
            global_step: 0,
            seed,
            encode_time: std::time::Duration::ZERO,
            submit_time: std::time::Duration::ZERO,
            loss_sum,
            readback,
        })
    }

    /// Parameters and optimizer state, by name: what a checkpoint needs to resume exactly.
    pub fn state_tensors(&self, gpu: &Gpu) -> Result<std::collections::HashMap<String, Tensor>> {
        let mut out = std::collections::HashMap::new();
        for n in &self.tg.graph.nodes {
            if checkpointed(n) {
                let buf = self.res.get(&n.name).context("persistent tensor")?;
                out.insert(
                    n.name.clone(),
                    Tensor {
                        shape: n.shape.clone(),
                        data: gpu.read_f32(buf, 0, n.len())?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Loads parameters and optimizer state saved by [`Trainer::state_tensors`], and the
    /// step counter, so training continues exactly where it stopped.
    pub fn restore(
        &mut self,
        gpu: &Gpu,
        tensors: &std::collections::HashMap<String, Tensor>,
        step: u64,
    ) -> Result<()> {
        load_tensors(gpu, &self.tg.graph, &self.res, tensors, checkpointed)?;
        self.global_step = step;
        Ok(())
    }

    /// One pass over the training set in the order `order` (a permutation of the samples;
    /// the remainder past the last full batch waits for the next epoch's shuffle). Returns
    /// the mean training loss per feature. Per step: one uniform write, one submission.
    pub fn epoch(&mut self, gpu: &Gpu, order: &[u32], bar: &indicatif::ProgressBar) -> Result<f64> {
        match self.epoch_from(gpu, order, bar, 0, 0.0)? {
            EpochEnd::Done(loss) => Ok(loss),
            EpochEnd::Interrupted { .. } => bail!("interrupted"),
        }
    }

    /// [`Trainer::epoch`] from step `start` on, with the epoch's loss sum so far (a resumed
    /// epoch), stopping early when Ctrl-C asks ([`crate::interrupt`]).
    pub fn epoch_from(
        &mut self,
        gpu: &Gpu,
        order: &[u32],
        bar: &indicatif::ProgressBar,
        start: usize,
        loss_sum: f32,
    ) -> Result<EpochEnd> {
        self.plan.write_u32(gpu, self.tg.indices, order);
        gpu.queue
            .write_buffer(&self.loss_sum, 0, bytemuck::cast_slice(&[loss_sum]));
        let steps = self.steps_per_epoch;
        let mut in_flight: VecDeque<wgpu::SubmissionIndex> = VecDeque::new();
        let mut requested_at = [0usize; 2];
        let report_every = (steps / 50).max(1);
        bar.set_position(start as u64);
        for s in start..steps {
            if crate::interrupt::requested() {
                let sum = self.readback.read_blocking(gpu, &self.loss_sum)?[0];
                return Ok(EpochEnd::Interrupted {
                    steps_done: s,
                    loss_sum: sum,
                });
            }
            self.global_step += 1;
            let step = StepUniform {
                step: self.global_step as u32,
                batch_offset: (s * self.batch) as u32,
                seed: self.seed as u32 ^ self.global_step as u32,
                valid_rows: self.batch as u32,
            };
            let host = Instant::now();
            let mut enc = gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("train step"),
                });
            self.plan.encode(gpu, &mut enc, step);
            let slot = if s % report_every == 0 {
                self.readback.request(&mut enc, &self.loss_sum)
            } else {
                None
            };
            let commands = enc.finish();
            self.encode_time += host.elapsed();
            let submit = Instant::now();
            in_flight.push_back(gpu.queue.submit([commands]));
            self.submit_time += submit.elapsed();
            if let Some(slot) = slot {
                requested_at[slot] = s + 1;
                self.readback.map(slot);
            }
            // Keep the queue bounded: wait for a step submitted a while ago, never the newest.
            if in_flight.len() > 8 {
                let old = in_flight.pop_front().expect("non-empty");
                gpu.device
                    .poll(wgpu::PollType::Wait {
                        submission_index: Some(old),
                        timeout: None,
                    })
                    .map_err(|e| {
                        anyhow::anyhow!("device error: {e}. Hint: try a smaller --batch-size")
                    })?;
            }
            if let Some(v) = self.readback.poll(gpu) {
                let done = requested_at.iter().copied().max().unwrap_or(1).max(1);
                if !v[0].is_finite() {
                    bail!(
                        "the reconstruction loss became non-finite by step {done} of this epoch (optimizer step {}); \
                         training stopped and the last checkpoint is kept. Hint: try a smaller --lr",
                        self.global_step
                    );
                }
                bar.set_message(format!("loss {:.4}", v[0] as f64 / done as f64));
            }
            bar.set_position(s as u64 + 1);
        }
        let sum = self.readback.read_blocking(gpu, &self.loss_sum)?[0] as f64;
        Ok(EpochEnd::Done(sum / steps as f64))
    }
}

/// How [`Trainer::epoch_from`] ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EpochEnd {
    /// Every step ran: the mean training loss per feature.
    Done(f64),
    /// Ctrl-C: `steps_done` steps of the epoch ran, their loss summing to `loss_sum`.
    Interrupted { steps_done: usize, loss_sum: f32 },
}

/// Trains `opts.model` on `split`, writing the run folder. Returns the per-epoch metrics.
pub fn train(
    gpu: &Gpu,
    split: &Split,
    opts: &TrainOptions,
    config_json: &serde_json::Value,
) -> Result<Vec<EpochMetrics>> {
    train_from(gpu, split, opts, config_json, None)
}

/// A run to continue: its checkpoint and the metrics rows written so far.
pub struct Resume {
    pub checkpoint: Checkpoint,
    pub metrics: Vec<EpochMetrics>,
}

/// Reads a run folder's metrics.csv.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = text
        .lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().trim_start_matches("val_").to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let v: Vec<f64> = line
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} line {}: not a row of numbers", path.display(), i + 1))?;
        if v.len() != header.len() || v.len() < 5 {
            bail!(
                "{} line {}: expected {} columns, found {}",
                path.display(),
                i + 1,
                header.len(),
                v.len()
            );
        }
        let val_terms = header[5..]
            .iter()
            .cloned()
            .zip(v[5..].iter().copied())
            .collect();
        rows.push(EpochMetrics {
            epoch: v[0] as usize,
            train_loss: v[1],
            val_loss: v[2],
            seconds: v[3],
            samples_per_s: v[4],
            val_terms,
        });
    }
    Ok(rows)
}

/// [`train`], optionally continuing a run: parameters, optimizer state, step counter and the
/// shuffle sequence pick up where the checkpoint left them, so the losses are those of an
/// uninterrupted run with the same seed.
pub fn train_from(
    gpu: &Gpu,
    split: &Split,
    opts: &TrainOptions,
    config_json: &serde_json::Value,
    resume: Option<Resume>,
) -> Result<Vec<EpochMetrics>> {
    validate(opts, split)?;
    let cfg = &opts.model;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    crate::fsio::write_atomic(
        &opts.out.join("config.json"),
        serde_json::to_string_pretty(config_json)?.as_bytes(),
    )?;

    let t0 = Instant::now();
    let batch = opts.batch_size;
    let mut trainer = Trainer::new(gpu, cfg, &split.train, batch, opts.optimizer, opts.seed)?;
    let mut val = Evaluator::new(gpu, &mut trainer.res, cfg, &split.val, "val", batch)?;
    // Steps of the first epoch already taken (a run interrupted mid-epoch) and their loss sum.
    let mut partial = (0usize, 0f32);
    let (first_epoch, mut metrics) = match resume {
        Some(r) => {
            if r.checkpoint.config != *cfg {
                bail!(
                    "the checkpoint holds a {:?} model but this run asks for {:?}",
                    r.checkpoint.config,
                    cfg
                );
            }
            trainer.restore(gpu, &r.checkpoint.tensors, r.checkpoint.step)?;
            let mut kept = r.metrics;
            kept.truncate(r.checkpoint.epoch);
            partial = (r.checkpoint.epoch_step, r.checkpoint.epoch_loss_sum);
            (r.checkpoint.epoch + 1, kept)
        }
        None => (1, Vec::new()),
    };
    if first_epoch > opts.epochs {
        bail!(
            "the run already has {} epochs; ask for more with --epochs",
            first_epoch - 1
        );
    }
    gpu.wait()?;
    eprintln!(
        "plan: {} dispatches per step, peak GPU memory {:.1} MiB ({:.1} MiB without buffer reuse), ready in {:.2} s",
        trainer.plan.dispatches.len(),
        trainer.plan.peak_bytes as f64 / 1048576.0,
        trainer.plan.peak_without_reuse as f64 / 1048576.0,
        t0.elapsed().as_secs_f64()
    );

    let steps = trainer.steps_per_epoch;
    let mut rng = Rng::new(opts.seed.wrapping_add(0x5eed));
    let mut order: Vec<u32> = (0..split.train.n as u32).collect();
    // Replay the shuffles of the epochs already done, so epoch e sees the same order as in
    // an uninterrupted run.
    for _ in 1..first_epoch {
        rng.shuffle(&mut order);
    }
    let mut stdout = std::io::stdout();
    for epoch in first_epoch..=opts.epochs {
        let start = Instant::now();
        rng.shuffle(&mut order);
        let bar = progress_bar(opts.progress, steps as u64, epoch, opts.epochs);
        let (from, sum) = std::mem::take(&mut partial);
        let train_loss = match trainer.epoch_from(gpu, &order, &bar, from, sum)? {
            EpochEnd::Done(loss) => loss,
            EpochEnd::Interrupted {
                steps_done,
                loss_sum,
            } => {
                bar.finish_and_clear();
                let ck = Checkpoint {
                    config: cfg.clone(),
                    tensors: trainer.state_tensors(gpu)?,
                    epoch: epoch - 1,
                    step: trainer.global_step,
                    epoch_step: steps_done,
                    epoch_loss_sum: loss_sum,
                };
                checkpoint::save(&opts.out.join("model.safetensors"), &ck)?;
                return Err(crate::interrupt::Interrupted {
                    message: format!(
                        "interrupted after step {steps_done} of {steps} in epoch {epoch}: wrote {} (continue exactly with --resume {} --epochs {})",
                        opts.out.join("model.safetensors").display(),
                        opts.out.display(),
                        opts.epochs
                    ),
                }
                .into());
            }
        };
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let (val_loss, mut val_terms) = val.loss(gpu, cfg)?;
        add_psnr(&mut val_terms);
        if !train_loss.is_finite() || !val_loss.is_finite() {
            let term = val_terms
                .iter()
                .find(|(_, v)| !v.is_finite())
                .map(|(n, _)| n.as_str())
                .unwrap_or("reconstruction");
            bail!(
                "the {term} loss became non-finite in epoch {epoch} (by optimizer step {}; train {train_loss}, \
                 validation {val_loss}); training stopped and the last checkpoint is kept. Hint: try a smaller --lr",
                trainer.global_step
            );
        }
        let row = EpochMetrics {
            epoch,
            train_loss,
            val_loss,
            seconds,
            // A resumed epoch timed only the steps it ran.
            samples_per_s: ((steps - from) * batch) as f64 / seconds,
            val_terms,
        };
        let terms: String = row
            .val_terms
            .iter()
            .map(|(n, v)| format!(" (val_{n} {v:.4})"))
            .collect();
        let _ = writeln!(
            stdout,
            "epoch {epoch}/{}  train_loss {:.4}  val_loss {:.4}{terms}  {:.2} s  {:.0} samples/s",
            opts.epochs, row.train_loss, row.val_loss, row.seconds, row.samples_per_s
        );
        metrics.push(row);
        write_metrics(&opts.out.join("metrics.csv"), &metrics)?;
        let ck = Checkpoint {
            config: cfg.clone(),
            tensors: trainer.state_tensors(gpu)?,
            epoch,
            step: trainer.global_step,
            epoch_step: 0,
            epoch_loss_sum: 0.0,
        };
        checkpoint::save(&opts.out.join("model.safetensors"), &ck)?;
        loss_plot(&opts.out.join("loss.png"), &metrics, cfg)?;
    }
    reconstruction_picture(gpu, &val, cfg, &opts.out.join("reconstructions.png"))?;
    if cfg.kind == models::ModelKind::Denoising {
        denoising_picture(gpu, &val, cfg, &opts.out.join("denoising.png"))?;
    }
    Ok(metrics)
}

/// Peak signal-to-noise ratio in dB of a mean squared error on \[0, 1\] pixels:
/// 10·log₁₀(1 / MSE).
pub fn psnr(mse: f64) -> f64 {
    10.0 * (1.0 / mse).log10()
}

/// Adds psnr_noisy and psnr_denoised after the denoising model's squared-error terms.
fn add_psnr(terms: &mut Vec<(String, f64)>) {
    let get = |name: &str| terms.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    if let (Some(noisy), Some(out)) = (get("mse_noisy"), get("mse_denoised")) {
        terms.push(("psnr_noisy".into(), psnr(noisy)));
        terms.push(("psnr_denoised".into(), psnr(out)));
    }
}

/// Writes denoising.png: validation images with their noise, the model's output, and the
/// clean originals, one row each.
pub fn denoising_picture(gpu: &Gpu, ev: &Evaluator, cfg: &ModelConfig, path: &Path) -> Result<()> {
    let [clean, noisy, out] = ev.batch_views(gpu, 0)?;
    let d = cfg.input_dim;
    let count = (clean.len() / d).min(10);
    let [c, h, w] = cfg.image;
    let row = |v: &[f32]| {
        let imgs: Vec<&[f32]> = (0..count).map(|i| &v[i * d..(i + 1) * d]).collect();
        crate::viz::image_grid_chw(&imgs, c, h, w, count, 4)
    };
    let img = crate::viz::labelled_rows(&[
        ("noisy", row(&noisy)),
        ("denoised", row(&out)),
        ("clean", row(&clean)),
    ]);
    crate::viz::save_png(&img, path)
}

pub fn progress_bar(
    enabled: bool,
    len: u64,
    epoch: usize,
    epochs: usize,
) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::default_bar()
        .template("epoch {prefix} [{bar:30}] {pos}/{len} steps  {msg}  {per_sec}  ETA {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
