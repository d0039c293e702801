//! What people do with a trained autoencoder: `encode` (latent codes for NumPy/pandas and a
//! picture), `reconstruct` (images in, reconstructions out), `anomaly` (reconstruction error
//! as a score, with ROC AUC against labels), `eval` (test loss) and `pca` (the linear
//! baseline of the same code width, beside `eval` and `anomaly`).
//!
//! Every command opens a run folder (or a `model.safetensors`), loads the data the run was
//! trained on (its `config.json`: set, folder, `--classes`, `--image-size`; CSV statistics
//! from the checkpoint) unless told otherwise, and runs the model's own evaluation graph:
//! every number comes from the same kernels as training.
//!
//! The denoising model is applied to its input as given (no corruption is added): these
//! commands use it as the autoencoder it is. The VAE's code is its mean μ; its
//! reconstruction decodes one fixed sample z = μ + σ·ε, as in validation.

use crate::checkpoint::Checkpoint;
use crate::data::own::LoadOptions;
use crate::data::{Dataset, DatasetSpec, Split};
use crate::gpu::Gpu;
use crate::graph::plan::Resources;
use crate::graph::Op;
use crate::models::{Arch, ModelConfig, ModelKind};
use crate::pca::Pca;
use crate::train::{BatchOutputs, Evaluator};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A trained model and the data it was trained on.
pub struct Run {
    /// The run folder (where outputs go by default).
    pub dir: PathBuf,
    pub ck: Checkpoint,
    /// The data set the run names, or the one given instead.
    pub dataset: DatasetSpec,
    pub data: Option<PathBuf>,
    /// The classes the run trained on (`train --classes`), if any.
    pub classes: Option<Vec<u8>>,
    /// `train --limit`.
    pub limit: Option<usize>,
    /// `train --skip-bad-files`.
    pub skip_bad_files: bool,
}

/// Where to find data when a command overrides the run's.
#[derive(Clone, Debug, Default)]
pub struct DataChoice {
    pub dataset: Option<DatasetSpec>,
    pub data: Option<PathBuf>,
}

impl Run {
    /// Opens `path` (a run folder or its `model.safetensors`).
    pub fn open(path: &Path, choice: &DataChoice) -> Result<Run> {
        let (dir, ck_path) = if path.is_dir() {
            (path.to_path_buf(), path.join("model.safetensors"))
        } else {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (dir, path.to_path_buf())
        };
        let ck = crate::checkpoint::load(&ck_path)?;
        let cfg_path = dir.join("config.json");
        let c: serde_json::Value = match std::fs::read_to_string(&cfg_path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?,
            Err(_) => serde_json::Value::Null,
        };
        let dataset = match &choice.dataset {
            Some(d) => d.clone(),
            None => match c.get("dataset").and_then(|v| v.as_str()) {
                Some(s) => s.parse().map_err(anyhow::Error::msg)?,
                None => bail!(
                    "{} has no config.json naming its data set: give --dataset",
                    dir.display()
                ),
            },
        };
        let data = choice
            .data
            .clone()
            .or_else(|| c.get("data").and_then(|v| v.as_str()).map(PathBuf::from));
        let classes = c.get("classes").and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u8)
                .collect()
        });
        let limit = c.get("limit").and_then(|v| v.as_u64()).map(|v| v as usize);
        let skip_bad_files = c
            .get("skip_bad_files")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Ok(Run {
            dir,
            ck,
            dataset,
            data,
            classes,
            limit,
            skip_bad_files,
        })
    }

    pub fn cfg(&self) -> &ModelConfig {
        &self.ck.config
    }

    /// Loads the data, shaped as the model needs it (images resized to the model's size,
    /// channels matched, CSV standardised with the training statistics).
    pub fn load_data(&self) -> Result<Split> {
        let cfg = self.cfg();
        let opts = LoadOptions {
            skip_bad: self.skip_bad_files,
            ..load_options(cfg)
        };
        let split = crate::data::load_with(&self.dataset, self.data.as_deref(), &opts)?;
        check_fits(cfg, &split.val)?;
        Ok(split)
    }

    /// The training samples the model saw (its classes, its limit).
    pub fn training_set(&self, split: &Split) -> Result<Dataset> {
        let mut t = match &self.classes {
            Some(c) => split.train.filter_classes(c)?,
            None => split.train.clone(),
        };
        if let Some(n) = self.limit {
            t = t.head(n);
        }
        Ok(t)
    }
}

/// How to load data for a model of `cfg`.
pub fn load_options(cfg: &ModelConfig) -> LoadOptions {
    LoadOptions {
        image_size: Some((cfg.image[1], cfg.image[2])),
        channels: Some(cfg.image[0]),
        stats: cfg.data_stats.clone(),
        skip_bad: false,
    }
}

/// Errors unless `set`'s samples have the model's shape.
pub fn check_fits(cfg: &ModelConfig, set: &Dataset) -> Result<()> {
    match (cfg.data_stats.is_some(), set.values.is_some()) {
        (true, false) => bail!(
            "the model was trained on standardised CSV data but {} holds images: give it csv:FILE data",
            set.name
        ),
        (false, true) => bail!(
            "the model was trained on images but {} holds CSV values: give it image data",
            set.name
        ),
        _ => {}
    }
    let have = [set.channels, set.rows, set.cols];
    if set.sample_len() != cfg.input_dim || (cfg.is_conv() && have != cfg.image) {
        bail!(
            "the model expects samples of {}×{}×{} ({} values) but {} has {}×{}×{} ({} values): use data shaped like the training data",
            cfg.image[0],
            cfg.image[1],
            cfg.image[2],
            cfg.input_dim,
            set.name,
            have[0],
            have[1],
            have[2],
            set.sample_len()
        );
    }
    Ok(())
}

/// The model as these commands apply it: the denoising model without its corruption.
fn inference_config(cfg: &ModelConfig) -> ModelConfig {
    let mut c = cfg.clone();
    if c.kind == ModelKind::Denoising {
        c.kind = if c.arch == Arch::Conv {
            ModelKind::Conv
        } else {
            ModelKind::Vanilla
        };
        c.noise = None;
    }
    c
}

/// Per-sample results of a model over a whole set.
pub struct Scores {
    /// Codes [n, latent].
    pub codes: Vec<f32>,
    pub latent: usize,
    /// Reconstructions [n, input_dim] (only when asked for).
    pub recon: Vec<f32>,
    /// The model's reconstruction loss per sample, averaged over the sample's values.
    pub recon_loss: Vec<f64>,
    /// Mean squared error per value of each sample.
    pub mse: Vec<f64>,
}

/// Runs the checkpoint's model over every sample of `set`.
pub fn score(gpu: &Gpu, ck: &Checkpoint, set: &Dataset, keep_recon: bool) -> Result<Scores> {
    let cfg = inference_config(&ck.config);
    check_fits(&cfg, set)?;
    let batch = 128.min(set.n).max(1);
    let mut res = Resources::new();
    let ev = Evaluator::new(gpu, &mut res, &cfg, set, "apply", batch)?;
    crate::train::load_tensors(gpu, &ev.eg.graph, &res, &ck.tensors, |n| {
        matches!(n.op, Op::Param(_))
    })?;
    let d = cfg.input_dim as f64;
    let mut s = Scores {
        codes: Vec::new(),
        latent: ev.eg.graph.row_len(ev.eg.latent),
        recon: Vec::new(),
        recon_loss: Vec::new(),
        mse: Vec::new(),
    };
    // Drawn only on a terminal (indicatif hides itself otherwise).
    let bar = indicatif::ProgressBar::new(set.n.div_ceil(batch) as u64).with_message("scoring");
    for b in 0..set.n.div_ceil(batch) {
        let BatchOutputs {
            latent,
            recon,
            recon_loss,
            sq_error,
        } = ev.batch_outputs(gpu, b)?;
        s.codes.extend(latent);
        if keep_recon {
            s.recon.extend(recon);
        }
        s.recon_loss
            .extend(recon_loss.iter().map(|&v| v as f64 / d));
        s.mse.extend(sq_error.iter().map(|&v| v as f64 / d));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(s)
}

/// Writes `v` ([rows, cols], float32, C order) as a NumPy `.npy` file (format 1.0).
pub fn write_npy(path: &Path, v: &[f32], rows: usize, cols: usize) -> Result<()> {
    assert_eq!(v.len(), rows * cols, "npy: data does not match its shape");
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * v.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    crate::fsio::write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// ROC AUC of `scores` as a detector of `positive` samples: the probability that a random
/// positive scores above a random negative (ties count half). None without both kinds.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks (1-based) over runs of equal scores.
    let mut rank = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            rank[k] = r;
        }
        i = j + 1;
    }
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let rank_sum: f64 = (0..scores.len())
        .filter(|&k| positive[k])
        .map(|k| rank[k])
        .sum();
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// The value below which `p` percent of `v` lie (linear interpolation between ranks).
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let pos = (p / 100.0).clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// A PCA of the same code width as the model, fitted on the run's training samples.
pub fn pca_baseline(gpu: &Gpu, run: &Run, split: &Split) -> Result<Pca> {
    let train = run.training_set(split)?;
    let k = run.cfg().latent.min(train.sample_len());
    eprintln!(
        "fitting PCA with {k} components on {} ({} samples)",
        train.name, train.n
    );
    Pca::fit(gpu, &train, k, 0)
}

fn out_dir(out: &Option<PathBuf>, run: &Run) -> Result<PathBuf> {
    let dir = out.clone().unwrap_or_else(|| run.dir.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `encode`: latents.csv, latents.npy and latents.png of a set's codes.
pub fn encode(gpu: &Gpu, run: &Run, set: &Dataset, out: &Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let dir = out_dir(out, run)?;
    let s = score(gpu, &run.ck, set, false)?;
    let k = s.latent;
    let mut csv = String::new();
    if set.labels.is_some() {
        csv.push_str("label,");
    }
    csv.push_str(
        &(0..k)
            .map(|j| format!("z{j}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    csv.push('\n');
    for i in 0..set.n {
        if let Some(l) = &set.labels {
            csv.push_str(&format!("{},", l[i]));
        }
        let row: Vec<String> = s.codes[i * k..(i + 1) * k]
            .iter()
            .map(|v| format!("{v}"))
            .collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    // The picture: the code itself when 2-D, else its first two principal components.
    let (points, title): (Vec<(f64, f64)>, String) = if k == 2 {
        let p = s
            .codes
            .chunks(2)
            .map(|c| (c[0] as f64, c[1] as f64))
            .collect();
        (p, "latent codes".to_string())
    } else if k == 1 {
        let p = s.codes.iter().map(|&c| (c as f64, 0.0)).collect();
        (p, "latent codes (1-D)".to_string())
    } else if set.n < 2 {
        let p = s
            .codes
            .chunks(k)
            .map(|c| (c[0] as f64, c[1] as f64))
            .collect();
        (p, "latent codes (first two values)".to_string())
    } else {
        let codes = Dataset {
            name: "latent codes".into(),
            images: Vec::new(),
            labels: None,
            n: set.n,
            channels: 1,
            rows: 1,
            cols: k,
            values: Some(s.codes.clone()),
        };
        let mut pca = Pca::fit(gpu, &codes, 2, 0)?;
        let (pc, _) = pca.score(gpu, &codes)?;
        let p = pc.chunks(2).map(|c| (c[0] as f64, c[1] as f64)).collect();
        (
            p,
            format!(
                "latent codes: first two principal components ({:.0}% of variance)",
                100.0 * pca.explained()
            ),
        )
    };
    // Everything that can fail has run: now the files.
    let csv_path = dir.join("latents.csv");
    crate::fsio::write_atomic(&csv_path, csv.as_bytes())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let npy_path = dir.join("latents.npy");
    write_npy(&npy_path, &s.codes, set.n, k)?;
    let png_path = dir.join("latents.png");
    let img = crate::viz::scatter(&title, &points, set.labels.as_deref(), 800, 700);
    crate::viz::save_png(&img, &png_path)?;
    Ok(vec![csv_path, npy_path, png_path])
}

/// `reconstruct`: reconstructions.png (originals above reconstructions), one PNG per input
/// under `reconstructions/`, and reconstruct.csv with each sample's loss.
pub fn reconstruct(
    gpu: &Gpu,
    run: &Run,
    set: &Dataset,
    names: &[String],
    out: &Option<PathBuf>,
) -> Result<Vec<PathBuf>> {
    let cfg = run.cfg();
    if cfg.data_stats.is_some() {
        bail!(
            "reconstruct draws images; this model was trained on CSV data: use encode or anomaly"
        );
    }
    let dir = out_dir(out, run)?;
    let s = score(gpu, &run.ck, set, true)?;
    let d = cfg.input_dim;
    let [c, h, w] = cfg.image;
    let per = dir.join("reconstructions");
    std::fs::create_dir_all(&per).with_context(|| format!("creating {}", per.display()))?;
    let mut csv = format!("name,{}_per_value,mse_per_value\n", cfg.loss.name());
    let mut written = Vec::new();
    for (i, name) in names.iter().enumerate().take(set.n) {
        let img = crate::viz::image_chw(&s.recon[i * d..(i + 1) * d], c, h, w);
        let p = per.join(format!("{name}.png"));
        crate::viz::save_png(&img, &p)?;
        csv.push_str(&format!("{name},{:.6},{:.6}\n", s.recon_loss[i], s.mse[i]));
        written.push(p);
    }
    let csv_path = dir.join("reconstruct.csv");
    crate::fsio::write_atomic(&csv_path, csv.as_bytes())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let shown = set.n.min(64);
    let originals = set.rows_f32(0..shown);
    let cols = shown.min(16);
    let grid = |v: &[f32]| {
        let imgs: Vec<&[f32]> = v.chunks(d).collect();
        crate::viz::image_grid_chw(&imgs, c, h, w, cols, 2)
    };
    let img = crate::viz::labelled_rows(&[
        ("input", grid(&originals)),
        ("reconstruction", grid(&s.recon[..shown * d])),
    ]);
    let grid_path = dir.join("reconstructions.png");
    crate::viz::save_png(&img, &grid_path)?;
    let mean = s.recon_loss.iter().sum::<f64>() / set.n as f64;
    println!(
        "{} samples: mean {} per value {mean:.6}, mean squared error per value {:.6}",
        set.n,
        cfg.loss.name(),
        s.mse.iter().sum::<f64>() / set.n as f64
    );
    Ok([vec![grid_path, csv_path], written].concat())
}

/// How `anomaly` draws the line.
#[derive(Clone, Copy, Debug)]
pub enum Threshold {
    /// A fixed score.
    Value(f64),
    /// The score below which this percentage of the scored set lies.
    Percentile(f64),
}

/// `anomaly`: anomaly.csv (score per sample, flag), anomaly.png (histogram with the
/// threshold) and, with labels and normal classes, ROC AUC for the model and for PCA.
#[allow(clippy::too_many_arguments)]
pub fn anomaly(
    gpu: &Gpu,
    run: &Run,
    split: &Split,
    set: &Dataset,
    threshold: Threshold,
    normal: Option<&[u8]>,
    with_pca: bool,
    out: &Option<PathBuf>,
) -> Result<Vec<PathBuf>> {
    let cfg = run.cfg();
    let dir = out_dir(out, run)?;
    let s = score(gpu, &run.ck, set, false)?;
    let scores = &s.recon_loss;
    let t = match threshold {
        Threshold::Value(v) => v,
        Threshold::Percentile(p) => percentile(scores, p),
    };
    let pca_scores = if with_pca {
        let mut pca = pca_baseline(gpu, run, split)?;
        let (_, err) = pca.score(gpu, set)?;
        Some(
            err.iter()
                .map(|&e| e as f64 / cfg.input_dim as f64)
                .collect::<Vec<f64>>(),
        )
    } else {
        None
    };
    let mut csv = String::from("index");
    if set.labels.is_some() {
        csv.push_str(",label");
    }
    csv.push_str(&format!(
        ",score_{}_per_value,anomalous,mse_per_value",
        cfg.loss.name()
    ));
    if pca_scores.is_some() {
        csv.push_str(",pca_mse_per_value");
    }
    csv.push('\n');
    for i in 0..set.n {
        csv.push_str(&i.to_string());
        if let Some(l) = &set.labels {
            csv.push_str(&format!(",{}", l[i]));
        }
        csv.push_str(&format!(
            ",{:.6},{},{:.6}",
            scores[i],
            (scores[i] > t) as u8,
            s.mse[i]
        ));
        if let Some(p) = &pca_scores {
            csv.push_str(&format!(",{:.6}", p[i]));
        }
        csv.push('\n');
    }
    let csv_path = dir.join("anomaly.csv");
    crate::fsio::write_atomic(&csv_path, csv.as_bytes())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let flagged = scores.iter().filter(|&&v| v > t).count();
    println!(
        "{} samples scored by {} per value; threshold {t:.6}: {flagged} flagged ({:.1}%)",
        set.n,
        cfg.loss.name(),
        100.0 * flagged as f64 / set.n as f64
    );
    // With normal classes, the normal and anomalous samples' scores in two colours.
    let (normal_scores, anomalous_scores): (Vec<f64>, Vec<f64>) = match (&set.labels, normal) {
        (Some(labels), Some(normal)) => {
            let (n, a): (Vec<_>, Vec<_>) = scores
                .iter()
                .zip(labels)
                .partition(|(_, l)| normal.contains(l));
            (
                n.into_iter().map(|p| *p.0).collect(),
                a.into_iter().map(|p| *p.0).collect(),
            )
        }
        _ => (scores.clone(), Vec::new()),
    };
    let groups: Vec<(&str, &[f64])> = if anomalous_scores.is_empty() {
        vec![("", &normal_scores)]
    } else {
        vec![
            ("normal classes", &normal_scores),
            ("other classes", &anomalous_scores),
        ]
    };
    let png_path = dir.join("anomaly.png");
    let img = crate::viz::histogram_groups(
        &format!("reconstruction error ({} per value)", cfg.loss.name()),
        "score",
        &groups,
        60,
        Some((t, "threshold")),
        800,
        500,
    );
    crate::viz::save_png(&img, &png_path)?;
    if let (Some(labels), Some(normal)) = (&set.labels, normal) {
        let positive: Vec<bool> = labels.iter().map(|l| !normal.contains(l)).collect();
        let fmt = |a: Option<f64>| a.map_or("n/a (one kind only)".into(), |a| format!("{a:.4}"));
        println!(
            "normal classes {normal:?}: {} normal, {} anomalous",
            positive.iter().filter(|&&p| !p).count(),
            positive.iter().filter(|&&p| p).count(),
        );
        let name = format!("({} per value)", cfg.loss.name());
        println!(
            "ROC AUC autoencoder {name:<28} {}",
            fmt(roc_auc(scores, &positive))
        );
        println!(
            "ROC AUC autoencoder {:<28} {}",
            "(squared error per value)",
            fmt(roc_auc(&s.mse, &positive))
        );
        if let Some(p) = &pca_scores {
            println!(
                "ROC AUC PCA, {} components (squared error)  {}",
                cfg.latent.min(cfg.input_dim),
                fmt(roc_auc(p, &positive))
            );
        }
    }
    Ok(vec![csv_path, png_path])
}

/// `eval`: the checkpoint's loss on `set` (every term, per sample and per value), with the
/// mean squared error of the model and, if asked, of PCA with the same code width.
pub fn eval(gpu: &Gpu, run: &Run, split: &Split, set: &Dataset, with_pca: bool) -> Result<()> {
    let cfg = inference_config(run.cfg());
    check_fits(&cfg, set)?;
    let batch = 128.min(set.n).max(1);
    let mut res = Resources::new();
    let mut ev = Evaluator::new(gpu, &mut res, &run.ck.config, set, "eval", batch)?;
    crate::train::load_tensors(gpu, &ev.eg.graph, &res, &run.ck.tensors, |n| {
        matches!(n.op, Op::Param(_))
    })?;
    let (loss, terms) = ev.loss(gpu, &run.ck.config)?;
    let d = cfg.input_dim as f64;
    let (per_sample, per_value) = if run.ck.config.loss_per_sample() {
        (loss, loss / d)
    } else {
        (loss * d, loss)
    };
    println!(
        "{} on {} ({} samples):",
        run.ck.config.describe(),
        set.name,
        set.n
    );
    println!("  loss per sample  {per_sample:.6}");
    println!("  loss per value   {per_value:.6}");
    for (name, v) in &terms {
        println!("  {name:<16} {v:.6}");
    }
    let s = score(gpu, &run.ck, set, false)?;
    let mse = s.mse.iter().sum::<f64>() / set.n as f64;
    println!("  autoencoder mean squared error per value {mse:.6}");
    if with_pca {
        let mut pca = pca_baseline(gpu, run, split)?;
        let (_, err) = pca.score(gpu, set)?;
        let pca_mse = err.iter().map(|&e| e as f64).sum::<f64>() / (set.n as f64 * d);
        println!(
            "  PCA ({} components, {:.1}% of variance) mean squared error per value {pca_mse:.6}",
            pca.k,
            100.0 * pca.explained()
        );
    }
    Ok(())
}
