//! Gradient check on the device: the model's GPU gradients against central finite
//! differences of its own GPU forward pass (`shaderprop gradcheck`, `train --check-gradients`).
//!
//! For each parameter tensor θ with computed gradient g, the check compares directional
//! derivatives: (L(θ + h·d) − L(θ − h·d)) / 2h against ⟨g, d⟩, along d₁ = g/‖g‖ (the largest
//! signal, so float32 rounding stays small against it) and d₂ = (d₁ + r)/‖d₁ + r‖ with r a
//! random unit vector (so an error orthogonal to g is seen too), each at the best of three
//! step sizes h ([`STEPS`]: θ moves by h in norm). The loss is the reconstruction loss summed over features and averaged over a small
//! batch of real samples. A relative error above [`TOLERANCE`] fails the tensor.
//!
//! To see it catch a bug, break a kernel on purpose: `--break-kernel column_sum` multiplies
//! every bias gradient by 1.05, and the check names the bias tensors.

use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::graph::autodiff::backward;
use crate::graph::plan::{CompileOptions, Plan, Resources};
use crate::graph::Graph;
use crate::models::{self, ModelConfig};
use crate::ops::StepUniform;
use crate::rng::Rng;
use anyhow::{bail, Context, Result};

/// Largest relative error a tensor may show.
pub const TOLERANCE: f64 = 1e-2;

/// Step sizes tried (θ moves by h in L2 norm along a unit direction).
pub const STEPS: [f64; 3] = [1e-2, 3e-3, 1e-3];

/// Entry points `--break-kernel` accepts (the kernels a backward pass uses).
pub const BREAKABLE: [&str; 9] = [
    "activation_backward",
    "bce_with_logits_backward",
    "mse_backward",
    "column_sum",
    "broadcast_scaled",
    "add",
    "matmul",
    "matmul_vec4",
    "matmul_naive",
];

/// The result for one parameter tensor.
#[derive(Clone, Debug)]
pub struct TensorCheck {
    pub name: String,
    pub len: usize,
    pub grad_norm: f64,
    /// Worst relative error over the directions tried.
    pub worst_rel: f64,
}

impl TensorCheck {
    /// Whether the tensor passes.
    pub fn ok(&self) -> bool {
        self.worst_rel <= TOLERANCE
    }
}

/// Maps a `--break-kernel` name to its entry point, or explains the choices.
pub fn breakable(name: &str) -> Result<&'static str> {
    BREAKABLE
        .iter()
        .copied()
        .find(|e| *e == name)
        .with_context(|| {
            format!(
                "--break-kernel '{name}' is not a kernel gradcheck can break; choose one of {}",
                BREAKABLE.join(", ")
            )
        })
}

/// Runs the check on the first `batch` samples of `set`, parameters initialised from `seed`.
pub fn check(
    gpu: &Gpu,
    cfg: &ModelConfig,
    set: &Dataset,
    batch: usize,
    seed: u64,
    break_kernel: Option<&'static str>,
) -> Result<Vec<TensorCheck>> {
    if batch == 0 || batch > set.n {
        bail!(
            "gradcheck needs between 1 and {} samples, got {batch}",
            set.n
        );
    }
    let mut g = Graph::new();
    let x = g.input("x", &[batch, cfg.input_dim]);
    let built = models::build(&mut g, cfg, x, false);
    let loss = crate::train::training_loss(&mut g, &built, 1.0 / batch as f32);
    let grads = backward(&mut g, loss);
    let mut keep: Vec<usize> = grads.iter().map(|p| p.grad).collect();
    keep.push(loss);
    let mut res = Resources::new();
    let opts = CompileOptions {
        break_kernel: break_kernel.map(|e| (e, 1.05)),
        ..Default::default()
    };
    let plan = Plan::compile_with(&g, gpu, &mut res, &keep, opts)?;
    crate::train::init_params(gpu, &g, &res, seed);
    // Check at a generic point, not at the initial zero biases: there every background
    // (zero) pixel of a conv layer sits exactly on ReLU's kink, where finite differences
    // measure a one-sided slope, not the derivative.
    let mut jitter = Rng::new(seed ^ 0xb1a5);
    for p in g.params() {
        let n = &g.nodes[p];
        if let (crate::graph::Op::Param(crate::graph::Init::Zeros), Some(b)) =
            (n.op, res.get(&n.name))
        {
            let v = jitter.vec_f32(n.len(), -0.05, 0.05);
            gpu.queue.write_buffer(b, 0, bytemuck::cast_slice(&v));
        }
    }
    let xs = set.rows_f32(0..batch);
    plan.write_f32(gpu, x, &xs);
    let step = StepUniform::single(batch, seed as u32);
    plan.run(gpu, step);
    let loss_at = |gpu: &Gpu| -> Result<f64> {
        plan.run(gpu, step);
        Ok(plan.read(gpu, &g, loss)?[0] as f64)
    };
    let mut rng = Rng::new(seed ^ 0x9cad);
    let mut out = Vec::new();
    for pg in &grads {
        let name = g.nodes[pg.param].name.clone();
        let grad: Vec<f64> = plan
            .read(gpu, &g, pg.grad)?
            .into_iter()
            .map(f64::from)
            .collect();
        let theta: Vec<f32> = plan.read(gpu, &g, pg.param)?;
        let norm = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            out.push(TensorCheck {
                name,
                len: grad.len(),
                grad_norm: 0.0,
                worst_rel: 0.0,
            });
            continue;
        }
        let d1: Vec<f64> = grad.iter().map(|v| v / norm).collect();
        let r: Vec<f64> = (0..grad.len()).map(|_| rng.normal()).collect();
        let rn = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        let mix: Vec<f64> = d1.iter().zip(&r).map(|(a, b)| a + b / rn).collect();
        let mn = mix.iter().map(|v| v * v).sum::<f64>().sqrt();
        let d2: Vec<f64> = mix.iter().map(|v| v / mn).collect();
        let mut worst: f64 = 0.0;
        for d in [&d1, &d2] {
            let analytic: f64 = grad.iter().zip(d.iter()).map(|(a, b)| a * b).sum();
            // The best of three step sizes: a large h can step over a ReLU kink, a small one
            // drowns in float32 rounding; a wrong gradient is wrong at every h.
            let mut best = f64::INFINITY;
            for h in STEPS {
                let shifted = |sign: f64| -> Vec<f32> {
                    theta
                        .iter()
                        .zip(d.iter())
                        .map(|(&t, &v)| (t as f64 + sign * h * v) as f32)
                        .collect()
                };
                plan.write_f32(gpu, pg.param, &shifted(1.0));
                let plus = loss_at(gpu)?;
                plan.write_f32(gpu, pg.param, &shifted(-1.0));
                let minus = loss_at(gpu)?;
                let numeric = (plus - minus) / (2.0 * h);
                let rel = (numeric - analytic).abs() / numeric.abs().max(analytic.abs()).max(1e-12);
                best = best.min(rel);
            }
            worst = worst.max(best);
        }
        plan.write_f32(gpu, pg.param, &theta);
        out.push(TensorCheck {
            name,
            len: grad.len(),
            grad_norm: norm,
            worst_rel: worst,
        });
    }
    Ok(out)
}

/// Prints the table and returns an error naming every failing tensor.
pub fn report(checks: &[TensorCheck]) -> Result<()> {
    println!(
        "{:<22}  {:>9}  {:>12}  {:>14}  result",
        "parameter", "elements", "|gradient|", "worst rel err"
    );
    for c in checks {
        println!(
            "{:<22}  {:>9}  {:>12.4e}  {:>14.3e}  {}",
            c.name,
            c.len,
            c.grad_norm,
            c.worst_rel,
            if c.ok() { "ok" } else { "FAIL" }
        );
    }
    let worst = checks.iter().map(|c| c.worst_rel).fold(0.0, f64::max);
    println!("worst relative error {worst:.3e} (tolerance {TOLERANCE:.0e})");
    let bad: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok())
        .map(|c| c.name.as_str())
        .collect();
    if !bad.is_empty() {
        bail!("gradient check failed for {}: the backward pass disagrees with finite differences of the forward", bad.join(", "));
    }
    Ok(())
}
