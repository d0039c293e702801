// Max pooling 2×2 (stride 2) and nearest-neighbour upsampling ×2, on NCHW planes.
//
// Max pool with "same" padding, as Keras pads: an H×W plane gives ⌈H/2⌉×⌈W/2⌉ outputs; the
// window of output (oy, ox) is rows 2oy..2oy+1 and columns 2ox..2ox+1, cut at the edge (a
// 7-row plane's last window has one row). Its winner w(o) is the window's first maximum in
// row-major order (ties go to the first).
//   max_pool_forward:  y[o] = x[w(o)]
//   max_pool_backward: dx[i] = f'(x[w(o)])·dy[o] if i = w(o) else 0   (o = i's window; one
//                      invocation per window writes its inputs)
// The backward finds each winner again from x rather than reading an index the forward
// stored: the forward would otherwise spend a second pass over the full-resolution tensor
// (or a second output) on indices, and the backward reads the window it writes anyway.
// f' is the activation epilogue of the layer before the pool, fused in (ACT, act_fns.wgsl;
// identity: f' = 1): x is that layer's output, so f' is written in terms of the output,
// and the winner's output is the pooled value. Every input but the winner gets
// f'(x_i)·0 = 0. This replaces an activation_backward over the full-resolution tensor (two
// reads and a write of four times the pooled size). The gradient of a max flows only to the
// element that won (a subgradient at ties).
//
// Upsampling ×2, nearest neighbour: each pixel becomes a 2×2 block.
//   upsample_forward:  y[n,c,y,x] = x[n,c,⌊y/2⌋,⌊x/2⌋]                   y: [N,C,2H,2W]
//   upsample_backward: dx[n,c,i,j] = Σ_{a,b ∈ {0,1}} dy[n,c,2i+a,2j+b]  (the adjoint: sum
//                      over the block the pixel was copied to)
//   upsample_backward_act: the same with the activation epilogue of the layer before the
//                      upsampling fused in, as max_pool_backward has it: dx = f'(x)·(block
//                      sum), x that layer's output (f' in terms of it). This replaces an
//                      activation_backward over the small tensor (a dispatch, and a copy of
//                      the block sums for it to read).
// All outputs are overwritten, each by exactly one invocation (no atomics).
//
// Each kernel has two entry points over one body: a flat one (1-D grid; the plane and pixel
// come from divisions of the invocation index) and `_grid` (workgroups of 8×8 pixels, grid
// z = plane, used while the planes fit one grid dimension). The grid form has no integer
// division: on lavapipe a division by a runtime value is eight scalar divisions per
// subgroup, and those were most of these kernels' time.

struct Planes {
    // Number of (n, c) planes, and the plane sizes of the pooled / upsampled side (hs, ws)
    // and of the full-resolution side (hb, wb).
    planes: u32,
    hs: u32,
    ws: u32,
    hb: u32,
    wb: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

const WG: u32 = 256u;

// The pool's input: both kernels read it.
@group(0) @binding(1) var<storage, read> x: array<f32>;

struct Winner {
    index: u32,
    value: f32,
}

// The winner of window (oy, ox) of plane `plane` of x, whose planes are hb × wb.
fn winner_at(plane: u32, oy: u32, ox: u32, hb: u32, wb: u32) -> Winner {
    let base = plane * hb * wb;
    var best = base + 2u * oy * wb + 2u * ox;
    var best_v = x[best];
    for (var dy = 0u; dy < 2u; dy++) {
        let iy = 2u * oy + dy;
        if iy >= hb {
            break;
        }
        for (var dx = 0u; dx < 2u; dx++) {
            let ix = 2u * ox + dx;
            if ix >= wb {
                break;
            }
            let i = base + iy * wb + ix;
            // Strictly greater: the first maximum wins ties.
            if x[i] > best_v {
                best_v = x[i];
                best = i;
            }
        }
    }
    return Winner(best, best_v);
}

// max_pool_forward: bindings (y, x, pf).
@group(0) @binding(0) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(2) var<uniform> pf: Planes;

@compute @workgroup_size(256)
fn max_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= pf.planes * pf.hs * pf.ws {
        return;
    }
    pooled[o] = winner_at(o / (pf.hs * pf.ws), (o / pf.ws) % pf.hs, o % pf.ws, pf.hb, pf.wb).value;
}

@compute @workgroup_size(8, 8)
fn max_pool_forward_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < pf.ws && gid.y < pf.hs {
        let o = (gid.z * pf.hs + gid.y) * pf.ws + gid.x;
        pooled[o] = winner_at(gid.z, gid.y, gid.x, pf.hb, pf.wb).value;
    }
}

// max_pool_backward: bindings (dx, x, dy, pb).
@group(0) @binding(0) var<storage, read_write> d_x: array<f32>;
@group(0) @binding(2) var<storage, read> d_y: array<f32>;
@group(0) @binding(3) var<uniform> pb: Planes;

// One invocation per window: it writes every input of its window (windows do not overlap,
// so each input is written exactly once), reading the window and the gradient once.
fn pool_backward_at(o: u32, plane: u32, oy: u32, ox: u32) {
    let hb = pb.hb;
    let wb = pb.wb;
    let w = winner_at(plane, oy, ox, hb, wb);
    let g = activate_grad_from_output(w.value) * d_y[o];
    for (var dy = 0u; dy < 2u; dy++) {
        let iy = 2u * oy + dy;
        if iy >= hb {
            break;
        }
        for (var dx = 0u; dx < 2u; dx++) {
            let ix = 2u * ox + dx;
            if ix >= wb {
                break;
            }
            let i = (plane * hb + iy) * wb + ix;
            d_x[i] = select(0.0, g, i == w.index);
        }
    }
}

@compute @workgroup_size(256)
fn max_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= pb.planes * pb.hs * pb.ws {
        return;
    }
    pool_backward_at(o, o / (pb.hs * pb.ws), (o / pb.ws) % pb.hs, o % pb.ws);
}

@compute @workgroup_size(8, 8)
fn max_pool_backward_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < pb.ws && gid.y < pb.hs {
        pool_backward_at((gid.z * pb.hs + gid.y) * pb.ws + gid.x, gid.z, gid.y, gid.x);
    }
}

// Upsampling works on pairs: the big side's rows have even length, so the 2×2 block of
// small pixel (i, j) is the pair j of big rows 2i and 2i + 1 (two 8-byte accesses).
@group(0) @binding(0) var<storage, read_write> up: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> small: array<f32>;
@group(0) @binding(2) var<uniform> uf: Planes;

fn upsample_at(o: u32, plane: u32, i: u32, j: u32) {
    // Pair index of big (2i, 2j): rows of ws pairs.
    let top = (plane * uf.hb + 2u * i) * uf.ws + j;
    let v = vec2<f32>(small[o]);
    up[top] = v;
    up[top + uf.ws] = v;
}

@compute @workgroup_size(256)
fn upsample_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= uf.planes * uf.hs * uf.ws {
        return;
    }
    upsample_at(o, o / (uf.hs * uf.ws), (o / uf.ws) % uf.hs, o % uf.ws);
}

@compute @workgroup_size(8, 8)
fn upsample_forward_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < uf.ws && gid.y < uf.hs {
        upsample_at((gid.z * uf.hs + gid.y) * uf.ws + gid.x, gid.z, gid.y, gid.x);
    }
}

@group(0) @binding(0) var<storage, read_write> d_small: array<f32>;
@group(0) @binding(1) var<storage, read> d_up: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> ub: Planes;

// The sum of the 2×2 block that small pixel (i, j) of plane `plane` was copied to (big
// planes of hb rows of ws pairs).
fn block_sum(plane: u32, i: u32, j: u32, hb: u32, ws: u32) -> f32 {
    let top = (plane * hb + 2u * i) * ws + j;
    let s = d_up[top] + d_up[top + ws];
    return s.x + s.y;
}

fn upsample_backward_at(o: u32, plane: u32, i: u32, j: u32) {
    d_small[o] = block_sum(plane, i, j, ub.hb, ub.ws);
}

@compute @workgroup_size(256)
fn upsample_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= ub.planes * ub.hs * ub.ws {
        return;
    }
    upsample_backward_at(o, o / (ub.hs * ub.ws), (o / ub.ws) % ub.hs, o % ub.ws);
}

@compute @workgroup_size(8, 8)
fn upsample_backward_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < ub.ws && gid.y < ub.hs {
        upsample_backward_at((gid.z * ub.hs + gid.y) * ub.ws + gid.x, gid.z, gid.y, gid.x);
    }
}

// upsample_backward_act: bindings (dx, dy, x, uba).
@group(0) @binding(2) var<storage, read> ua_x: array<f32>;
@group(0) @binding(3) var<uniform> uba: Planes;

fn upsample_backward_act_at(o: u32, plane: u32, i: u32, j: u32) {
    d_small[o] = activate_grad_from_output(ua_x[o]) * block_sum(plane, i, j, uba.hb, uba.ws);
}

@compute @workgroup_size(256)
fn upsample_backward_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= uba.planes * uba.hs * uba.ws {
        return;
    }
    upsample_backward_act_at(o, o / (uba.hs * uba.ws), (o / uba.ws) % uba.hs, o % uba.ws);
}

@compute @workgroup_size(8, 8)
fn upsample_backward_act_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < uba.ws && gid.y < uba.hs {
        upsample_backward_act_at((gid.z * uba.hs + gid.y) * uba.ws + gid.x, gid.z, gid.y, gid.x);
    }
}
