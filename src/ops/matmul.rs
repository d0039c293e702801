//! Matrix multiply with fused bias and activation (`shaders/matmul.wgsl`).
//!
//! Forward: `C = act(op(A)·op(B) + bias)`, op = identity or transpose on either side.
//!
//! # Backward, derived
//! Let P = op(A)·op(B) + bias be the pre-activation and dP = act'(C) ⊙ dC. For one element,
//! P\[m,n\] = Σ_k op(A)\[m,k\]·op(B)\[k,n\], so ∂L/∂op(A)\[m,k\] = Σ_n dP\[m,n\]·op(B)\[k,n\], i.e.
//! d op(A) = dP · op(B)ᵀ, and likewise d op(B) = op(A)ᵀ · dP. Undoing the op:
//!
//! | stored    | gradient                                         | as one matmul call            |
//! |-----------|--------------------------------------------------|-------------------------------|
//! | A \[M,K\]   | dA = dP · op(B)ᵀ                                 | matmul(dP, B, tb = !TRANS_B)  |
//! | A \[K,M\]   | dA = (dP · op(B)ᵀ)ᵀ = op(B) · dPᵀ                | matmul(B, dP, ta = TRANS_B, tb = true) |
//! | B \[K,N\]   | dB = op(A)ᵀ · dP                                 | matmul(A, dP, ta = !TRANS_A)  |
//! | B \[N,K\]   | dB = (op(A)ᵀ · dP)ᵀ = dPᵀ · op(A)                | matmul(dP, A, ta = true, tb = TRANS_A) |
//! | bias \[N\]  | dbias\[n\] = Σ_m dP\[m,n\]                           | column_sum(dP)                |
//!
//! So backward is itself made of forward kernels: no transpose is ever copied.

use super::{Act, Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// Threads per workgroup side (16×16) of the naive kernel.
pub const NAIVE_WG: u32 = 16;
/// Rows of C per workgroup of the register-blocked kernel (`RB_M` in WGSL).
pub const RB_M: u32 = 8;
/// Consecutive columns of C per invocation of the register-blocked kernel (`RB_N`).
pub const RB_N: u32 = 4;

/// Invocations per workgroup of the register-blocked kernel for `n` columns: enough to
/// cover them, between 8 and 64 (a power of two).
pub fn blocked_wg(n: usize) -> u32 {
    (n as u32).div_ceil(RB_N).next_power_of_two().clamp(8, 64)
}

/// Which kernel computes the product (`bench` shows them side by side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Variant {
    /// One invocation per output: the reference.
    Naive,
    /// 8×4 outputs per invocation held in registers; any shape.
    Blocked,
    /// 8×8 outputs per invocation, 16-byte loads and stores; M, N, K multiples of 4.
    Vec4,
    /// `Vec4` when the shape allows it, else `Blocked`: what the engine uses.
    #[default]
    Auto,
}

impl Variant {
    /// Whether this variant can compute `s`.
    pub fn applies(self, s: &MatmulShape) -> bool {
        self != Variant::Vec4 || s.vec4_aligned()
    }

    /// The variant that will actually run for `s`.
    pub fn resolve(self, s: &MatmulShape) -> Variant {
        let aligned = s.vec4_aligned();
        match self {
            Variant::Auto if aligned => Variant::Vec4,
            Variant::Auto => Variant::Blocked,
            v => v,
        }
    }
}

/// Columns of C per invocation of `matmul_vec4`.
pub const V_N: u32 = 8;

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
    /// True when M, N and K are multiples of 4 (what `matmul_vec4` needs).
    pub fn vec4_aligned(&self) -> bool {
        self.m.is_multiple_of(4) && self.n.is_multiple_of(4) && self.k.is_multiple_of(4)
    }

    /// FLOPs of the product (2·M·N·K).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }
}

/// CPU twin of `matmul`: C = act(op(A)·op(B) + bias), float64, row-major.
pub fn forward_ref(
    a: &[f64],
    b: &[f64],
    bias: Option<&[f64]>,
    s: MatmulShape,
    act: Act,
) -> Vec<f64> {
    let MatmulShape {
        m,
        n,
        k,
        trans_a,
        trans_b,
    } = s;
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0;
            for kk in 0..k {
                let av = if trans_a {
                    a[kk * m + i]
                } else {
                    a[i * k + kk]
                };
                let bv = if trans_b {
                    b[j * k + kk]
                } else {
                    b[kk * n + j]
                };
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
    let variant = variant.resolve(&s);
    assert!(
        variant.applies(&s),
        "matmul_vec4 needs M, N, K multiples of 4, got {s:?}"
    );
    let (entry, workgroups) = match variant {
        Variant::Naive => (
            "matmul_naive",
            [
                (s.n as u32).div_ceil(NAIVE_WG),
                (s.m as u32).div_ceil(NAIVE_WG),
                1,
            ],
        ),
        Variant::Blocked => {
            let wg = blocked_wg(s.n);
            constants.push(("WG", wg as f64));
            (
                "matmul",
                [
                    (s.n as u32).div_ceil(wg * RB_N),
                    (s.m as u32).div_ceil(RB_M),
                    1,
                ],
            )
        }
        Variant::Vec4 => {
            let wg = (s.n as u32).div_ceil(V_N).next_power_of_two().clamp(8, 64);
            constants.push(("WG", wg as f64));
            (
                "matmul_vec4",
                [
                    (s.n as u32).div_ceil(wg * V_N),
                    (s.m as u32).div_ceil(RB_M),
                    1,
                ],
            )
        }
        Variant::Auto => unreachable!("resolved above"),
    };
    KernelCall {
        shader: Shader::Matmul,
        entry,
        constants,
        bindings: vec![
            Bind::Output,
            Bind::Input(0),
            Bind::Input(1),
            if has_bias {
                Bind::Input(2)
            } else {
                Bind::Dummy
            },
        ],
        params: vec![s.m as u32, s.n as u32, s.k as u32],
        uses_step: false,
        workgroups: Workgroups::Fixed(workgroups),
        flops: s.flops() + if has_bias { (s.m * s.n) as u64 } else { 0 },
        bytes: 4 * (s.m * s.k + s.k * s.n + s.m * s.n + if has_bias { s.n } else { 0 }) as u64,
    }
}
