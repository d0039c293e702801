//! Reconstruction losses per sample and their gradients (`shaders/loss.wgsl`).
//!
//! # Binary cross-entropy fused with the sigmoid
//! With p = σ(z), ℓ = −t·log p − (1−t)·log(1−p). Using log σ(z) = −log(1+e^{−z}) and
//! log(1−σ(z)) = −z − log(1+e^{−z}): ℓ = z − z·t + log(1+e^{−z}). For z < 0 rewrite
//! log(1+e^{−z}) = −z + log(1+e^{z}) to get ℓ = −z·t + log(1+e^{z}); both cases are
//! ℓ = max(z,0) − z·t + log(1+e^{−|z|}), which never takes log(0) nor exp of a large positive
//! number, so logits of ±300 are fine. Its derivative: ∂ℓ/∂z = σ(z) − t, because
//! dℓ/dp = (p−t)/(p(1−p)) and dp/dz = p(1−p) cancel — the reason to fuse the two.
//!
//! # Mean squared error
//! ℓ = Σ (y−t)², ∂ℓ/∂y = 2(y−t).

use super::{texture_form, Bind, KernelCall, Reads, Workgroups};
use crate::gpu::Shader;

/// Which reconstruction loss (`--loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LossKind {
    /// Binary cross-entropy on logits (sigmoid fused).
    #[default]
    Bce,
    /// Squared error on the sigmoid output.
    Mse,
}

impl std::str::FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bce" => Ok(Self::Bce),
            "mse" => Ok(Self::Mse),
            o => Err(format!("unknown loss '{o}': choose bce or mse")),
        }
    }
}

impl LossKind {
    /// Name as printed and stored.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bce => "bce",
            Self::Mse => "mse",
        }
    }
}

/// Stable BCE-with-logits of one element, float64.
pub fn bce_with_logits_scalar(z: f64, t: f64) -> f64 {
    z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()
}

/// CPU twin of `bce_with_logits_forward`: per-row sums.
pub fn bce_forward_ref(z: &[f64], t: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| bce_with_logits_scalar(z[r * cols + c], t[r * cols + c]))
                .sum()
        })
        .collect()
}

/// CPU twin of `bce_with_logits_backward`: d_z = d_loss\[row\]·(σ(z) − t).
pub fn bce_backward_ref(z: &[f64], t: &[f64], d_loss: &[f64], cols: usize) -> Vec<f64> {
    z.iter()
        .zip(t)
        .enumerate()
        .map(|(i, (&z, &t))| d_loss[i / cols] * (super::Act::Sigmoid.apply(z) - t))
        .collect()
}

/// CPU twin of `mse_forward`.
pub fn mse_forward_ref(y: &[f64], t: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| (y[r * cols + c] - t[r * cols + c]).powi(2))
                .sum()
        })
        .collect()
}

/// CPU twin of `mse_backward`: d_y = d_loss\[row\]·2(y − t).
pub fn mse_backward_ref(y: &[f64], t: &[f64], d_loss: &[f64], cols: usize) -> Vec<f64> {
    y.iter()
        .zip(t)
        .enumerate()
        .map(|(i, (&y, &t))| d_loss[i / cols] * 2.0 * (y - t))
        .collect()
}

/// Whether the texture forms (`shaders/loss_tex.wgsl`) can compute a loss over [rows, cols]:
/// rows of whole texels, and a grid of one row per z layer.
pub fn texture_applies(rows: usize, cols: usize) -> bool {
    cols.is_multiple_of(4) && rows <= super::MAX_GRID_LAYERS
}

/// Dispatch of a per-row loss forward: bindings (loss, pred, target); one workgroup per row.
/// `Reads::Texture` reads pred and target from texture copies where [`texture_applies`].
pub fn forward_call(kind: LossKind, rows: usize, cols: usize, reads: Reads) -> KernelCall {
    let entry = match kind {
        LossKind::Bce => "bce_with_logits_forward_tex",
        LossKind::Mse => "mse_forward_tex",
    };
    // One invocation per row.
    let per_row = Workgroups::Items {
        n: rows as u64,
        wg: 64,
    };
    let c = forward_storage(kind, rows, cols);
    let applies = texture_applies(rows, cols);
    texture_form(c, reads, applies, entry, per_row, &[0, 1], rows * cols)
}

fn forward_storage(kind: LossKind, rows: usize, cols: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Loss,
        entry: match kind {
            LossKind::Bce => "bce_with_logits_forward",
            LossKind::Mse => "mse_forward",
        },
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1)],
        params: vec![rows as u32, cols as u32],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: rows as u64 * 64,
            wg: 64,
        },
        flops: 6 * (rows * cols) as u64,
        bytes: 4 * (2 * rows * cols + rows) as u64,
    }
}

/// Dispatch of a loss backward: bindings (d_pred, pred, target, d_loss). `Reads::Texture`
/// reads pred and target from texture copies: one workgroup of `row_wg` invocations per row
/// (grid z), each taking four values at a time.
pub fn backward_call(
    kind: LossKind,
    rows: usize,
    cols: usize,
    reads: Reads,
    row_wg: u32,
) -> KernelCall {
    let entry = match kind {
        LossKind::Bce => "bce_with_logits_backward_tex",
        LossKind::Mse => "mse_backward_tex",
    };
    let per_row = Workgroups::Layers {
        n: row_wg as u64,
        wg: row_wg,
        layers: rows as u32,
    };
    let c = backward_storage(kind, rows, cols);
    let applies = texture_applies(rows, cols);
    let mut t = texture_form(c, reads, applies, entry, per_row, &[0, 1], rows * cols);
    if t.entry == entry {
        t.constants.push(("WALK_WG", row_wg as f64));
    }
    t
}

fn backward_storage(kind: LossKind, rows: usize, cols: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Loss,
        entry: match kind {
            LossKind::Bce => "bce_with_logits_backward",
            LossKind::Mse => "mse_backward",
        },
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1), Bind::Input(2)],
        params: vec![rows as u32, cols as u32],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: (rows * cols) as u64,
            wg: 256,
        },
        flops: 6 * (rows * cols) as u64,
        bytes: 4 * (3 * rows * cols + rows) as u64,
    }
}
