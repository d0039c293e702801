// Max pooling 2×2 (stride 2) and nearest-neighbour upsampling ×2, on NCHW planes.
//
// Max pool with "same" padding, as Keras pads: an H×W plane gives ⌈H/2⌉×⌈W/2⌉ outputs; the
// window of output (oy, ox) is rows 2oy..2oy+1 and columns 2ox..2ox+1, cut at the edge (a
// 7-row plane's last window has one row). Forward keeps the argmax:
//   max_pool_argmax:   idx[n,c,oy,ox] = the flat index (into x) of max over the window of x
//                      (the first one in row-major order on ties)
//   max_pool_forward:  y[o] = x[idx[o]]
//   max_pool_backward: dx[i] = dy[o(i)] if idx[o(i)] = i else 0        (o(i): i's window;
//                      one invocation per window writes its inputs)
//   max_pool_backward_act: the same with the activation epilogue of the layer before the pool
//                      fused in: dx[i] = f'(y[o])·dy[o(i)] at the winner (f' written in terms
//                      of the output, act_fns.wgsl: the winner's output is the pooled value
//                      y[o]), else 0 = f'(x_i)·0. This replaces an activation_backward over
//                      the full-resolution tensor (two reads and a write of four times the
//                      pooled size) by one small read.
// The gradient of a max flows only to the element that won (a subgradient at ties).
//
// Upsampling ×2, nearest neighbour: each pixel becomes a 2×2 block.
//   upsample_forward:  y[n,c,y,x] = x[n,c,⌊y/2⌋,⌊x/2⌋]                   y: [N,C,2H,2W]
//   upsample_backward: dx[n,c,i,j] = Σ_{a,b ∈ {0,1}} dy[n,c,2i+a,2j+b]  (the adjoint: sum
//                      over the block the pixel was copied to)
// All outputs are overwritten, each by exactly one invocation (no atomics).
//
// Each kernel but max_pool_forward has two entry points over one body: a flat one (1-D grid;
// the plane and pixel come from divisions of the invocation index) and `_grid` (workgroups
// of 8×8 pixels, grid z = plane, used while the planes fit one grid dimension). The grid
// form has no integer division: on lavapipe a division by a runtime value is eight scalar
// divisions per subgroup, and those were most of these kernels' time.

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

@group(0) @binding(0) var<storage, read_write> idx_out: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> pa: Planes;

// Output (plane, oy, ox) = flat o.
fn argmax_at(o: u32, plane: u32, oy: u32, ox: u32) {
    let base = plane * pa.hb * pa.wb;
    var best = base + 2u * oy * pa.wb + 2u * ox;
    var best_v = x[best];
    for (var dy = 0u; dy < 2u; dy++) {
        let iy = 2u * oy + dy;
        if iy >= pa.hb {
            break;
        }
        for (var dx = 0u; dx < 2u; dx++) {
            let ix = 2u * ox + dx;
            if ix >= pa.wb {
                break;
            }
            let i = base + iy * pa.wb + ix;
            // Strictly greater: the first maximum wins ties.
            if x[i] > best_v {
                best_v = x[i];
                best = i;
            }
        }
    }
    idx_out[o] = best;
}

@compute @workgroup_size(256)
fn max_pool_argmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= pa.planes * pa.hs * pa.ws {
        return;
    }
    argmax_at(o, o / (pa.hs * pa.ws), (o / pa.ws) % pa.hs, o % pa.ws);
}

@compute @workgroup_size(8, 8)
fn max_pool_argmax_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < pa.ws && gid.y < pa.hs {
        argmax_at((gid.z * pa.hs + gid.y) * pa.ws + gid.x, gid.z, gid.y, gid.x);
    }
}

@group(0) @binding(0) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(1) var<storage, read> px: array<f32>;
@group(0) @binding(2) var<storage, read> pidx: array<u32>;
@group(0) @binding(3) var<uniform> pf: Planes;

@compute @workgroup_size(256)
fn max_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    let n_out = pf.planes * pf.hs * pf.ws;
    if o >= n_out {
        return;
    }
    pooled[o] = px[min(pidx[o], pf.planes * pf.hb * pf.wb - 1u)];
}

@group(0) @binding(0) var<storage, read_write> d_x: array<f32>;
@group(0) @binding(1) var<storage, read> bidx: array<u32>;
@group(0) @binding(2) var<storage, read> d_y: array<f32>;
@group(0) @binding(3) var<uniform> pb: Planes;

// One invocation per window: it writes every input of its window (windows do not overlap,
// so each input is written exactly once), reading the argmax and the gradient once. `g` is
// what the winner gets; (hb, wb) the full-resolution plane.
fn pool_backward_at(o: u32, plane: u32, oy: u32, ox: u32, g: f32, hb: u32, wb: u32) {
    let winner = bidx[o];
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
            d_x[i] = select(0.0, g, i == winner);
        }
    }
}

@compute @workgroup_size(256)
fn max_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= pb.planes * pb.hs * pb.ws {
        return;
    }
    pool_backward_at(o, o / (pb.hs * pb.ws), (o / pb.ws) % pb.hs, o % pb.ws, d_y[o], pb.hb, pb.wb);
}

@compute @workgroup_size(8, 8)
fn max_pool_backward_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < pb.ws && gid.y < pb.hs {
        let o = (gid.z * pb.hs + gid.y) * pb.ws + gid.x;
        pool_backward_at(o, gid.z, gid.y, gid.x, d_y[o], pb.hb, pb.wb);
    }
}

// max_pool_backward_act: bindings (dx, idx, dy, pooled).
@group(0) @binding(3) var<storage, read> b_pooled: array<f32>;
@group(0) @binding(4) var<uniform> pba: Planes;

fn winner_grad(o: u32) -> f32 {
    return activate_grad_from_output(b_pooled[o]) * d_y[o];
}

@compute @workgroup_size(256)
fn max_pool_backward_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if o >= pba.planes * pba.hs * pba.ws {
        return;
    }
    pool_backward_at(o, o / (pba.hs * pba.ws), (o / pba.ws) % pba.hs, o % pba.ws, winner_grad(o), pba.hb, pba.wb);
}

@compute @workgroup_size(8, 8)
fn max_pool_backward_act_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x < pba.ws && gid.y < pba.hs {
        let o = (gid.z * pba.hs + gid.y) * pba.ws + gid.x;
        pool_backward_at(o, gid.z, gid.y, gid.x, winner_grad(o), pba.hb, pba.wb);
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

fn upsample_backward_at(o: u32, plane: u32, i: u32, j: u32) {
    let top = (plane * ub.hb + 2u * i) * ub.ws + j;
    let s = d_up[top] + d_up[top + ub.ws];
    d_small[o] = s.x + s.y;
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
