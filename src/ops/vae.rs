//! The VAE's reparameterisation trick and KL term (`shaders/vae.wgsl`).
//!
//! # Reparameterisation
//! A sample z ~ N(μ, σ²) written as z = μ + σ·ε with ε ~ N(0, 1) drawn independently of the
//! parameters: the randomness moves into a constant input, and z becomes a differentiable
//! function of μ and σ = exp(½·logvar). Then ∂z/∂μ = 1 and ∂z/∂logvar = ½·σ·ε.
//!
//! # KL term
//! For q = N(μ, σ²) and p = N(0, 1), KL(q‖p) = ½(σ² + μ² − 1 − ln σ²) per dimension, i.e.
//! −½(1 + logvar − μ² − e^{logvar}); its gradients are μ and ½(e^{logvar} − 1). It pulls every
//! code toward the prior, which is what makes decoding z ~ N(0, I) give plausible samples.

use super::{Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// CPU twin of `reparameterize`.
pub fn reparameterize_ref(mu: &[f64], logvar: &[f64], eps: &[f64]) -> Vec<f64> {
    mu.iter()
        .zip(logvar)
        .zip(eps)
        .map(|((m, l), e)| m + e * (0.5 * l).exp())
        .collect()
}

/// CPU twin of `reparameterize_backward_logvar`.
pub fn reparameterize_backward_logvar_ref(logvar: &[f64], eps: &[f64], d_z: &[f64]) -> Vec<f64> {
    logvar
        .iter()
        .zip(eps)
        .zip(d_z)
        .map(|((l, e), d)| d * 0.5 * e * (0.5 * l).exp())
        .collect()
}

/// CPU twin of `kl_forward`: per-row KL divergence from N(0, I).
pub fn kl_ref(mu: &[f64], logvar: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| {
            -0.5 * (0..cols)
                .map(|j| {
                    let i = r * cols + j;
                    1.0 + logvar[i] - mu[i] * mu[i] - logvar[i].exp()
                })
                .sum::<f64>()
        })
        .collect()
}

/// CPU twin of `kl_backward_mu`.
pub fn kl_backward_mu_ref(mu: &[f64], d_kl: &[f64], cols: usize) -> Vec<f64> {
    mu.iter()
        .enumerate()
        .map(|(i, m)| d_kl[i / cols] * m)
        .collect()
}

/// CPU twin of `kl_backward_logvar`.
pub fn kl_backward_logvar_ref(logvar: &[f64], d_kl: &[f64], cols: usize) -> Vec<f64> {
    logvar
        .iter()
        .enumerate()
        .map(|(i, l)| d_kl[i / cols] * 0.5 * (l.exp() - 1.0))
        .collect()
}

fn elementwise(entry: &'static str, rows: usize, cols: usize, inputs: usize) -> KernelCall {
    let n = rows * cols;
    let mut bindings = vec![Bind::Output];
    bindings.extend((0..inputs).map(Bind::Input));
    KernelCall {
        shader: Shader::Vae,
        entry,
        constants: vec![],
        bindings,
        params: vec![rows as u32, cols as u32],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: 4 * n as u64,
        bytes: 4 * (inputs as u64 + 1) * n as u64,
    }
}

/// `reparameterize`: inputs (mu, logvar, eps).
pub fn reparameterize_call(rows: usize, cols: usize) -> KernelCall {
    elementwise("reparameterize", rows, cols, 3)
}

/// `reparameterize_backward_logvar`: inputs (logvar, eps, d_z).
pub fn reparameterize_backward_logvar_call(rows: usize, cols: usize) -> KernelCall {
    elementwise("reparameterize_backward_logvar", rows, cols, 3)
}

/// `kl_forward`: inputs (mu, logvar) → \[rows\].
pub fn kl_call(rows: usize, cols: usize) -> KernelCall {
    KernelCall {
        workgroups: Workgroups::Items {
            n: rows as u64,
            wg: 64,
        },
        bytes: 4 * (2 * rows * cols + rows) as u64,
        ..elementwise("kl_forward", rows, cols, 2)
    }
}

/// `kl_backward_mu` / `kl_backward_logvar`: inputs (mu or logvar, d_kl).
pub fn kl_backward_call(of_logvar: bool, rows: usize, cols: usize) -> KernelCall {
    elementwise(
        if of_logvar {
            "kl_backward_logvar"
        } else {
            "kl_backward_mu"
        },
        rows,
        cols,
        2,
    )
}
