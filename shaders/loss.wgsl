// Reconstruction losses, per sample, and their gradients.
//
// Binary cross-entropy fused with the sigmoid, on logits z and targets t ∈ [0, 1]:
//     ℓ(z, t) = −t·log σ(z) − (1 − t)·log(1 − σ(z))
//             = max(z, 0) − z·t + log(1 + e^{−|z|})          (stable form: no log(0), no
//                                                           exp of a large positive number)
//     ∂ℓ/∂z   = σ(z) − t                                    (the sigmoid's derivative cancels)
// Mean squared error on outputs y:
//     ℓ(y, t) = (y − t)²,        ∂ℓ/∂y = 2·(y − t)
//
//   bce_with_logits_forward:   loss[r] = Σ_c ℓ(z[r,c], t[r,c])        z, t: [rows, cols]; loss: [rows]
//   bce_with_logits_backward:  d_z[r,c] = d_loss[r] · (σ(z[r,c]) − t[r,c])
//   mse_forward:               loss[r] = Σ_c (y[r,c] − t[r,c])²
//   mse_backward:              d_y[r,c] = d_loss[r] · 2·(y[r,c] − t[r,c])
// Outputs are overwritten. The mean over pixels and the batch is the scale of the sum_all
// that follows (reduce.wgsl), so the same kernels serve per-pixel and per-sample losses.
//
// Forward: one workgroup per row (2-D grid past 65,535 rows); its 64 invocations sum strided
// columns, then a fixed tree in workgroup memory: deterministic. Backward: one invocation
// per element.

struct Params {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

const ROW_WG: u32 = 64u;
const WG: u32 = 256u;

fn sigmoid(z: f32) -> f32 {
    let e = exp(-abs(z));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

fn bce_with_logits(z: f32, t: f32) -> f32 {
    return max(z, 0.0) - z * t + log(1.0 + exp(-abs(z)));
}

var<workgroup> partial: array<f32, ROW_WG>;

fn reduce_row(lid: u32) -> f32 {
    workgroupBarrier();
    for (var stride = ROW_WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    return partial[0];
}

@group(0) @binding(0) var<storage, read_write> loss: array<f32>;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn bce_with_logits_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= p.rows {
        return;
    }
    var acc = 0.0;
    for (var col = lid.x; col < p.cols; col += ROW_WG) {
        let i = row * p.cols + col;
        acc += bce_with_logits(z[i], t[i]);
    }
    partial[lid.x] = acc;
    let s = reduce_row(lid.x);
    if lid.x == 0u {
        loss[row] = s;
    }
}

@compute @workgroup_size(64)
fn mse_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= p.rows {
        return;
    }
    var acc = 0.0;
    for (var col = lid.x; col < p.cols; col += ROW_WG) {
        let i = row * p.cols + col;
        let e = z[i] - t[i];
        acc += e * e;
    }
    partial[lid.x] = acc;
    let s = reduce_row(lid.x);
    if lid.x == 0u {
        loss[row] = s;
    }
}

@group(0) @binding(0) var<storage, read_write> d_pred: array<f32>;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> target_: array<f32>;
@group(0) @binding(3) var<storage, read> d_loss: array<f32>;
@group(0) @binding(4) var<uniform> pb: Params;

@compute @workgroup_size(256)
fn bce_with_logits_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pb.rows * pb.cols {
        return;
    }
    d_pred[i] = d_loss[i / pb.cols] * (sigmoid(pred[i]) - target_[i]);
}

@compute @workgroup_size(256)
fn mse_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pb.rows * pb.cols {
        return;
    }
    d_pred[i] = d_loss[i / pb.cols] * 2.0 * (pred[i] - target_[i]);
}
