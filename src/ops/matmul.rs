//! Matrix multiply with fused bias and activation (`shaders/matmul.wgsl`).
//!
//! Forward: `C = act(op(A)·op(B) + bias)`, op = identity or transpose on either side.
//!
//! # Backward, derived
//! Let P = op(A)·op(B) + bias be the pre-activation and dP = act'(C) ⊙ dC. For one element,
//! P[m,n] = Σ_k op(A)[m,k]·op(B)[k,n], so ∂L/∂op(A)[m,k] = Σ_n dP[m,n]·op(B)[k,n], i.e.
//! d op(A) = dP · op(B)ᵀ, and likewise d op(B) = op(A)ᵀ · dP. Undoing the op:
//!
//! | stored    | gradient                                         | as one matmul call            |
//! |-----------|--------------------------------------------------|-------------------------------|
//! | A [M,K]   | dA = dP · op(B)ᵀ                                 | matmul(dP, B, tb = !TRANS_B)  |
//! | A [K,M]   | dA = (dP · op(B)ᵀ)ᵀ = op(B) · dPᵀ                | matmul(B, dP, ta = TRANS_B, tb = true) |
//! | B [K,N]   | dB = op(A)ᵀ · dP                                 | matmul(A, dP, ta = !TRANS_A)  |
//! | B [N,K]   | dB = (op(A)ᵀ · dP)ᵀ = dPᵀ · op(A)                | matmul(dP, A, ta = true, tb = TRANS_A) |
//! | bias [N]  | dbias[n] = Σ_m dP[m,n]                           | column_sum(dP)                |
//!
//! So backward is itself made of forward kernels: no transpose is ever copied.

use super::{Act, Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// Rows and columns of C covered by one workgroup of the register-blocked kernel.
pub const TILE: u32 = 64;
/// Threads per workgroup side (16×16) for both variants.
pub const WG_SIDE: u32 = 16;

/// Which kernel computes the product (`--variant`, `bench`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Variant {
    /// One invocation per output: the reference.
    Naive,
    /// 4×4 outputs per invocation held in registers.
    #[default]
    Blocked,
}

/// Shape of one product: op(A) is [m, k], op(B) is [k, n].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl MatmulShape {
    /// FLOPs of the product (2·M·N·K).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }
}

/// CPU twin of `matmul`: C = act(op(A)·op(B) + bias), float64, row-major.
pub fn forward_ref(a: &[f64], b: &[f64], bias: Option<&[f64]>, s: MatmulShape, act: Act) -> Vec<f64> {
    let MatmulShape { m, n, k, trans_a, trans_b } = s;
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0;
            for kk in 0..k {
                let av = if trans_a { a[kk * m + i] } else { a[i * k + kk] };
                let bv = if trans_b { b[j * k + kk] } else { b[kk * n + j] };
                acc += av * bv;
            }
            if let Some(bias) = bias {
                acc += bias[j];
            }
            c[i * n + j] = act.apply(acc);
        }
    }
    c
}

/// Dispatch of the product: bindings (c, a, b, bias or dummy).
pub fn call(s: MatmulShape, has_bias: bool, act: Act, variant: Variant) -> KernelCall {
    let mut constants = act.constants();
    constants.push(("TRANS_A", s.trans_a as u8 as f64));
    constants.push(("TRANS_B", s.trans_b as u8 as f64));
    constants.push(("HAS_BIAS", has_bias as u8 as f64));
    let (entry, workgroups) = match variant {
        Variant::Naive => (
            "matmul_naive",
            [(s.n as u32).div_ceil(WG_SIDE), (s.m as u32).div_ceil(WG_SIDE), 1],
        ),
        Variant::Blocked => (
            "matmul",
            [(s.n as u32).div_ceil(TILE), (s.m as u32).div_ceil(TILE), 1],
        ),
    };
    KernelCall {
        shader: Shader::Matmul,
        entry,
        constants,
        bindings: vec![
            Bind::Output,
            Bind::Input(0),
            Bind::Input(1),
            if has_bias { Bind::Input(2) } else { Bind::Dummy },
        ],
        params: vec![s.m as u32, s.n as u32, s.k as u32],
        uses_step: false,
        workgroups: Workgroups::Fixed(workgroups),
        flops: s.flops() + if has_bias { (s.m * s.n) as u64 } else { 0 },
        bytes: 4 * (s.m * s.k + s.k * s.n + s.m * s.n + if has_bias { s.n } else { 0 }) as u64,
    }
}
