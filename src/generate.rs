//! `shaderprop generate RUN_DIR`: pictures from a trained VAE's decoder.
//!
//! - `samples.png`: the decoder applied to z ~ N(0, I), drawn on the GPU (Philox stream 2);
//! - `interpolation.png`: rows of decodings along the straight line between the codes μ of
//!   two validation images (the ends are their reconstructions);
//! - `manifold.png` (2-D codes only): the decoder over a grid of the latent plane, placed at
//!   the standard normal's quantiles, as in the Keras blog post.

use crate::checkpoint::Checkpoint;
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::graph::plan::{Plan, Resources};
use crate::graph::{Graph, NodeId};
use crate::models::{vae, ModelConfig, ModelKind};
use crate::ops::random::Distribution;
use crate::ops::{Act, StepUniform};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Random stream of the prior samples.
pub const SAMPLE_STREAM: u32 = 2;

fn load_params(gpu: &Gpu, g: &Graph, res: &Resources, ck: &Checkpoint) -> Result<()> {
    crate::train::load_tensors(gpu, g, res, &ck.tensors, |n| {
        matches!(n.op, crate::graph::Op::Param(_))
    })
}

/// A compiled decoder: z [count, latent] (an input, or a prior draw) → pixels.
struct Decoder {
    graph: Graph,
    plan: Plan,
    z: NodeId,
    pixels: NodeId,
}

fn decoder(
    gpu: &Gpu,
    cfg: &ModelConfig,
    ck: &Checkpoint,
    count: usize,
    from_prior: bool,
) -> Result<Decoder> {
    let mut g = Graph::new();
    let z = if from_prior {
        g.random(
            "z",
            Distribution::Normal,
            SAMPLE_STREAM,
            &[count, cfg.latent],
        )
    } else {
        g.input("z", &[count, cfg.latent])
    };
    let logits = vae::decoder(&mut g, cfg, z);
    let pixels = g.activation("pixels", logits, Act::Sigmoid);
    let mut res = Resources::new();
    let plan = Plan::compile(&g, gpu, &mut res, &[pixels])?;
    load_params(gpu, &g, &res, ck)?;
    Ok(Decoder {
        graph: g,
        plan,
        z,
        pixels,
    })
}

/// Codes μ of `count` samples of `set`.
fn encode(
    gpu: &Gpu,
    cfg: &ModelConfig,
    ck: &Checkpoint,
    set: &Dataset,
    idx: &[usize],
) -> Result<Vec<f32>> {
    let mut g = Graph::new();
    let x = g.input("x", &[idx.len(), cfg.input_dim]);
    let (mu, _) = vae::encoder(&mut g, cfg, x);
    let mut res = Resources::new();
    let plan = Plan::compile(&g, gpu, &mut res, &[mu])?;
    load_params(gpu, &g, &res, ck)?;
    let xs: Vec<f32> = idx
        .iter()
        .flat_map(|&i| set.sample(i).iter().map(|&b| b as f32 / 255.0))
        .collect();
    plan.write_f32(gpu, x, &xs);
    plan.run(gpu, StepUniform::single(idx.len(), 0));
    Ok(plan.read(gpu, &g, mu)?)
}

fn decode(gpu: &Gpu, d: &Decoder, z: Option<&[f32]>, seed: u32) -> Result<Vec<f32>> {
    if let Some(z) = z {
        d.plan.write_f32(gpu, d.z, z);
    }
    d.plan.run(gpu, StepUniform::single(1, seed));
    Ok(d.plan.read(gpu, &d.graph, d.pixels)?)
}

fn grid(cfg: &ModelConfig, pixels: &[f32], cols: usize, path: &Path) -> Result<()> {
    let d = cfg.input_dim;
    let imgs: Vec<&[f32]> = pixels.chunks(d).collect();
    let [c, h, w] = cfg.image;
    crate::viz::save_png(&crate::viz::image_grid_chw(&imgs, c, h, w, cols, 2), path)
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, |rel err| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Writes the pictures into `out`; returns their paths.
pub fn generate(
    gpu: &Gpu,
    ck: &Checkpoint,
    val: &Dataset,
    count: usize,
    seed: u32,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let cfg = &ck.config;
    if cfg.kind != ModelKind::Vae {
        bail!("generate needs a VAE checkpoint; this one holds a {} autoencoder (train one with --model vae)", cfg.kind.name());
    }
    if cfg.data_stats.is_some() {
        bail!("generate draws images; this VAE was trained on CSV data: use encode instead");
    }
    if count == 0 {
        bail!("--count must be at least 1");
    }
    if val.sample_len() != cfg.input_dim {
        bail!(
            "the data has {} features per sample but the model expects {}",
            val.sample_len(),
            cfg.input_dim
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    let cols = (count as f64).sqrt().ceil() as usize;
    let prior = decoder(gpu, cfg, ck, count, true)?;
    let path = out.join("samples.png");
    grid(cfg, &decode(gpu, &prior, None, seed)?, cols, &path)?;
    written.push(path);

    // Interpolations: 5 pairs of validation images, 10 steps each.
    let (pairs, steps) = (5.min(val.n / 2), 10);
    let idx: Vec<usize> = (0..2 * pairs)
        .map(|i| (i * 97 + seed as usize) % val.n)
        .collect();
    let mu = encode(gpu, cfg, ck, val, &idx)?;
    let l = cfg.latent;
    let mut z = Vec::with_capacity(pairs * steps * l);
    for p in 0..pairs {
        let (a, b) = (
            &mu[2 * p * l..(2 * p + 1) * l],
            &mu[(2 * p + 1) * l..(2 * p + 2) * l],
        );
        for s in 0..steps {
            let t = s as f32 / (steps - 1) as f32;
            z.extend(a.iter().zip(b).map(|(x, y)| x + t * (y - x)));
        }
    }
    let lerp = decoder(gpu, cfg, ck, pairs * steps, false)?;
    let path = out.join("interpolation.png");
    grid(cfg, &decode(gpu, &lerp, Some(&z), seed)?, steps, &path)?;
    written.push(path);

    if l == 2 {
        let n = 15;
        let q: Vec<f32> = (0..n)
            .map(|i| normal_quantile((i as f64 + 0.5) / n as f64) as f32)
            .collect();
        let mut z = Vec::with_capacity(n * n * 2);
        for r in 0..n {
            for c in 0..n {
                // Rows go down the second coordinate (top = high), columns along the first.
                z.extend([q[c], q[n - 1 - r]]);
            }
        }
        let plane = decoder(gpu, cfg, ck, n * n, false)?;
        let path = out.join("manifold.png");
        grid(cfg, &decode(gpu, &plane, Some(&z), seed)?, n, &path)?;
        written.push(path);
    }
    Ok(written)
}
