//! Sparsity penalties on the code of the sparse autoencoder (`shaders/sparsity.wgsl`).
//!
//! - **L1** (`--sparsity l1:λ`, Keras' activity regulariser): λ·Σ_j |z_j| per sample, added to
//!   the per-pixel reconstruction loss; gradient λ·sign(z_j) (0 at z = 0).
//! - **KL** (`--sparsity kl:ρ,β`, Ng's sparse autoencoder): on a sigmoid code, the batch's mean
//!   activation ρ̂_j of each unit is pulled to a small target ρ by β·Σ_j KL(ρ‖ρ̂_j), with
//!   ∂/∂ρ̂_j = β(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)) and ∂ρ̂_j/∂z_rj = 1/batch. As in Ng's objective,
//!   β weighs the penalty against the reconstruction error summed over a sample's features,
//!   so the model passes β/features to the kernel (the loss is reported per feature).

use super::{f, Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// Which penalty, with its weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sparsity {
    L1(f32),
    Kl { rho: f32, beta: f32 },
}

impl std::str::FromStr for Sparsity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("--sparsity '{s}': expected l1:LAMBDA (e.g. l1:1e-5) or kl:RHO,BETA (e.g. kl:0.05,3)")
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let nums: Vec<f32> = rest
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        match (kind, nums.as_slice()) {
            ("l1", [l]) if l.is_finite() && *l >= 0.0 => Ok(Sparsity::L1(*l)),
            ("kl", [rho, beta]) if *rho > 0.0 && *rho < 1.0 && beta.is_finite() && *beta >= 0.0 => {
                Ok(Sparsity::Kl {
                    rho: *rho,
                    beta: *beta,
                })
            }
            ("kl", [_, _]) => Err(format!(
                "--sparsity '{s}': the target ρ must be in (0, 1) and β ≥ 0"
            )),
            ("l1", [_]) => Err(format!("--sparsity '{s}': λ must be ≥ 0")),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Sparsity {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sparsity::L1(l) => write!(fm, "l1:{l}"),
            Sparsity::Kl { rho, beta } => write!(fm, "kl:{rho},{beta}"),
        }
    }
}

impl serde::Serialize for Sparsity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Sparsity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Activations below this count as "near zero" in the reports.
pub const NEAR_ZERO: f32 = 1e-3;

/// CPU twin of `l1_forward`.
pub fn l1_ref(z: &[f64], cols: usize, scale: f64) -> Vec<f64> {
    z.chunks(cols)
        .map(|r| scale * r.iter().map(|v| v.abs()).sum::<f64>())
        .collect()
}

/// CPU twin of `l1_backward`.
pub fn l1_backward_ref(z: &[f64], d_p: &[f64], cols: usize, scale: f64) -> Vec<f64> {
    z.iter()
        .enumerate()
        .map(|(i, v)| {
            let s = if *v > 0.0 {
                1.0
            } else if *v < 0.0 {
                -1.0
            } else {
                0.0
            };
            scale * s * d_p[i / cols]
        })
        .collect()
}

/// CPU twin of `near_zero`.
pub fn near_zero_ref(z: &[f64], cols: usize, eps: f64) -> Vec<f64> {
    z.chunks(cols)
        .map(|r| r.iter().filter(|v| v.abs() < eps).count() as f64)
        .collect()
}

/// CPU twin of `code_mean` over the first `valid` rows.
pub fn code_mean_ref(z: &[f64], rows: usize, cols: usize, valid: usize) -> Vec<f64> {
    let v = valid.clamp(1, rows);
    (0..cols)
        .map(|j| (0..v).map(|r| z[r * cols + j]).sum::<f64>() / v as f64)
        .collect()
}

/// CPU twin of `code_mean_backward`.
pub fn code_mean_backward_ref(d_rho: &[f64], rows: usize, valid: usize) -> Vec<f64> {
    let cols = d_rho.len();
    let v = valid.clamp(1, rows);
    (0..rows * cols)
        .map(|i| {
            if i / cols < v {
                d_rho[i % cols] / v as f64
            } else {
                0.0
            }
        })
        .collect()
}

fn clamp(q: f64) -> f64 {
    q.clamp(1e-6, 1.0 - 1e-6)
}

/// CPU twin of `kl_sparsity_forward`.
pub fn kl_ref(rho_hat: &[f64], rho: f64, beta: f64) -> f64 {
    beta * rho_hat
        .iter()
        .map(|&q| {
            let q = clamp(q);
            rho * (rho / q).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - q)).ln()
        })
        .sum::<f64>()
}

/// CPU twin of `kl_sparsity_backward`.
pub fn kl_backward_ref(rho_hat: &[f64], d_out: f64, rho: f64, beta: f64) -> Vec<f64> {
    rho_hat
        .iter()
        .map(|&q| {
            let q = clamp(q);
            d_out * beta * (-rho / q + (1.0 - rho) / (1.0 - q))
        })
        .collect()
}

fn call(entry: &'static str, rows: usize, cols: usize, a: f32, b: f32) -> KernelCall {
    KernelCall {
        shader: Shader::Sparsity,
        entry,
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: vec![rows as u32, cols as u32, f(a), f(b)],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: rows as u64,
            wg: 256,
        },
        flops: 2 * (rows * cols) as u64,
        bytes: 4 * (rows * cols + rows) as u64,
    }
}

/// `l1_forward` over z: [rows, cols]: bindings (p, z).
pub fn l1_call(rows: usize, cols: usize, scale: f32) -> KernelCall {
    call("l1_forward", rows, cols, scale, 0.0)
}

/// `near_zero`: bindings (count, z).
pub fn near_zero_call(rows: usize, cols: usize) -> KernelCall {
    call("near_zero", rows, cols, NEAR_ZERO, 0.0)
}

/// `l1_backward`: bindings (d_z, z, d_p).
pub fn l1_backward_call(rows: usize, cols: usize, scale: f32) -> KernelCall {
    KernelCall {
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1)],
        workgroups: Workgroups::Items {
            n: (rows * cols) as u64,
            wg: 256,
        },
        ..call("l1_backward", rows, cols, scale, 0.0)
    }
}

/// `code_mean`: bindings (rho_hat, z) + step.
pub fn code_mean_call(rows: usize, cols: usize) -> KernelCall {
    KernelCall {
        uses_step: true,
        workgroups: Workgroups::Items {
            n: cols as u64,
            wg: 256,
        },
        ..call("code_mean", rows, cols, 0.0, 0.0)
    }
}

/// `code_mean_backward`: bindings (d_z, d_rho_hat) + step.
pub fn code_mean_backward_call(rows: usize, cols: usize) -> KernelCall {
    KernelCall {
        uses_step: true,
        workgroups: Workgroups::Items {
            n: (rows * cols) as u64,
            wg: 256,
        },
        ..call("code_mean_backward", rows, cols, 0.0, 0.0)
    }
}

/// `kl_sparsity_forward`: bindings (penalty \[1\], rho_hat).
pub fn kl_call(cols: usize, rho: f32, beta: f32) -> KernelCall {
    KernelCall {
        workgroups: Workgroups::Fixed([1, 1, 1]),
        ..call("kl_sparsity_forward", 1, cols, rho, beta)
    }
}

/// `kl_sparsity_backward`: bindings (d_rho_hat, rho_hat, d_penalty).
pub fn kl_backward_call(cols: usize, rho: f32, beta: f32) -> KernelCall {
    KernelCall {
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1)],
        workgroups: Workgroups::Items {
            n: cols as u64,
            wg: 256,
        },
        ..call("kl_sparsity_backward", 1, cols, rho, beta)
    }
}
