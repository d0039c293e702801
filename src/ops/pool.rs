//! Max pooling 2×2 and nearest-neighbour upsampling ×2 (`shaders/pool.wgsl`), on NCHW planes.
//!
//! - Max pool (stride 2, Keras' "same" padding: ⌈H/2⌉ × ⌈W/2⌉ outputs, edge windows cut
//!   short). The backward routes each output's gradient to its window's winner (the first
//!   maximum), ∂max/∂x_i = 1\[i = winner\], finding the winner again from x: the forward
//!   stores no index.
//! - Upsample ×2: each pixel copied to a 2×2 block; the backward (its adjoint) sums each
//!   block's gradients.

use super::{texture_form, Act, Bind, KernelCall, Reads, Workgroups};
use crate::gpu::Shader;

/// Plane geometry: `planes` = N·C planes of `big` (h, w) at full resolution and `small`
/// (⌈h/2⌉, ⌈w/2⌉) pooled, or (h/2, w/2) before upsampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub planes: usize,
    pub small: (usize, usize),
    pub big: (usize, usize),
}

impl Planes {
    /// Max pooling of [planes, h, w].
    pub fn pool(planes: usize, h: usize, w: usize) -> Planes {
        Planes {
            planes,
            small: (h.div_ceil(2), w.div_ceil(2)),
            big: (h, w),
        }
    }

    /// Upsampling of [planes, h, w] to [planes, 2h, 2w].
    pub fn upsample(planes: usize, h: usize, w: usize) -> Planes {
        Planes {
            planes,
            small: (h, w),
            big: (2 * h, 2 * w),
        }
    }

    /// Elements on the small / big side.
    pub fn small_len(&self) -> usize {
        self.planes * self.small.0 * self.small.1
    }

    pub fn big_len(&self) -> usize {
        self.planes * self.big.0 * self.big.1
    }

    fn words(&self) -> Vec<u32> {
        [
            self.planes,
            self.small.0,
            self.small.1,
            self.big.0,
            self.big.1,
        ]
        .iter()
        .map(|&v| v as u32)
        .collect()
    }

    /// The small-side index of big-side element i.
    fn small_of(&self, i: usize) -> usize {
        let (hb, wb) = self.big;
        let (hs, ws) = self.small;
        let plane = i / (hb * wb);
        let (y, x) = ((i / wb) % hb, i % wb);
        (plane * hs + y / 2) * ws + x / 2
    }
}

/// Each window's winner: the flat index of its first maximum (row-major order).
pub fn winners(x: &[f64], p: &Planes) -> Vec<usize> {
    let mut best: Vec<Option<usize>> = vec![None; p.small_len()];
    for i in 0..p.big_len() {
        let o = p.small_of(i);
        if best[o].is_none_or(|b| x[i] > x[b]) {
            best[o] = Some(i);
        }
    }
    best.into_iter().map(|b| b.expect("window")).collect()
}

/// CPU twin of `max_pool_forward`: each window's maximum.
pub fn forward_ref(x: &[f64], p: &Planes) -> Vec<f64> {
    winners(x, p).iter().map(|&i| x[i]).collect()
}

/// CPU twin of `max_pool_backward`: the winner of window o gets f'(y_o)·dy_o (f' the fused
/// activation's derivative in terms of its output, 1 for `Act::Identity`; y_o = x at the
/// winner, the pooled value), every other input 0.
pub fn backward_ref(x: &[f64], d_y: &[f64], p: &Planes, act: Act) -> Vec<f64> {
    let w = winners(x, p);
    let pooled: Vec<f64> = w.iter().map(|&i| x[i]).collect();
    let g = super::activation::backward_ref(act, &pooled, d_y);
    (0..p.big_len())
        .map(|i| {
            let o = p.small_of(i);
            if w[o] == i {
                g[o]
            } else {
                0.0
            }
        })
        .collect()
}

/// CPU twin of `upsample_forward`.
pub fn upsample_ref(x: &[f64], p: &Planes) -> Vec<f64> {
    (0..p.big_len()).map(|i| x[p.small_of(i)]).collect()
}

/// CPU twin of `upsample_backward`.
pub fn upsample_backward_ref(d_y: &[f64], p: &Planes) -> Vec<f64> {
    let mut dx = vec![0.0; p.small_len()];
    for (i, d) in d_y.iter().enumerate() {
        dx[p.small_of(i)] += d;
    }
    dx
}

/// CPU twin of `upsample_backward_act`: f'(x)·(block sums), f' in terms of the output x of
/// the layer before the upsampling.
pub fn upsample_backward_act_ref(d_y: &[f64], x: &[f64], p: &Planes, act: Act) -> Vec<f64> {
    super::activation::backward_ref(act, x, &upsample_backward_ref(d_y, p))
}

/// `entry` over one invocation per small-side pixel: the `_grid` form (8×8 pixels a
/// workgroup, z = plane) where the planes fit and a small-side plane fills at least half of
/// a workgroup, else the flat form over `items` invocations. (The conv AE's 4×4 windows of
/// 7×7 planes kept a quarter of each 8×8 workgroup busy, in 1,024 workgroups: its pool
/// backward took 1.07–1.10 ms on lavapipe that way, 0.71–0.74 flat.)
fn call(entry: &'static str, p: &Planes, inputs: usize, items: usize, bytes: usize) -> KernelCall {
    let mut c = flat_call(entry, p, inputs, items, bytes);
    if p.planes <= super::MAX_GRID_LAYERS && p.small.0 * p.small.1 >= 32 {
        c.entry = match entry {
            "max_pool_forward" => "max_pool_forward_grid",
            "max_pool_backward" => "max_pool_backward_grid",
            "upsample_forward" => "upsample_forward_grid",
            "upsample_backward" => "upsample_backward_grid",
            "upsample_backward_act" => "upsample_backward_act_grid",
            other => unreachable!("{other} has no grid form"),
        };
        c.workgroups = grid(p, p.small.1);
    }
    c
}

fn flat_call(
    entry: &'static str,
    p: &Planes,
    inputs: usize,
    items: usize,
    bytes: usize,
) -> KernelCall {
    let mut bindings = vec![Bind::Output];
    bindings.extend((0..inputs).map(Bind::Input));
    KernelCall {
        shader: Shader::Pool,
        entry,
        constants: vec![],
        bindings,
        params: p.words(),
        uses_step: false,
        workgroups: Workgroups::Items {
            n: items as u64,
            wg: 256,
        },
        flops: p.big_len() as u64,
        bytes: 4 * bytes as u64,
    }
}

/// The texture form `entry` of call `c`, its inputs `inputs` read from texture copies folded
/// for `floats` floats, where `applies` (the form's own condition on the shape) and the planes
/// fit the grid; else `c`.
#[allow(clippy::too_many_arguments)]
fn textured(
    c: KernelCall,
    p: &Planes,
    reads: Reads,
    applies: bool,
    entry: &'static str,
    inputs: &[usize],
    floats: usize,
    row_wg: u32,
) -> KernelCall {
    let applies = applies && p.planes <= super::MAX_GRID_LAYERS;
    let t = texture_form(c, reads, applies, entry, walk(p), inputs, floats);
    walking(t, row_wg)
}

/// `max_pool_forward`: bindings (y, x). `Reads::Texture` reads x from a texture copy
/// (`max_pool_forward_tex`, one workgroup of `row_wg` per plane, see `shaders/pool_tex.wgsl`;
/// `_tex2`, two windows an invocation, where widths are a multiple of 4).
pub fn forward_call(p: &Planes, reads: Reads, row_wg: u32) -> KernelCall {
    let c = call(
        "max_pool_forward",
        p,
        1,
        p.small_len(),
        p.big_len() + p.small_len(),
    );
    let entry = if p.big.1.is_multiple_of(4) {
        "max_pool_forward_tex2"
    } else {
        "max_pool_forward_tex"
    };
    textured(c, p, reads, true, entry, &[0], p.big_len(), row_wg)
}

/// The texture forms' grid: one workgroup per plane (z), which walks the plane's pixels
/// (`shaders/pool_tex.wgsl`).
fn walk(p: &Planes) -> Workgroups {
    Workgroups::Fixed([1, 1, p.planes as u32])
}

/// `t` with the width of its plane walk set, if it took a texture form.
fn walking(mut t: KernelCall, row_wg: u32) -> KernelCall {
    if t.shader == Shader::PoolTex {
        t.constants.push(("WALK_WG", row_wg as f64));
    }
    t
}

/// 8×8 small-side pixels a workgroup, z = plane, `columns` invocations along x.
fn grid(p: &Planes, columns: usize) -> Workgroups {
    Workgroups::Fixed([
        columns.div_ceil(8) as u32,
        p.small.0.div_ceil(8) as u32,
        p.planes as u32,
    ])
}

/// `max_pool_backward` (one invocation per window): bindings (dx, x, dy), with the
/// activation `act` of the layer before the pool fused in (`Act::Identity`: none). The
/// texture form (`Reads::Texture`, even widths) reads x and dy from texture copies and stores
/// pairs, or (`_tex2`, widths a multiple of 4) two windows an invocation, storing quads.
pub fn backward_call(p: &Planes, act: Act, reads: Reads, row_wg: u32) -> KernelCall {
    let mut c = call(
        "max_pool_backward",
        p,
        2,
        p.small_len(),
        2 * p.big_len() + p.small_len(),
    );
    c.constants = act.constants();
    let entry = if p.big.1.is_multiple_of(4) {
        "max_pool_backward_tex2"
    } else {
        "max_pool_backward_tex"
    };
    let even = p.big.1.is_multiple_of(2);
    textured(c, p, reads, even, entry, &[0, 1], p.big_len(), row_wg)
}

/// `upsample_forward`: bindings (y, x); `Reads::Texture` (even small widths) reads x from a
/// texture copy, two pixels an invocation, and stores quads (`upsample_forward_tex`).
pub fn upsample_call(p: &Planes, reads: Reads, row_wg: u32) -> KernelCall {
    let c = call(
        "upsample_forward",
        p,
        1,
        p.small_len(),
        p.big_len() + p.small_len(),
    );
    // Two small pixels an invocation: even small widths.
    let even = p.small.1.is_multiple_of(2);
    let entry = "upsample_forward_tex";
    textured(c, p, reads, even, entry, &[0], p.small_len(), row_wg)
}

/// `upsample_backward`: bindings (dx, dy); with the activation `act` of the layer before the
/// upsampling fused in, `upsample_backward_act`: bindings (dx, dy, x). `Reads::Texture` reads
/// the inputs from texture copies (`upsample_backward_tex`, `upsample_backward_act_tex`, one
/// workgroup per plane).
pub fn upsample_backward_call(p: &Planes, act: Act, reads: Reads, row_wg: u32) -> KernelCall {
    if act == Act::Identity {
        let c = call(
            "upsample_backward",
            p,
            1,
            p.small_len(),
            p.big_len() + p.small_len(),
        );
        let entry = "upsample_backward_tex";
        return textured(c, p, reads, true, entry, &[0], p.big_len(), row_wg);
    }
    let mut c = call(
        "upsample_backward_act",
        p,
        2,
        p.small_len(),
        p.big_len() + 2 * p.small_len(),
    );
    c.constants = act.constants();
    let entry = "upsample_backward_act_tex";
    textured(c, p, reads, true, entry, &[0, 1], p.big_len(), row_wg)
}
