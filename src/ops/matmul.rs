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
    /// `Vec4`'s block with A and B fetched from textures the plan copies them into
    /// (`matmul_tex.wgsl`); M, N, K multiples of 4.
    Texture,
    /// 16×4 outputs per invocation, textures, A shared through subgroup broadcasts
    /// (`matmul_sg.wgsl`); M, N, K multiples of 4, and subgroups the shape allows (see
    /// [`Variant::runs_on`]).
    Subgroup,
    /// `Subgroup` with 32×4 outputs per invocation: each fetch of B serves twice the FMAs,
    /// for twice the accumulators.
    Subgroup32,
    /// `Subgroup` software-pipelined (`matmul_tex_sg_pipe`): each step of the K loop fetches
    /// the next step's A and B before multiplying the current ones.
    SubgroupPipe,
    /// `SubgroupPipe` (16 rows) reading B from a copy cut into strips of 32 columns
    /// (`matmul_tex_sg_strips`, [`Bind::Strips`]), so that walking down K reads consecutive
    /// memory; B untransposed, N a multiple of 64 (the copy's row alignment) and at least 64.
    SubgroupStrips,
    /// The engine's choice: the autotuner's pick for this device and shape class when it
    /// is on (see [`crate::tune`]), else `Vec4` when the shape allows it and `Blocked` if not.
    #[default]
    Auto,
}

/// The variants that compete in autotuning, fastest-first on no device in particular (the
/// naive kernel is the reference and never competes).
pub const TUNED: [Variant; 7] = [
    Variant::Vec4,
    Variant::Texture,
    Variant::Subgroup,
    Variant::Subgroup32,
    Variant::SubgroupPipe,
    Variant::SubgroupStrips,
    Variant::Blocked,
];

/// Texels (of 4 floats) a strip of B is wide in `subgroup_strips`: the 32 columns a subgroup
/// of 8 invocations covers (`STRIP_W` in `matmul_sg.wgsl`). [`Variant::applies`] asks N to be
/// a multiple of 64 for the copies (rows of N·4 bytes, a multiple of the 256-byte alignment)
/// and at most 256 strips (WebGPU's guaranteed array layers).
pub const STRIP_TEXELS: u32 = 8;

/// Height limit assumed for the texture variant's textures: WebGPU's guaranteed minimum of
/// `max_texture_dimension_2d`, so a plan never depends on a device's larger limit.
pub const TEX_MAX_DIM: usize = 8192;

/// log2 of the texture width (in 4-float texels) that holds `floats` floats within
/// [`TEX_MAX_DIM`] rows: 256 texels (4 KiB rows, a multiple of the 256-byte copy alignment)
/// unless the height would pass the limit. None when even the widest texture is too small.
pub fn tex_logw(floats: usize) -> Option<u32> {
    tex_logw_for(floats.div_ceil(4), 8)
}

/// log2 of the narrowest texture width, at least `2^min_logw` texels, that holds `texels`
/// texels within [`TEX_MAX_DIM`] rows.
pub fn tex_logw_for(texels: usize, min_logw: u32) -> Option<u32> {
    (min_logw..=TEX_MAX_DIM.trailing_zeros()).find(|&l| texels.div_ceil(1 << l) <= TEX_MAX_DIM)
}

impl Variant {
    /// Whether this variant can compute `s`.
    pub fn applies(self, s: &MatmulShape) -> bool {
        match self {
            Variant::Vec4 => s.vec4_aligned(),
            Variant::Texture | Variant::Subgroup | Variant::Subgroup32 | Variant::SubgroupPipe => {
                s.vec4_aligned() && tex_logw((s.m * s.k).max(s.k * s.n)).is_some()
            }
            // One layer per strip, within WebGPU's guaranteed 256 layers and 8192 rows.
            Variant::SubgroupStrips => {
                Variant::SubgroupPipe.applies(s)
                    && !s.trans_b
                    && s.n >= 64
                    && s.n.is_multiple_of(64)
                    && s.n / (4 * STRIP_TEXELS as usize) <= 256
                    && s.k <= TEX_MAX_DIM
            }
            _ => true,
        }
    }

    /// Whether this variant can compute `s` on `gpu`: [`Variant::applies`], and for
    /// `Subgroup` a device with subgroup operations whose subgroups hold 8 to 64 invocations
    /// (lanes 0..7 fetch for the whole subgroup, which must fit a row of blocks: [`sg_cols`]).
    pub fn runs_on(self, gpu: &crate::gpu::Gpu, s: &MatmulShape) -> bool {
        self.applies(s)
            && (!self.is_subgroup()
                || (gpu.features.contains(wgpu::Features::SUBGROUP)
                    && gpu.info.subgroup_min_size >= 8
                    && gpu.info.subgroup_max_size <= 64))
    }

    /// Whether this is one of the subgroup kernels (`matmul_tex_sg`).
    pub fn is_subgroup(self) -> bool {
        matches!(
            self,
            Variant::Subgroup
                | Variant::Subgroup32
                | Variant::SubgroupPipe
                | Variant::SubgroupStrips
        )
    }

    /// The name `--variant` and the tune cache use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Naive => "naive",
            Variant::Blocked => "blocked",
            Variant::Vec4 => "vec4",
            Variant::Texture => "texture",
            Variant::Subgroup => "subgroup",
            Variant::Subgroup32 => "subgroup32",
            Variant::SubgroupPipe => "subgroup_pipe",
            Variant::SubgroupStrips => "subgroup_strips",
            Variant::Auto => "auto",
        }
    }

    /// Every variant that names a kernel, reference first (`bench` rows, tests).
    pub const ALL: [Variant; 8] = [
        Variant::Naive,
        Variant::Blocked,
        Variant::Vec4,
        Variant::Texture,
        Variant::Subgroup,
        Variant::Subgroup32,
        Variant::SubgroupPipe,
        Variant::SubgroupStrips,
    ];

    /// The variant called `name` (as [`Variant::name`] writes it).
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL
            .into_iter()
            .chain([Variant::Auto])
            .find(|v| v.name() == name)
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

/// Invocations across N in a 64-invocation workgroup of `matmul_tex_sg` (4 columns each; the
/// rest of the workgroup stacks block rows of `rows`, 16 or 32): as few as M allows, so the workgroup's
/// subgroups share columns of B and walk different rows of A. Each block row must hold whole
/// subgroups (at least `subgroup`, the device's largest), and no more columns than N needs.
///
/// Why few: a workgroup's subgroups run one after another on lavapipe, each over all of K.
/// With 64 columns a row (the earlier rule) they shared 16 rows of A but each streamed its
/// own columns of B (1 MiB of B per workgroup at 1024²); with 8 they share B's columns, and
/// 1024² ran ~1.5× faster (BENCHMARKS.md).
pub fn sg_cols(m: usize, n: usize, subgroup: u32, rows: u32) -> u32 {
    let for_n = (n as u32).div_ceil(4).next_power_of_two().clamp(8, 64);
    let block_rows = (m as u32).div_ceil(rows).next_power_of_two().min(8);
    (64 / block_rows).min(for_n).max(subgroup.max(8)).min(64)
}

/// Workgroup shape and grid of the 8×8-block kernels (`matmul_block.wgsl`): up to 8 rows of
/// blocks down M (as many as M has) and 64 / rows blocks across N (no more than N needs), at
/// least 16 invocations. As in [`sg_cols`], stacking rows lets a workgroup's invocations share
/// columns of B: `matmul_tex` at 1024² went from ~375 to ~235 ms on lavapipe.
fn block_grid(s: &MatmulShape, constants: &mut Vec<(&'static str, f64)>) -> [u32; 3] {
    let for_n = (s.n as u32).div_ceil(V_N).next_power_of_two().min(64);
    let block_rows = (s.m as u32).div_ceil(RB_M).next_power_of_two().min(8);
    let cols = (64 / block_rows).min(for_n);
    let wg = (cols * block_rows).max(16);
    constants.push(("WG", wg as f64));
    constants.push(("WG_COLS", cols as f64));
    [
        (s.n as u32).div_ceil(cols * V_N),
        (s.m as u32).div_ceil(RB_M * (wg / cols)),
        1,
    ]
}

/// Dispatch of the product: bindings (c, a, b, bias or dummy).
/// `subgroup` is the device's largest subgroup size (only the subgroup variant uses it).
pub fn call(
    s: MatmulShape,
    has_bias: bool,
    act: Act,
    variant: Variant,
    subgroup: u32,
) -> KernelCall {
    let mut constants = act.constants();
    constants.push(("TRANS_A", s.trans_a as u8 as f64));
    constants.push(("TRANS_B", s.trans_b as u8 as f64));
    constants.push(("HAS_BIAS", has_bias as u8 as f64));
    let variant = variant.resolve(&s);
    assert!(
        variant.applies(&s),
        "matmul variant {} cannot compute {s:?} (see Variant::applies)",
        variant.name()
    );
    let (mut a_bind, mut b_bind) = (Bind::Input(0), Bind::Input(1));
    if variant == Variant::Texture || variant.is_subgroup() {
        // A and B are read from rgba32float copies (see matmul_tex.wgsl).
        let logw = tex_logw((s.m * s.k).max(s.k * s.n)).expect("checked by applies");
        constants.push(("TEX_LOGW", logw as f64));
        let texture = |input| Bind::Texture { input, logw };
        (a_bind, b_bind) = (texture(0), texture(1));
        if variant == Variant::SubgroupStrips {
            b_bind = Bind::Strips {
                input: 1,
                row_texels: (s.n / 4) as u32,
                strip: STRIP_TEXELS,
            };
            constants.push(("STRIP_W", STRIP_TEXELS as f64));
        }
    }
    let mut shader = Shader::Matmul;
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
        Variant::Vec4 => ("matmul_vec4", block_grid(&s, &mut constants)),
        Variant::Texture => {
            shader = Shader::MatmulTex;
            ("matmul_tex", block_grid(&s, &mut constants))
        }
        Variant::Subgroup
        | Variant::Subgroup32
        | Variant::SubgroupPipe
        | Variant::SubgroupStrips => {
            let rows = if variant == Variant::Subgroup32 {
                32
            } else {
                16
            };
            let cols = sg_cols(s.m, s.n, subgroup, rows);
            constants.push(("WG", 64.0));
            constants.push(("WG_COLS", cols as f64));
            constants.push(("SG_M", rows as f64));
            shader = Shader::MatmulSg;
            (
                match variant {
                    Variant::SubgroupPipe => "matmul_tex_sg_pipe",
                    Variant::SubgroupStrips => "matmul_tex_sg_strips",
                    _ => "matmul_tex_sg",
                },
                [
                    (s.n as u32).div_ceil(cols * 4),
                    (s.m as u32).div_ceil(rows * (64 / cols)),
                    1,
                ],
            )
        }
        Variant::Auto => unreachable!("resolved above"),
    };
    KernelCall {
        shader,
        entry,
        constants,
        bindings: vec![
            Bind::Output,
            a_bind,
            b_bind,
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
