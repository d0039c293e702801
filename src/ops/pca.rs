//! PCA's two glue kernels (`shaders/pca.wgsl`): an in-place accumulate for the covariance
//! and Gram–Schmidt for subspace iteration. The math of the whole baseline is in the
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

/// `orthonormalize` of a [d, k] matrix: one workgroup; bindings (q in place, y).
pub fn orthonormalize_call(d: usize, k: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Pca,
        entry: "orthonormalize",
        constants: vec![],
        bindings: vec![Bind::Input(0), Bind::Input(1)],
        params: vec![d as u32, k as u32],
        uses_step: false,
        workgroups: Workgroups::Fixed([1, 1, 1]),
        flops: (4 * d * k * k) as u64,
        bytes: (8 * d * k * k) as u64,
    }
}
