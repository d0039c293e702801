//! 2-D convolution, its gradients and the transposed convolution (`shaders/conv.wgsl`).
//!
//! # Layout
//! Activations are NCHW (`x[n, c, y, x]` at `((n·C + c)·H + y)·W + x`), weights HWIO
//! (`w[ky, kx, ci, co]` at `((ky·KW + kx)·Cin + ci)·Cout + co`, Keras' order), biases `[Cout]`.
//!
//! # Math
//! With P the pre-activation and dP = act'(y) ⊙ dy:
//! - forward: P\[n,co,oy,ox\] = b\[co\] + Σ_{ci,ky,kx} x\[n, ci, oy·s − ph + ky, ox·s − pw + kx\]·w\[ky,kx,ci,co\]
//! - input gradient: dx = convᵀ(dP), the adjoint of the linear map x ↦ P − b: every input
//!   pixel collects dP·w from the outputs whose window covered it;
//! - weight gradient: dw\[ky,kx,ci,co\] = Σ_{n,oy,ox} dP\[n,co,oy,ox\]·x\[n, ci, oy·s − ph + ky, ox·s − pw + kx\],
//!   computed per sample and summed over samples by `column_sum`;
//! - bias gradient: db\[co\] = Σ_{n,oy,ox} dP\[n,co,oy,ox\] (`row_sum` over pixels, then `column_sum`).
//!
//! The transposed convolution (a learned upsampler) is the input-gradient kernel run forward
//! with a bias and an activation; its own gradients are a convolution (for its input) and the
//! weight-gradient kernel with x and dP exchanged. [`ConvGeom`] always describes the
//! *convolution*: for a transposed one, its input is the convolution's output side.
//!
//! Direct convolution rather than im2col + matmul: see the header of `conv.wgsl`.

use super::{Act, Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// How a convolution pads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Output ⌈H/s⌉ × ⌈W/s⌉; the padding needed is split with the extra row/column at the
    /// bottom/right, as Keras and TensorFlow do.
    Same,
    /// No padding: output ⌊(H − K)/s⌋ + 1.
    Valid,
    /// (top, left) rows and columns of zeros on each side: output ⌊(H + 2p − K)/s⌋ + 1.
    Explicit(usize, usize),
}

/// The shape of one convolution: input [n, c_in, h, w] → output [n, c_out, h_out, w_out].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    /// Zero rows above / columns left of the input (the bottom/right follow from h_out).
    pub pad_h: usize,
    pub pad_w: usize,
    /// 1, or 2 where the convolution reads its input upsampled 2× (nearest neighbour) on the
    /// fly: the node's input is then [n, c_in, h/2, w/2], and h, w (and everything above)
    /// describe the upsampled input the taps see ([`ConvGeom::reading_upsampled`]).
    pub up: usize,
}

fn out_and_pad(size: usize, k: usize, s: usize, pad: Padding, explicit: usize) -> (usize, usize) {
    match pad {
        Padding::Same => {
            let out = size.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(size);
            (out, total / 2)
        }
        Padding::Valid => ((size.saturating_sub(k)) / s + 1, 0),
        Padding::Explicit(..) => ((size + 2 * explicit).saturating_sub(k) / s + 1, explicit),
    }
}

impl ConvGeom {
    /// The geometry of a `kh × kw` convolution of stride `stride` over [n, c_in, h, w].
    /// Panics when the kernel does not fit (a model-definition error).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n: usize,
        c_in: usize,
        (h, w): (usize, usize),
        c_out: usize,
        (kh, kw): (usize, usize),
        stride: usize,
        padding: Padding,
    ) -> ConvGeom {
        assert!(
            n > 0 && c_in > 0 && c_out > 0 && kh > 0 && kw > 0 && stride > 0,
            "conv: sizes must be positive"
        );
        let (ph, pw) = match padding {
            Padding::Explicit(a, b) => (a, b),
            _ => (0, 0),
        };
        assert!(
            padding == Padding::Same || (h + 2 * ph >= kh && w + 2 * pw >= kw),
            "conv: a {kh}×{kw} kernel does not fit a {h}×{w} input with padding {padding:?}"
        );
        let (h_out, pad_h) = out_and_pad(h, kh, stride, padding, ph);
        let (w_out, pad_w) = out_and_pad(w, kw, stride, padding, pw);
        ConvGeom {
            n,
            c_in,
            h,
            w,
            c_out,
            h_out,
            w_out,
            kh,
            kw,
            stride,
            pad_h,
            pad_w,
            up: 1,
        }
    }

    /// This convolution reading the 2× nearest-neighbour upsampling of a tensor half its
    /// input's size, without the upsampled tensor: what a decoder's `upsample` then `conv`
    /// computes, in one kernel (the forward and the weight gradient read source pixel
    /// (y/2, x/2) for tap position (y, x)). Stride 1, even input sizes.
    /// Kernels up to 7×7 and padding smaller than the kernel, so that its input gradient is
    /// a convolution of its own ([`ConvGeom::folded_input_gradient`]).
    pub fn reading_upsampled(self) -> ConvGeom {
        assert!(
            self.stride == 1 && self.h.is_multiple_of(2) && self.w.is_multiple_of(2),
            "conv: an upsampled input needs stride 1 and even sizes ({self:?})"
        );
        assert!(
            self.kh < MAX_KW && self.kw < MAX_KW && self.pad_h < self.kh && self.pad_w < self.kw,
            "conv: an upsampled input needs a kernel up to {0}×{0} and less padding than \
             the kernel ({self:?})",
            MAX_KW - 1
        );
        ConvGeom { up: 2, ..self }
    }

    /// The input gradient of this convolution of an input upsampled on the fly (`up` = 2),
    /// as a convolution of the output gradient in its own right: stride 2, a kernel one
    /// larger each way, padding kh − 1 − ph (kw − 1 − pw), channels exchanged, and the
    /// small tensor's size out. Its weights are [`fold_upsampled_weights_ref`]'s.
    ///
    /// Source row y was copied to upsampled rows 2y and 2y + 1, which tap ky of output rows
    /// Y = 2y + a + ph − ky (a = 0, 1) read. So dx\[y\] = Σ_{a,ky} w\[ky\]·dP\[2y + a + ph − ky\]:
    /// with u = a + kh − 1 − ky (0..kh), that is Σ_u w'\[u\]·dP\[2y − (kh − 1 − ph) + u\], a
    /// stride-2 convolution whose tap u carries w'\[u\] = w\[kh − 1 − u\] + w\[kh − u\] (the
    /// terms inside 0..kh); the same along x. It does 16/36 of the multiply-adds of the
    /// transposed convolution to the upsampled size (3×3 kernels), and neither it nor the 2×2
    /// block sums after it write the 4×-size gradient.
    pub fn folded_input_gradient(&self) -> ConvGeom {
        assert_eq!(self.up, 2, "only an upsampled input's gradient folds");
        ConvGeom {
            n: self.n,
            c_in: self.c_out,
            h: self.h_out,
            w: self.w_out,
            c_out: self.c_in,
            h_out: self.h / 2,
            w_out: self.w / 2,
            kh: self.kh + 1,
            kw: self.kw + 1,
            stride: 2,
            pad_h: self.kh - 1 - self.pad_h,
            pad_w: self.kw - 1 - self.pad_w,
            up: 1,
        }
    }

    /// The same convolution over an input that is really there (`up` = 1): upsampling then
    /// this is the two steps an `up` = 2 convolution fuses.
    pub fn plain(self) -> ConvGeom {
        ConvGeom { up: 1, ..self }
    }

    /// The convolution whose adjoint is a transposed convolution from [n, c_in, h, w] to
    /// [n, c_out, h·s, w·s] ("same" padding, as Keras' `Conv2DTranspose(padding="same")`).
    pub fn transposed_same(
        n: usize,
        c_in: usize,
        (h, w): (usize, usize),
        c_out: usize,
        k: usize,
        stride: usize,
    ) -> ConvGeom {
        let g = ConvGeom::new(
            n,
            c_out,
            (h * stride, w * stride),
            c_in,
            (k, k),
            stride,
            Padding::Same,
        );
        debug_assert_eq!((g.h_out, g.w_out), (h, w));
        g
    }

    /// Elements of the weight tensor.
    pub fn weight_len(&self) -> usize {
        self.kh * self.kw * self.c_in * self.c_out
    }

    /// The weight tensor's shape \[kh, kw, c_in, c_out\].
    pub fn weight_shape(&self) -> Vec<usize> {
        vec![self.kh, self.kw, self.c_in, self.c_out]
    }

    /// Input shape [n, c_in, h, w] (h/2, w/2 where the input is upsampled on the fly).
    pub fn in_shape(&self) -> Vec<usize> {
        vec![self.n, self.c_in, self.h / self.up, self.w / self.up]
    }

    /// Elements of the input tensor.
    pub fn in_len(&self) -> usize {
        self.n * self.c_in * (self.h / self.up) * (self.w / self.up)
    }

    /// Output shape [n, c_out, h_out, w_out].
    pub fn out_shape(&self) -> Vec<usize> {
        vec![self.n, self.c_out, self.h_out, self.w_out]
    }

    /// Multiply-adds of one forward pass (each gradient costs about the same).
    pub fn macs(&self) -> u64 {
        (self.n * self.c_out * self.h_out * self.w_out * self.c_in * self.kh * self.kw) as u64
    }

    /// The uniform `struct Conv` of the WGSL.
    pub fn words(&self) -> Vec<u32> {
        [
            self.n,
            self.c_in,
            self.h,
            self.w,
            self.c_out,
            self.h_out,
            self.w_out,
            self.kh,
            self.kw,
            self.stride,
            self.pad_h,
            self.pad_w,
        ]
        .iter()
        .map(|&v| v as u32)
        .collect()
    }

    /// The input coordinate a tap reads, or None in the padding.
    fn tap(&self, o: usize, k: usize, pad: usize, size: usize) -> Option<usize> {
        (o * self.stride + k).checked_sub(pad).filter(|&i| i < size)
    }

    /// Where tap position (y, x) of channel c lies in the input tensor: itself, or source
    /// pixel (y/2, x/2) of an input upsampled on the fly.
    fn x_at(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
        let (h, w) = (self.h / self.up, self.w / self.up);
        ((n * self.c_in + c) * h + y / self.up) * w + x / self.up
    }

    fn y_at(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
        ((n * self.c_out + c) * self.h_out + y) * self.w_out + x
    }

    fn w_at(&self, ky: usize, kx: usize, ci: usize, co: usize) -> usize {
        ((ky * self.kw + kx) * self.c_in + ci) * self.c_out + co
    }

    /// Calls `f(x index, y index, w index)` for every multiply-add of the forward pass: the
    /// one loop nest all three twins share, so they cannot disagree about the geometry.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        for n in 0..self.n {
            for co in 0..self.c_out {
                for oy in 0..self.h_out {
                    for ox in 0..self.w_out {
                        let yi = self.y_at(n, co, oy, ox);
                        for ci in 0..self.c_in {
                            for ky in 0..self.kh {
                                let Some(iy) = self.tap(oy, ky, self.pad_h, self.h) else {
                                    continue;
                                };
                                for kx in 0..self.kw {
                                    if let Some(ix) = self.tap(ox, kx, self.pad_w, self.w) {
                                        f(self.x_at(n, ci, iy, ix), yi, self.w_at(ky, kx, ci, co));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// CPU twin of `conv2d_forward`: y = act(conv(x, w) + b).
pub fn forward_ref(x: &[f64], w: &[f64], b: Option<&[f64]>, g: &ConvGeom, act: Act) -> Vec<f64> {
    let mut y = vec![0.0; g.n * g.c_out * g.h_out * g.w_out];
    g.for_each_tap(|xi, yi, wi| y[yi] += x[xi] * w[wi]);
    let plane = g.h_out * g.w_out;
    for (i, v) in y.iter_mut().enumerate() {
        let bias = b.map_or(0.0, |b| b[(i / plane) % g.c_out]);
        *v = act.apply(*v + bias);
    }
    y
}

/// CPU twin of `conv2d_backward_input` without bias/activation: dx = convᵀ(dP). For an
/// input upsampled on the fly (`up` = 2) this is the gradient of the tensor read, each
/// source pixel's the sum over the 2×2 block it was copied to (the engine computes it as a
/// stride-2 convolution with folded weights: [`ConvGeom::folded_input_gradient`]).
pub fn backward_input_ref(d_p: &[f64], w: &[f64], g: &ConvGeom) -> Vec<f64> {
    let mut dx = vec![0.0; g.in_len()];
    g.for_each_tap(|xi, yi, wi| dx[xi] += d_p[yi] * w[wi]);
    dx
}

/// CPU twin of `fold_upsampled_weights` (shaders/conv_fold.wgsl): the weights of `g`'s input
/// gradient as a convolution ([`ConvGeom::folded_input_gradient`]), HWIO
/// \[kh + 1, kw + 1, c_out, c_in\]: w'\[u, v, co, ci\] = Σ_{a, b ∈ {0, 1}} w\[kh − 1 − u + a,
/// kw − 1 − v + b, ci, co\] over the taps inside the kernel.
pub fn fold_upsampled_weights_ref(w: &[f64], g: &ConvGeom) -> Vec<f64> {
    let f = g.folded_input_gradient();
    let mut out = vec![0.0; f.weight_len()];
    for u in 0..f.kh {
        for v in 0..f.kw {
            for co in 0..g.c_out {
                for ci in 0..g.c_in {
                    let mut s = 0.0;
                    for a in 0..2 {
                        for b in 0..2 {
                            let (ky, kx) =
                                ((g.kh + a).checked_sub(u + 1), (g.kw + b).checked_sub(v + 1));
                            if let (Some(ky), Some(kx)) = (ky, kx) {
                                if ky < g.kh && kx < g.kw {
                                    s += w[g.w_at(ky, kx, ci, co)];
                                }
                            }
                        }
                    }
                    out[f.w_at(u, v, co, ci)] = s;
                }
            }
        }
    }
    out
}

/// `fold_upsampled_weights` (shaders/conv_fold.wgsl): bindings (w', w) for the convolution
/// `g` that reads its input upsampled on the fly; one invocation per folded weight.
pub fn fold_call(g: &ConvGeom) -> KernelCall {
    let n = g.folded_input_gradient().weight_len();
    KernelCall {
        shader: Shader::ConvFold,
        entry: "fold_upsampled_weights",
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: [g.kh, g.kw, g.c_in, g.c_out].map(|v| v as u32).to_vec(),
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 64,
        },
        flops: 3 * n as u64,
        bytes: 4 * (g.weight_len() + n) as u64,
    }
}

/// CPU twin of the transposed convolution: act(convᵀ(x) + b), x: the convolution's output side.
pub fn transpose_ref(x: &[f64], w: &[f64], b: Option<&[f64]>, g: &ConvGeom, act: Act) -> Vec<f64> {
    let mut y = backward_input_ref(x, w, g);
    let plane = g.h * g.w;
    for (i, v) in y.iter_mut().enumerate() {
        let bias = b.map_or(0.0, |b| b[(i / plane) % g.c_in]);
        *v = act.apply(*v + bias);
    }
    y
}

/// CPU twin of `conv2d_weight_grad`: per-sample weight gradients, [n, kh·kw·c_in·c_out].
pub fn weight_grad_ref(x: &[f64], d_p: &[f64], g: &ConvGeom) -> Vec<f64> {
    let nw = g.weight_len();
    let per = g.c_out * g.h_out * g.w_out;
    let mut part = vec![0.0; g.n * nw];
    g.for_each_tap(|xi, yi, wi| part[(yi / per) * nw + wi] += d_p[yi] * x[xi]);
    part
}

/// Pixels per invocation along x: 16 for rows 12 or more wide, 8 for rows 8–11 wide, else 4;
/// then fewer until the row segment one invocation reads ((PX − 1)·stride + KW values) fits
/// the kernel's 32-entry register window. 16 beat 8 on lavapipe by 15–25 % on the conv AE's
/// 28- and 14-wide layers (a longer row segment is loaded once for more outputs); above 16
/// the blocks spill (20 was 3× slower), and 16 on 8-wide rows or 8 on 4-wide rows measured
/// slower than the rule's choice.
fn pixels_per_item(width: usize, g: &ConvGeom) -> usize {
    let first = match width {
        12.. => 16,
        8..=11 => 8,
        _ => 4,
    };
    [first, 8, 4, 1]
        .into_iter()
        .filter(|&px| px <= first)
        .find(|px| (px - 1) * g.stride + g.kw <= 32)
        .unwrap_or(1)
}

/// Where the row segments a kernel reads start within their texels: at one offset, at one of
/// two, or anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SegStarts {
    /// Rows a multiple of 4 long, each block a multiple of 4 floats in: every segment starts
    /// at the same offset.
    One,
    /// Rows 2 (mod 4) long in planes a multiple of 4 floats, blocks as above: rows that start
    /// a multiple of 4 floats in start their segments at the offset, the others 2 further.
    Two,
    /// Per invocation.
    Any,
}

impl SegStarts {
    /// Which case rows `width` long in planes of `height` rows are, with blocks starting
    /// `block_step` floats apart.
    fn of(width: usize, height: usize, block_step: usize) -> SegStarts {
        if !block_step.is_multiple_of(4) {
            SegStarts::Any
        } else if width.is_multiple_of(4) {
            SegStarts::One
        } else if width % 4 == 2 && (width * height).is_multiple_of(4) {
            SegStarts::Two
        } else {
            SegStarts::Any
        }
    }
}

/// The direct kernels' grid divisors (`X_BLOCKS`, `ROWS`) and the segments' offsets within a
/// texel on rows that start a multiple of 4 floats in, `seg_off`: `SEG_OFF` where `starts`
/// fixes it, and `SEG_OFF2` for the other rows where there are two (4: not fixed).
fn grid_constants(
    x_blocks: usize,
    rows: usize,
    starts: SegStarts,
    seg_off: i64,
) -> [(&'static str, f64); 4] {
    let (first, second) = match starts {
        SegStarts::One => (seg_off, 4),
        SegStarts::Two => (seg_off, (seg_off + 2) % 4),
        SegStarts::Any => (4, 4),
    };
    [
        ("X_BLOCKS", x_blocks as f64),
        ("ROWS", rows as f64),
        ("SEG_OFF", first as f64),
        ("SEG_OFF2", second as f64),
    ]
}

/// The widest kernel the direct kernels take (`MAX_KW` in conv_direct.wgsl).
const MAX_KW: usize = 8;

fn call(entry: &'static str, g: &ConvGeom, items: usize, px: usize, loads: usize) -> KernelCall {
    assert!(
        g.kw <= MAX_KW,
        "conv kernels take kernels up to {MAX_KW} wide (got {}×{})",
        g.kh,
        g.kw
    );
    KernelCall {
        shader: Shader::Conv,
        entry,
        constants: vec![
            ("KH", g.kh as f64),
            ("KW", g.kw as f64),
            ("STRIDE", g.stride as f64),
            ("PX", px as f64),
            ("CH_LOADS", loads.min(BLOCK) as f64),
            ("WGT_QUADS", g.c_out.is_multiple_of(BLOCK) as u8 as f64),
            ("UP", g.up as f64),
            // The parity of the forward's first segment column (blocks start at even
            // columns): the source offsets of an upsampled row.
            ("X0_ODD", (g.up == 2 && g.pad_w % 2 == 1) as u8 as f64),
        ],
        bindings: vec![],
        params: g.words(),
        uses_step: false,
        workgroups: Workgroups::Items {
            n: items as u64,
            wg: 64,
        },
        flops: 2 * g.macs(),
        bytes: 4 * (g.in_len() + g.n * g.c_out * g.h_out * g.w_out + g.weight_len()) as u64,
    }
}

/// Which kernels compute a convolution (`bench` shows them side by side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Variant {
    /// One invocation per output value, plain loops (`conv2d_naive_*`): the reference.
    Naive,
    /// Register-blocked direct convolution (`conv2d_forward`, …).
    Direct,
    /// The direct kernels with activations fetched from textures and weights from a uniform
    /// buffer the plan copies them into (`conv_tex.wgsl`); direct where a tensor is too large.
    Texture,
    /// `Texture` with each channel's taps fetched once per subgroup and broadcast
    /// (`conv_tex_sg.wgsl`): forward and input gradient of kernels up to 3×3, on devices with
    /// subgroups of 8 or more ([`Variant::runs_on`]); the weight gradient (no weights to
    /// share) runs `Texture`'s.
    Subgroup,
    /// The engine's choice: pinned, tuned or `Direct` (see [`crate::tune`]); runs as
    /// `Direct` when a plan is compiled without a context's choice.
    #[default]
    Auto,
}

impl Variant {
    /// The name `--variant conv=…` and the tune cache use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Naive => "naive",
            Variant::Direct => "direct",
            Variant::Texture => "texture",
            Variant::Subgroup => "subgroup",
            Variant::Auto => "auto",
        }
    }

    /// Whether this variant has its own kernel for `kernel` at `g` on `gpu`: `Subgroup` needs
    /// subgroup operations with subgroups of at least 8 (lanes 0..7 fetch the taps), a
    /// kernel of at most 3×3 (one larger each way for the folded input gradient of an input
    /// upsampled on the fly), and is not a weight gradient. The others always do.
    pub fn runs_on(self, gpu: &crate::gpu::Gpu, g: &ConvGeom, kernel: Kernel) -> bool {
        let g = match kernel {
            Kernel::BackwardInput if g.up == 2 => g.folded_input_gradient(),
            _ => *g,
        };
        self != Variant::Subgroup
            || (gpu.features.contains(wgpu::Features::SUBGROUP)
                && gpu.info.subgroup_min_size >= 8
                && g.kh <= 3
                && g.kw <= 3
                && kernel != Kernel::WeightGrad)
    }
}

/// The three convolution kernels (a transposed convolution runs `BackwardInput`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Forward,
    BackwardInput,
    WeightGrad,
}

impl Kernel {
    /// `forward`, `backward_input` or `weight_grad`, as in the entry points' names.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Forward => "forward",
            Kernel::BackwardInput => "backward_input",
            Kernel::WeightGrad => "weight_grad",
        }
    }
}

/// The variants that compete in autotuning where they run (the naive kernels are the
/// reference).
pub const TUNED: [Variant; 3] = [Variant::Direct, Variant::Texture, Variant::Subgroup];

/// The texture kernel `c` storing its output as vec4s (`conv_store4.wgsl`) where every block
/// row starts on a 16-byte boundary (blocks of 8 or 16 pixels, rows of `width` a multiple of
/// 4), or as pairs (`conv_store2.wgsl`) where rows have even length.
fn vec4_rows(mut c: KernelCall, px: usize, width: usize) -> KernelCall {
    // `pixels_per_item` gives 16, 8, 4 or 1, so blocks of 8 or more are whole vec4s.
    if px >= 8 {
        let (v4, v2) = match c.shader {
            Shader::ConvTex => (Shader::ConvTexV4, Shader::ConvTexV2),
            Shader::ConvTexSg => (Shader::ConvTexSgV4, Shader::ConvTexSgV2),
            _ => return c,
        };
        if width.is_multiple_of(4) {
            c.shader = v4;
        } else if width.is_multiple_of(2) {
            c.shader = v2;
        }
    }
    c
}

/// The texture kernel `c` with its weights shared through subgroups (`conv_tex_sg.wgsl`),
/// for kernels up to 3×3; unchanged where `c` is not a texture kernel (a tensor did not fit).
fn shared_taps(mut c: KernelCall, g: &ConvGeom) -> KernelCall {
    if c.shader == Shader::ConvTex && g.kh <= 3 && g.kw <= 3 {
        c.shader = Shader::ConvTexSg;
    }
    c
}

/// `c` (a direct kernel with inputs 0 and 1 at bindings 1 and 2, of `lens` floats) reading
/// those inputs as `conv_tex.wgsl`'s entry of the same name does: from rgba32float texture
/// copies, except the input gradient's weights (input 1), which go into a 64 KiB uniform
/// buffer. Unchanged when a tensor does not fit.
fn textured(mut c: KernelCall, lens: [usize; 2]) -> KernelCall {
    let weights_uniform = c.entry == "conv2d_backward_input";
    let max_uniform = (crate::graph::plan::UNIFORM_STAGE_BYTES / 4) as usize;
    if weights_uniform && lens[1] > max_uniform {
        return c;
    }
    // Texels of the larger texture (the input gradient's weights are not one).
    let texels = if weights_uniform {
        lens[0]
    } else {
        lens[0].max(lens[1])
    }
    .div_ceil(4);
    let Some(logw) = super::matmul::tex_logw_for(texels, 8) else {
        return c;
    };
    c.entry = match c.entry {
        "conv2d_forward" => "conv2d_forward_tex",
        "conv2d_backward_input" => "conv2d_backward_input_tex",
        "conv2d_weight_grad" => "conv2d_weight_grad_tex",
        other => unreachable!("{other} has no texture variant"),
    };
    c.shader = Shader::ConvTex;
    c.constants.push(("TEX_LOGW", logw as f64));
    for input in 0..2 {
        c.bindings[input + 1] = if input == 1 && weights_uniform {
            Bind::Uniform { input }
        } else {
            Bind::Texture { input, logw }
        };
    }
    c
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "naive" => Ok(Variant::Naive),
            "direct" => Ok(Variant::Direct),
            "texture" => Ok(Variant::Texture),
            "subgroup" => Ok(Variant::Subgroup),
            "auto" => Ok(Variant::Auto),
            _ => Err(format!(
                "unknown conv variant '{s}': choose naive, direct, texture or subgroup"
            )),
        }
    }
}

/// The naive kernel `entry`: one invocation per output value, geometry from the uniform only.
fn naive(entry: &'static str, g: &ConvGeom, outputs: usize) -> KernelCall {
    let mut c = call(entry, g, outputs, 1, 1);
    c.constants = vec![("UP", g.up as f64)];
    c
}

/// Channel block of the kernels: 4 channels per invocation.
const BLOCK: usize = 4;

/// One layer of workgroups per block of 4 channels.
fn layers(items: usize, channels: usize) -> Workgroups {
    Workgroups::Layers {
        n: items as u64,
        wg: 64,
        layers: channels.div_ceil(BLOCK) as u32,
    }
}

fn with_epilogue(mut c: KernelCall, has_bias: bool, act: Act) -> KernelCall {
    c.constants.extend(act.constants());
    c.constants.push(("HAS_BIAS", has_bias as u8 as f64));
    c.bindings = vec![
        Bind::Output,
        Bind::Input(0),
        Bind::Input(1),
        if has_bias {
            Bind::Input(2)
        } else {
            Bind::Dummy
        },
    ];
    c
}

/// `conv2d_forward`: bindings (y, x, w, bias or dummy).
pub fn forward_call(g: &ConvGeom, has_bias: bool, act: Act, variant: Variant) -> KernelCall {
    if variant == Variant::Naive {
        let outputs = g.n * g.c_out * g.h_out * g.w_out;
        return with_epilogue(naive("conv2d_naive_forward", g, outputs), has_bias, act);
    }
    if let Some(c) = parity_forward_call(g, has_bias, act, variant) {
        return c;
    }
    let px = pixels_per_item(g.w_out, g);
    let items = g.n * g.h_out * g.w_out.div_ceil(px);
    let mut c = with_epilogue(call("conv2d_forward", g, items, px, g.c_out), has_bias, act);
    // Input segments start at texel offset 8 − pad (mod 4) on rows that start a multiple of
    // 4 floats in. Where the input is upsampled on the fly they are segments of the source
    // rows, from column ⌊(x0 − pad) / 2⌋, blocks px / 2 apart.
    let starts = SegStarts::of(g.w / g.up, g.h / g.up, px * g.stride / g.up);
    let seg_off = (8 + (-(g.pad_w as i64)).div_euclid(g.up as i64)).rem_euclid(4);
    c.constants.extend(grid_constants(
        g.w_out.div_ceil(px),
        g.h_out,
        starts,
        seg_off,
    ));
    c.workgroups = layers(items, g.c_out);
    c = texture_form(c, g, variant, [g.in_len(), g.weight_len()], px, g.w_out);
    c
}

/// The forward or input-gradient kernel `c` of `g` as the texture and subgroup variants run
/// it (inputs of `lens` floats, output rows `width` long in blocks of `px`); `c` itself for
/// the others.
fn texture_form(
    mut c: KernelCall,
    g: &ConvGeom,
    variant: Variant,
    lens: [usize; 2],
    px: usize,
    width: usize,
) -> KernelCall {
    if matches!(variant, Variant::Texture | Variant::Subgroup) {
        c = textured(c, lens);
        if variant == Variant::Subgroup {
            c = shared_taps(c, g);
        }
        c = vec4_rows(c, px, width);
    }
    c
}

/// Whether the forward of `g` runs at the source's resolution, one 2×2 convolution per
/// output parity (`PARITY` in conv_direct.wgsl): a 3×3 kernel of stride 1 reading its input
/// upsampled on the fly, padded by at most 2.
fn parity_rows(g: &ConvGeom) -> bool {
    g.up == 2 && (g.kh, g.kw, g.stride) == (3, 3, 1) && g.pad_h <= 2 && g.pad_w <= 2
}

/// `conv2d_forward` of `g` at the source's resolution where [`parity_rows`] holds (and the
/// variant is not the naive reference): each invocation writes two output rows of PX
/// pixels from PX/2 source columns.
fn parity_forward_call(
    g: &ConvGeom,
    has_bias: bool,
    act: Act,
    variant: Variant,
) -> Option<KernelCall> {
    if variant == Variant::Naive || !parity_rows(g) {
        return None;
    }
    // Output pixels a row per invocation (PX/2 source columns, two rows): 16 on the conv
    // AE's 28-wide rows measured 10–15 % faster than 8; on its 8-wide rows 8 beat 16 by a
    // third (half of each 16-pixel block was past the row).
    let px = match g.w_out {
        16.. => 16,
        5..=15 => 8,
        _ => 4,
    };
    let (rows, x_blocks) = (g.h_out.div_ceil(2), g.w_out.div_ceil(px));
    let items = g.n * rows * x_blocks;
    let mut c = with_epilogue(call("conv2d_forward", g, items, px, g.c_out), has_bias, act);
    c.constants.retain(|(k, _)| !matches!(*k, "UP" | "X0_ODD"));
    c.constants.extend([
        ("PARITY", 1.0),
        ("PH", g.pad_h as f64),
        ("PW", g.pad_w as f64),
    ]);
    // Source row segments start one column before each block of PX/2 source columns.
    let starts = SegStarts::of(g.w / 2, g.h / 2, px / 2);
    c.constants
        .extend(grid_constants(x_blocks, rows, starts, 3));
    c.workgroups = layers(items, g.c_out);
    c = texture_form(c, g, variant, [g.in_len(), g.weight_len()], px, g.w_out);
    Some(c)
}

/// `conv2d_backward_input` (also the transposed convolution's forward, with bias and
/// activation): bindings (dx, dP, w, bias or dummy).
pub fn backward_input_call(g: &ConvGeom, has_bias: bool, act: Act, variant: Variant) -> KernelCall {
    assert_eq!(
        g.up, 1,
        "an upsampled input's gradient is a folded convolution (folded_input_gradient)"
    );
    if variant == Variant::Naive {
        let outputs = g.n * g.c_in * g.h * g.w;
        let c = naive("conv2d_naive_backward_input", g, outputs);
        return with_epilogue(c, has_bias, act);
    }
    let px = pixels_per_item(g.w, g);
    let items = g.n * g.h * g.w.div_ceil(px);
    let mut c = with_epilogue(
        call("conv2d_backward_input", g, items, px, g.c_in),
        has_bias,
        act,
    );
    // Stride 1 reads dP row segments from column ix0 + pad − (KW − 1) (the strided form
    // reads no segments).
    let starts = match g.stride {
        1 => SegStarts::of(g.w_out, g.h_out, px),
        _ => SegStarts::Any,
    };
    let seg_off = (8 + g.pad_w as i64 - (g.kw as i64 - 1)).rem_euclid(4);
    c.constants
        .extend(grid_constants(g.w.div_ceil(px), g.h, starts, seg_off));
    c.workgroups = layers(items, g.c_in);
    let lens = [g.n * g.c_out * g.h_out * g.w_out, g.weight_len()];
    c = texture_form(c, g, variant, lens, px, g.w);
    c
}

/// `conv2d_weight_grad`: bindings (partial [n, weight], x, dP).
pub fn weight_grad_call(g: &ConvGeom, variant: Variant) -> KernelCall {
    let mut c = if variant == Variant::Naive {
        naive("conv2d_naive_weight_grad", g, g.n * g.weight_len())
    } else {
        let items = g.n * g.kh * g.c_in.div_ceil(BLOCK) * g.c_out.div_ceil(BLOCK);
        let mut c = call("conv2d_weight_grad", g, items, 1, g.c_out);
        c.constants.push(("CI_LOADS", g.c_in.min(BLOCK) as f64));
        c.constants
            .push(("CO_BLOCKS", g.c_out.div_ceil(BLOCK) as f64));
        c.constants
            .push(("CI_BLOCKS", g.c_in.div_ceil(BLOCK) as f64));
        c
    };
    c.bindings = vec![Bind::Output, Bind::Input(0), Bind::Input(1)];
    c.bytes = 4 * (g.in_len() + g.n * (g.c_out * g.h_out * g.w_out + g.weight_len())) as u64;
    if matches!(variant, Variant::Texture | Variant::Subgroup) {
        c = textured(c, [g.in_len(), g.n * g.c_out * g.h_out * g.w_out]);
        if let (Shader::ConvTex, Some(rows)) = (c.shader, quad_rows(g)) {
            c.constants.extend([
                ("WG_QUADS", 1.0),
                ("QUAD_PAD", g.pad_w as f64),
                ("QUAD_PAIRS_X", (rows.x == SegStarts::Two) as u8 as f64),
                ("QUAD_PAIRS_DP", (rows.dp == SegStarts::Two) as u8 as f64),
            ]);
            // One input channel: the channel slots hold its three kernel rows, and one
            // invocation a sample and block of output channels covers them all.
            // (Not where x is upsampled: there each kernel row pairs other dP rows with a
            // source row.)
            if g.c_in == 1 && g.up == 1 {
                c.constants.retain(|(k, _)| *k != "CI_LOADS");
                c.constants.extend([("CI_LOADS", 3.0), ("KY_SLOTS", 1.0)]);
                c.workgroups = Workgroups::Items {
                    n: (g.n * g.c_out.div_ceil(BLOCK)) as u64,
                    wg: 64,
                };
            }
        }
    }
    c
}

/// How x's and dP's rows start within their texels, where the texture weight gradient can
/// walk `g`'s rows four pixels at a time (`WG_QUADS` in conv_direct.wgsl).
struct QuadRows {
    x: SegStarts,
    dp: SegStarts,
}

/// The rows of `g` where the texture weight gradient can walk them four pixels at a time:
/// a 3×3 kernel of stride 1 padded by 1 or 0 on both axes, rows a multiple of 4 long or 2
/// (mod 4) long in planes a multiple of 4 floats ([`SegStarts`] One or Two), and where x is
/// upsampled on the fly, source rows of even length (each four columns are half a texel).
fn quad_rows(g: &ConvGeom) -> Option<QuadRows> {
    let p = g.pad_w;
    let shape = (g.kh, g.kw, g.stride) == (3, 3, 1)
        && g.pad_h == p
        && p <= 1
        && (g.h_out, g.w_out) == (g.h + 2 * p - 2, g.w + 2 * p - 2);
    let x = if g.up == 2 {
        // The source rows' half-texels: whole when the source row length is even.
        let src = g.w / 2;
        if src.is_multiple_of(2) {
            SegStarts::One
        } else {
            SegStarts::Any
        }
    } else {
        SegStarts::of(g.w, g.h, 4)
    };
    let dp = SegStarts::of(g.w_out, g.h_out, 4);
    (shape && x != SegStarts::Any && dp != SegStarts::Any).then_some(QuadRows { x, dp })
}
