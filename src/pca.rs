//! PCA on the GPU: the best linear code of a given width, the baseline an autoencoder is
//! measured against (`shaderprop pca`, and beside `eval` and `anomaly`).
//!
//! Every product runs on our kernels: the covariance Σ = XᵀX/n − μμᵀ is accumulated batch by
//! batch with `matmul` (Aᵀ·A) and `add_in_place`; its top-k eigenvectors come from
//! orthogonal iteration, Q ← orth(Σ·Q) (`matmul`, then `orthonormalize`, Gram–Schmidt); a
//! sample's code is (x − μ)·Q and its reconstruction code·Qᵀ + μ (two matmuls with bias),
//! scored by the same `mse_forward` kernel as the autoencoders' MSE. See `shaders/pca.wgsl`.

use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::graph::plan::{Plan, Resources};
use crate::graph::{DType, Graph, NodeId, Op};
use crate::ops::loss::LossKind;
use crate::ops::{Act, StepUniform};
use anyhow::{bail, Result};

/// Samples per batch when accumulating the covariance and scoring.
const BATCH: usize = 500;
/// Subspace-iteration steps between convergence checks, and the most it runs.
const CHECK_EVERY: usize = 25;
const MAX_ITERS: usize = 500;

/// A fitted PCA: its GPU state lives in `res` under `pca/…`.
pub struct Pca {
    /// Input width and number of components.
    pub d: usize,
    pub k: usize,
    /// Samples it was fitted on.
    pub n: usize,
    /// Variance along each component (qⱼᵀΣqⱼ, the eigenvalues once converged), in column
    /// order, which orthogonal iteration makes largest first.
    pub variances: Vec<f64>,
    /// Total variance, trace(Σ).
    pub total_variance: f64,
    /// Subspace-iteration steps run.
    pub iterations: usize,
    res: Resources,
    score: Option<Scorer>,
}

struct Scorer {
    graph: Graph,
    plan: Plan,
    x: NodeId,
    code: NodeId,
    err: NodeId,
}

fn step() -> StepUniform {
    StepUniform::single(BATCH, 0)
}

/// Rows `start..start + BATCH` of `set` as floats, zero-padded to BATCH rows.
fn batch_rows(set: &Dataset, start: usize) -> Vec<f32> {
    let d = set.sample_len();
    let mut v = set.rows_f32(start..(start + BATCH).min(set.n));
    v.resize(BATCH * d, 0.0);
    v
}

impl Pca {
    /// Fits the top `k` components of `set` (every sample, as the models see it).
    pub fn fit(gpu: &Gpu, set: &Dataset, k: usize, seed: u64) -> Result<Pca> {
        let d = set.sample_len();
        if k == 0 || k > d {
            bail!("--components must be between 1 and the sample width {d} (got {k})");
        }
        if set.n < 2 {
            bail!("PCA needs at least 2 samples ({} has {})", set.name, set.n);
        }
        let mut res = Resources::new();
        // 1. XᵀX and the column sums, batch by batch.
        let mut g = Graph::new();
        let x = g.input("pca/x", &[BATCH, d]);
        let xtx = g.matmul("xtx", x, x, None, true, false, Act::Identity);
        let cs = g.push("colsum", Op::ColumnSum, vec![x], vec![d], DType::F32);
        let gram = g.state("pca/xtx", &[d, d]);
        let sum = g.state("pca/sum", &[d]);
        g.add_in_place("accumulate_xtx", gram, xtx);
        g.add_in_place("accumulate_sum", sum, cs);
        let plan = Plan::compile(&g, gpu, &mut res, &[])?;
        plan.write_f32(gpu, gram, &vec![0.0; d * d]);
        plan.write_f32(gpu, sum, &vec![0.0; d]);
        // Drawn only on a terminal (indicatif hides itself otherwise).
        let bar = indicatif::ProgressBar::new((set.n.div_ceil(BATCH) + MAX_ITERS) as u64)
            .with_message(format!("PCA: covariance of {} samples", set.n));
        for start in (0..set.n).step_by(BATCH) {
            plan.write_f32(gpu, x, &batch_rows(set, start));
            plan.run(gpu, step());
            gpu.wait()?;
            bar.inc(1);
        }
        bar.set_message(format!("PCA: orthogonal iteration for {k} components"));
        // 2. Σ = XᵀX/n − μμᵀ into a state.
        let n = set.n;
        let mut g = Graph::new();
        let gram = g.state("pca/xtx", &[d, d]);
        let sum = g.state("pca/sum", &[d]);
        let mean = g.push(
            "mean",
            Op::Scale {
                alpha: 1.0 / n as f32,
            },
            vec![sum],
            vec![1, d],
            DType::F32,
        );
        let outer = g.matmul("mean_outer", mean, mean, None, true, false, Act::Identity);
        let scaled = g.push(
            "xtx_over_n",
            Op::Scale {
                alpha: 1.0 / n as f32,
            },
            vec![gram],
            vec![d, d],
            DType::F32,
        );
        let cov_value = g.add_scaled("covariance", scaled, outer, -1.0);
        let cov = g.state("pca/cov", &[d, d]);
        g.add_in_place("store_cov", cov, cov_value);
        let plan = Plan::compile(&g, gpu, &mut res, &[])?;
        plan.write_f32(gpu, cov, &vec![0.0; d * d]);
        plan.run(gpu, step());
        let cov_host = plan.read(gpu, &g, cov)?;
        let total_variance: f64 = (0..d).map(|i| cov_host[i * d + i] as f64).sum();
        // 3. Orthogonal iteration from a random start, until the captured variance settles.
        let mut g = Graph::new();
        let cov = g.state("pca/cov", &[d, d]);
        let q = g.state("pca/q", &[d, k]);
        let y = g.matmul("cov_q", cov, q, None, false, false, Act::Identity);
        g.orthonormalize("orthonormalize", q, y);
        let iterate = Plan::compile(&g, gpu, &mut res, &[])?;
        let mut rng = crate::rng::Rng::new(seed);
        let start: Vec<f32> = (0..d * k).map(|_| rng.normal() as f32).collect();
        iterate.write_f32(gpu, q, &start);
        iterate.run(gpu, step());
        let mut rg = Graph::new();
        let cov_r = rg.state("pca/cov", &[d, d]);
        let q_r = rg.state("pca/q", &[d, k]);
        let cq = rg.matmul("cov_q", cov_r, q_r, None, false, false, Act::Identity);
        let rayleigh = rg.matmul("qt_cov_q", q_r, cq, None, true, false, Act::Identity);
        let ritz = Plan::compile(&rg, gpu, &mut res, &[rayleigh])?;
        let mut iterations = 0;
        let mut captured = f64::NAN;
        let mut variances = Vec::new();
        while iterations < MAX_ITERS {
            for _ in 0..CHECK_EVERY {
                iterate.run(gpu, step());
            }
            iterations += CHECK_EVERY;
            bar.inc(CHECK_EVERY as u64);
            ritz.run(gpu, step());
            let m = ritz.read(gpu, &rg, rayleigh)?;
            variances = (0..k).map(|j| m[j * k + j] as f64).collect();
            let now: f64 = variances.iter().sum();
            let settled = (now - captured).abs() <= 1e-6 * now.abs();
            captured = now;
            if settled {
                break;
            }
        }
        bar.finish_and_clear();
        Ok(Pca {
            d,
            k,
            n,
            variances,
            total_variance,
            iterations,
            res,
            score: None,
        })
    }

    /// The fraction of the total variance the k components capture.
    pub fn explained(&self) -> f64 {
        if self.total_variance > 0.0 {
            self.variances.iter().sum::<f64>() / self.total_variance
        } else {
            1.0
        }
    }

    /// Per-sample codes [n, k] and squared reconstruction errors ‖x − x̂‖² of `set`.
    pub fn score(&mut self, gpu: &Gpu, set: &Dataset) -> Result<(Vec<f32>, Vec<f32>)> {
        if set.sample_len() != self.d {
            bail!(
                "PCA was fitted on samples of {} values; {} has {}",
                self.d,
                set.name,
                set.sample_len()
            );
        }
        let (d, k) = (self.d, self.k);
        if self.score.is_none() {
            let mut g = Graph::new();
            let x = g.input("pca/score_x", &[BATCH, d]);
            let q = g.state("pca/q", &[d, k]);
            let sum = g.state("pca/sum", &[d]);
            let mean = g.push(
                "mean",
                Op::Scale {
                    alpha: 1.0 / self.n as f32,
                },
                vec![sum],
                vec![d],
                DType::F32,
            );
            let mean_row = g.reshape("mean_row", mean, &[1, d]);
            let mq = g.matmul("mean_code", mean_row, q, None, false, false, Act::Identity);
            let neg = g.push(
                "minus_mean_code",
                Op::Scale { alpha: -1.0 },
                vec![mq],
                vec![k],
                DType::F32,
            );
            let code = g.matmul("code", x, q, Some(neg), false, false, Act::Identity);
            let recon = g.matmul("recon", code, q, Some(mean), false, true, Act::Identity);
            let err = g.loss("squared_error", LossKind::Mse, recon, x);
            let plan = Plan::compile(&g, gpu, &mut self.res, &[code, err])?;
            self.score = Some(Scorer {
                graph: g,
                plan,
                x,
                code,
                err,
            });
        }
        let s = self.score.as_ref().expect("scorer compiled above");
        let mut codes = Vec::with_capacity(set.n * k);
        let mut errs = Vec::with_capacity(set.n);
        for start in (0..set.n).step_by(BATCH) {
            let rows = (set.n - start).min(BATCH);
            s.plan.write_f32(gpu, s.x, &batch_rows(set, start));
            s.plan.run(gpu, step());
            codes.extend_from_slice(&s.plan.read(gpu, &s.graph, s.code)?[..rows * k]);
            errs.extend_from_slice(&s.plan.read(gpu, &s.graph, s.err)?[..rows]);
        }
        Ok((codes, errs))
    }
}

/// CPU float64 twin of the whole fit and score: covariance, then the same orthogonal
/// iteration from the same start for `iters` steps; returns (Q [d, k], squared errors).
pub fn fit_score_ref(
    x: &[f64],
    n: usize,
    d: usize,
    k: usize,
    q0: &[f64],
    iters: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; d];
    for r in 0..n {
        for c in 0..d {
            mean[c] += x[r * d + c] / n as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for r in 0..n {
        for a in 0..d {
            let xa = x[r * d + a] - mean[a];
            for b in 0..d {
                cov[a * d + b] += xa * (x[r * d + b] - mean[b]) / n as f64;
            }
        }
    }
    let mut q = crate::ops::pca::orthonormalize_ref(q0, d, k);
    for _ in 0..iters {
        let mut y = vec![0.0; d * k];
        for a in 0..d {
            for j in 0..k {
                y[a * k + j] = (0..d).map(|b| cov[a * d + b] * q[b * k + j]).sum();
            }
        }
        q = crate::ops::pca::orthonormalize_ref(&y, d, k);
    }
    let errs = (0..n)
        .map(|r| {
            let xc: Vec<f64> = (0..d).map(|c| x[r * d + c] - mean[c]).collect();
            let code: Vec<f64> = (0..k)
                .map(|j| (0..d).map(|c| xc[c] * q[c * k + j]).sum())
                .collect();
            (0..d)
                .map(|c| {
                    let rec: f64 = (0..k).map(|j| code[j] * q[c * k + j]).sum();
                    (xc[c] - rec).powi(2)
                })
                .sum()
        })
        .collect();
    (q, errs)
}
