//! Subcommands and flags.

use crate::data::DatasetSpec;
use crate::gpu::BackendChoice;
use crate::ops::loss::LossKind;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Autoencoders trained with hand-written WGSL compute shaders on wgpu.
#[derive(Parser, Debug)]
#[command(name = "shaderprop", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Device selection shared by every command that runs kernels.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// wgpu backend: auto, vulkan, metal, dx12 or gl.
    #[arg(long, default_value = "auto")]
    pub backend: BackendChoice,
    /// Adapter index, as `shaderprop devices --backend B` lists them (default: the best).
    #[arg(long)]
    pub adapter: Option<usize>,
    /// Do not autotune: matmuls use the fixed rule (vec4 when M, N, K are multiples of 4,
    /// else blocked) instead of the variant timed fastest on this device.
    #[arg(long)]
    pub no_tune: bool,
    /// Pin a kernel variant, overriding the tuner:
    /// matmul=naive|blocked|vec4|texture|subgroup|subgroup32|subgroup_pipe|subgroup_strips, conv=naive|direct|texture|subgroup,
    /// reads=storage|texture (losses, sums, activation gradients, optimizer updates, pooling
    /// and upsampling; repeat the flag for several).
    #[arg(long, value_name = "KERNEL=VARIANT")]
    pub variant: Vec<String>,
}

impl DeviceArgs {
    /// Opens the adapter these flags name, with tuning and pinned variants set up: tuning
    /// on (cache at [`crate::tune::default_path`]) unless `--no-tune`.
    pub fn open(&self) -> anyhow::Result<crate::gpu::Gpu> {
        use crate::ops::{conv, matmul, Reads};
        let mut mm = matmul::Variant::Auto;
        let mut cv = conv::Variant::Auto;
        let mut reads = Reads::Auto;
        for v in &self.variant {
            let bad = || {
                anyhow::anyhow!(
                    "--variant {v}: expected matmul=naive|blocked|vec4|texture|subgroup|subgroup32|subgroup_pipe|subgroup_strips, \
                     conv=naive|direct|texture|subgroup or reads=storage|texture"
                )
            };
            let (kernel, name) = v.split_once('=').ok_or_else(bad)?;
            match kernel {
                "matmul" => mm = matmul::Variant::from_name(name).ok_or_else(bad)?,
                "conv" => cv = name.parse().map_err(|_| bad())?,
                "reads" => reads = Reads::from_name(name).ok_or_else(bad)?,
                _ => return Err(bad()),
            }
        }
        let gpu = crate::gpu::Gpu::new(self.backend, self.adapter)?;
        if !self.no_tune {
            gpu.enable_tuning(crate::tune::default_path());
        }
        gpu.force_variants(mm, cv, reads);
        Ok(gpu)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every adapter found, with the limits shaderprop depends on.
    Devices {
        /// Only this backend.
        #[arg(long, default_value = "auto")]
        backend: BackendChoice,
    },
    /// Train an autoencoder and write a run folder.
    Train(TrainArgs),
    /// Time the kernels and report GFLOP/s and GB/s against the device's measured ceilings.
    Bench(BenchArgs),
    /// Print a model's compiled training step: forward graph, backward graph, dispatches,
    /// memory plan.
    Explain(ExplainArgs),
    /// Compare a model's GPU gradients with finite differences of its GPU forward pass.
    Gradcheck(GradcheckArgs),
    /// Pictures from a trained VAE: samples, interpolations, and the latent plane when 2-D.
    Generate(GenerateArgs),
    /// Latent codes of a data set: latents.csv, latents.npy (float32 [n, latent]), latents.png.
    Encode(ApplyArgs),
    /// Reconstructions of a data set or of your own image files: a grid, one PNG per input,
    /// and each one's loss.
    Reconstruct(ReconstructArgs),
    /// Reconstruction error as an anomaly score: per-sample CSV, histogram with the
    /// threshold, ROC AUC against labels (autoencoder and PCA).
    Anomaly(AnomalyArgs),
    /// Test loss of a checkpoint (every term, per sample and per value) beside PCA's.
    Eval(EvalArgs),
    /// PCA on the GPU: the reconstruction error of the best linear code of K values.
    Pca(PcaArgs),
}

/// Which split of a data set a command reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    Train,
    Val,
}

/// What every command that applies a trained model takes.
#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    /// A run folder, or its model.safetensors.
    pub run: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Data set (default: the run's): digits, mnist, fashion-mnist, images:DIR or csv:FILE.
    #[arg(long)]
    pub dataset: Option<DatasetSpec>,
    /// Folder with the IDX files (default: the run's).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which split to read.
    #[arg(long, value_enum, default_value = "val")]
    pub split: SplitChoice,
    /// Only the first N samples of it.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where the files go (default: the run folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ReconstructArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// PNG/JPEG files or folders of them to reconstruct instead of the data set (resized to
    /// the model's image size).
    #[arg(long = "input", num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Samples of the data set to reconstruct (without --input).
    #[arg(long, default_value_t = 32)]
    pub count: usize,
}

#[derive(Args, Debug, Clone)]
pub struct AnomalyArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Flag samples scoring above this value.
    #[arg(long, conflicts_with = "percentile")]
    pub threshold: Option<f64>,
    /// Flag samples above this percentile of the scored set's scores (default 95).
    #[arg(long)]
    pub percentile: Option<f64>,
    /// Classes that are normal (default: the classes the run trained on); the rest are the
    /// anomalies ROC AUC is measured for.
    #[arg(long, value_delimiter = ',')]
    pub normal_classes: Vec<u8>,
    /// Skip the PCA baseline.
    #[arg(long)]
    pub no_pca: bool,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Skip the PCA baseline.
    #[arg(long)]
    pub no_pca: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PcaArgs {
    /// Take data set, classes and code width from this run (optional).
    pub run: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Components (default: the run's code width, else 32).
    #[arg(long)]
    pub components: Option<usize>,
    /// Data set (default: the run's, else digits).
    #[arg(long)]
    pub dataset: Option<DatasetSpec>,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Fit on these classes only.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<u8>,
    /// Resize images to N×N (images:DIR).
    #[arg(long)]
    pub image_size: Option<usize>,
}

#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// A VAE run folder, or its model.safetensors.
    pub run: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Samples in samples.png.
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Where the pictures go (default: the run folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Data set for the interpolation's end points (default: the run's).
    #[arg(long)]
    pub dataset: Option<DatasetSpec>,
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct GradcheckArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Validation samples in the check's batch.
    #[arg(long, default_value_t = 8)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Break a kernel on purpose (its outputs ×1.05) to watch the check catch it, e.g. column_sum.
    #[arg(long)]
    pub break_kernel: Option<String>,
}

/// What fixes a model's graph (shared by train and explain).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: vanilla (dense), conv, denoising or vae.
    #[arg(long, default_value = "vanilla")]
    pub model: crate::models::ModelKind,
    /// Network of the denoising model: dense or conv (default conv; conv models are conv).
    #[arg(long)]
    pub arch: Option<crate::models::Arch>,
    /// The conv encoder's three widths (default 16,8,8; the decoder mirrors them).
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
    /// How the conv decoder upsamples: upsample (nearest ×2) or transpose (learned, stride 2).
    #[arg(long, default_value = "upsample")]
    pub decoder: crate::models::Decoder,
    /// The denoising model's corruption: gaussian:STD (clipped to [0, 1]) or mask:P.
    #[arg(long)]
    pub noise: Option<crate::ops::random::Noise>,
    /// The sparse model's penalty: l1:LAMBDA (on a ReLU code) or kl:RHO,BETA (on a sigmoid
    /// code); default l1:1e-5.
    #[arg(long)]
    pub sparsity: Option<crate::ops::sparsity::Sparsity>,
    /// Width of the code (default: 32 for vanilla, 20 for vae; conv: set by --channels).
    #[arg(long)]
    pub latent: Option<usize>,
    /// Hidden layer widths between input and code, e.g. 128,64 (default: none for vanilla,
    /// 400 for vae).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Weight β of the VAE's KL term.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f32,
    /// Layer initialisation: glorot (Keras) or torch (PyTorch's nn.Linear); default: each
    /// model's reference recipe (vanilla: glorot, vae: torch).
    #[arg(long)]
    pub init: Option<crate::nn::InitScheme>,
    /// bce (on logits, sigmoid fused) or mse (on the sigmoid output).
    #[arg(long, default_value = "bce")]
    pub loss: LossKind,
    /// Batch size (default: 256 for vanilla, 128 for vae).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub lr: f32,
    /// adam or sgd (momentum 0.9).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
}

#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Also write the graph for Graphviz (`dot -Tsvg FILE`).
    #[arg(long)]
    pub dot: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Data set: digits (embedded, the default), mnist, fashion-mnist, images:DIR (PNG/JPEG;
    /// class subfolders give labels) or csv:FILE (numeric rows; dense models).
    #[arg(long, default_value = "digits")]
    pub dataset: DatasetSpec,
    /// Train (and validate) on these classes only, e.g. 0 or 1,7: the normal classes of an
    /// anomaly-detection experiment.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<u8>,
    /// Resize images to N×N (images:DIR; default: their own size, which must be shared).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Leave out image files that cannot be read or decoded, with a warning, instead of
    /// stopping (images:DIR).
    #[arg(long)]
    pub skip_bad_files: bool,
    /// Folder with the IDX files (else $SHADERPROP_DATA, else /usr/share/datasets/NAME).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Epochs (default: 20 on the embedded digits, 5 otherwise).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The run's folder (default runs/MODEL-TIMESTAMP).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Continue the run in DIR from its checkpoint (weights, optimizer state, step, shuffle
    /// order) up to --epochs in total; its config.json gives every other flag.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Train on the first N training samples only (quick experiments; validation is whole).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Before training, check the gradients against finite differences (see `gradcheck`).
    #[arg(long)]
    pub check_gradients: bool,
}

/// What `bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTarget {
    /// The kernel table (the default).
    Kernels,
    /// Whole training epochs of one model: time to first step, seconds per epoch,
    /// samples/s, plan peak memory, host cost per step.
    Train,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// kernels (default) or train.
    #[arg(value_enum)]
    pub target: Option<BenchTarget>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// `bench train`: the model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// `bench train`: the data set (digits is embedded; fashion-mnist is the reference).
    #[arg(long, default_value = "digits")]
    pub dataset: DatasetSpec,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// `bench train`: epochs to time.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Also write the table as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Only the rows whose kernel, shape label or variant contains this, or one of its
    /// comma-separated alternatives (e.g. `conv2d`, `AE `, `direct,texture`, `step-conv`).
    #[arg(long)]
    pub filter: Option<String>,
    /// Small sizes and few repetitions (a smoke test).
    #[arg(long)]
    pub quick: bool,
}

impl ModelArgs {
    /// The optimizer these flags name.
    pub fn optimizer(&self) -> Result<crate::ops::optimizer::Optimizer, String> {
        match self.optimizer.as_str() {
            "adam" => Ok(crate::ops::optimizer::Optimizer::adam(self.lr)),
            "sgd" => Ok(crate::ops::optimizer::Optimizer::sgd(self.lr)),
            o => Err(format!("unknown optimizer '{o}': choose adam or sgd")),
        }
    }

    /// The batch size, or the model's recipe default.
    pub fn batch(&self) -> usize {
        use crate::models::ModelKind;
        self.batch_size.unwrap_or(match self.model {
            ModelKind::Vanilla | ModelKind::Sparse => 256,
            ModelKind::Conv | ModelKind::Denoising | ModelKind::Vae => 128,
        })
    }

    /// The model config for samples of `[channels, rows, cols]`, with each model's recipe
    /// defaults (vanilla: 784-32-784; conv: the Keras conv stack; denoising: conv with
    /// gaussian:0.5; vae: 784-400-20, as pytorch/examples).
    pub fn config(&self, image: [usize; 3]) -> crate::models::ModelConfig {
        use crate::models::{Arch, ModelKind};
        let (latent, hidden) = match self.model {
            ModelKind::Vae => (20, vec![400]),
            _ => (32, vec![]),
        };
        let arch = match self.model {
            ModelKind::Conv => Arch::Conv,
            ModelKind::Denoising => self.arch.unwrap_or(Arch::Conv),
            _ => self.arch.unwrap_or(Arch::Dense),
        };
        let mut cfg = crate::models::ModelConfig {
            kind: self.model,
            input_dim: image.iter().product(),
            image,
            hidden: if self.hidden.is_empty() {
                hidden
            } else {
                self.hidden.clone()
            },
            latent: self.latent.unwrap_or(latent),
            loss: self.loss,
            beta: self.beta,
            init: self.init.unwrap_or(match self.model {
                ModelKind::Vae => crate::nn::InitScheme::Torch,
                _ => crate::nn::InitScheme::Glorot,
            }),
            arch,
            channels: self.channels.clone(),
            decoder: self.decoder,
            noise: match self.model {
                ModelKind::Denoising => Some(
                    self.noise
                        .unwrap_or(crate::ops::random::Noise::Gaussian(0.5)),
                ),
                _ => self.noise,
            },
            sparsity: match self.model {
                ModelKind::Sparse => Some(
                    self.sparsity
                        .unwrap_or(crate::ops::sparsity::Sparsity::L1(1e-5)),
                ),
                _ => self.sparsity,
            },
            linear_output: false,
            data_stats: None,
        };
        if cfg.is_conv() {
            // The widths the model is built with, written out: a run's config.json and
            // checkpoint then describe the network without relying on the recipe's default.
            cfg.channels = crate::models::conv::channels(&cfg);
            if self.latent.is_none() && self.model != ModelKind::Vae {
                cfg.latent = crate::models::conv::code_shape(&cfg).iter().product();
            }
        }
        cfg
    }
}
