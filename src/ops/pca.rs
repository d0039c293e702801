//! PCA's glue kernels (`shaders/pca.wgsl`): an in-place accumulate for the covariance and
//! the Gram–Schmidt steps (`gs_*`) of subspace iteration. The math of the whole baseline is in the
//! shader's header and in [`crate::pca`].

use super::{Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// CPU twin of `add_in_place`: acc + x.
pub fn add_in_place_ref(acc: &[f64], x: &[f64]) -> Vec<f64> {
    acc.iter().zip(x).map(|(a, b)| a + b).collect()
}

/// CPU twin of `orthonormalize`: modified Gram–Schmidt, twice per column, on the columns of
/// `y` ([d, k], row-major); a column with nothing left becomes zero.
pub fn orthonormalize_ref(y: &[f64], d: usize, k: usize) -> Vec<f64> {
    let mut q = y.to_vec();
    for j in 0..k {
        for _ in 0..2 {
            for p in 0..j {
                let dot: f64 = (0..d).map(|i| q[i * k + p] * q[i * k + j]).sum();
                for i in 0..d {
                    q[i * k + j] -= dot * q[i * k + p];
                }
            }
        }
        let norm = (0..d).map(|i| q[i * k + j].powi(2)).sum::<f64>().sqrt();
        let inv = if norm > 1e-30 { 1.0 / norm } else { 0.0 };
        for i in 0..d {
            q[i * k + j] *= inv;
        }
    }
    q
}

/// `add_in_place`: bindings (acc in place, x).
pub fn add_in_place_call(n: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Pca,
        entry: "add_in_place",
        constants: vec![],
        bindings: vec![Bind::Input(0), Bind::Input(1)],
        params: vec![n as u32, 1],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: n as u64,
        bytes: 12 * n as u64,
    }
}

/// One dispatch of the Gram–Schmidt sequence (see `shaders/pca.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsStep {
    /// q = y.
    Copy,
    /// r\[p\] = q_pᵀ q_j for p < j.
    Dots(u32),
    /// q_j −= Σ_{p<j} r\[p\] q_p.
    Subtract(u32),
    /// r\[k\] = 1 / ‖q_j‖.
    Norm(u32),
    /// q_j *= r\[k\].
    Scale(u32),
}

impl GsStep {
    /// The kernel's entry point (also the op's name in `explain`).
    pub fn entry(self) -> &'static str {
        match self {
            GsStep::Copy => "gs_copy",
            GsStep::Dots(_) => "gs_dots",
            GsStep::Subtract(_) => "gs_subtract",
            GsStep::Norm(_) => "gs_norm",
            GsStep::Scale(_) => "gs_scale",
        }
    }
}

/// A Gram–Schmidt step on q [d, k]: bindings (q in place, then y (copy) or the scratch r).
pub fn gs_call(step: GsStep, d: usize, k: usize) -> KernelCall {
    let (j, n, wg, flops) = match step {
        GsStep::Copy => (0, d * k, 256, 0),
        GsStep::Dots(j) => (j, j as usize, 64, 2 * d * j as usize),
        GsStep::Subtract(j) => (j, d, 64, 2 * d * j as usize),
        GsStep::Norm(j) => (j, 1, 1, 2 * d),
        GsStep::Scale(j) => (j, d, 64, d),
    };
    KernelCall {
        shader: Shader::Pca,
        entry: step.entry(),
        constants: vec![],
        bindings: vec![Bind::Input(0), Bind::Input(1)],
        params: vec![d as u32, k as u32, j],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n.max(1) as u64,
            wg,
        },
        flops: flops as u64,
        bytes: 4 * flops.max(n) as u64,
    }
}
