// loss_tex: the losses of loss.wgsl (prepended: same formulas, Params, bindings) reading
// pred and target from rgba32float textures (tex_fns.wgsl), four values a fetch.
//
//   *_forward_tex:   loss[r] = Σ_c ℓ(pred[r,c], t[r,c])      as loss.wgsl
//   *_backward_tex:  d_pred[r,c] = d_loss[r] · ∂ℓ/∂pred         as loss.wgsl
//
// cols must be a multiple of 4 (a row is then whole texels: row r is texels r·cols/4 ..).
// Forward: one invocation per row (see row_loss_tex). Backward: one workgroup per row (grid
// z), so d_loss[row] is the same load for the whole workgroup (one scalar load, not one per
// lane on lavapipe); it walks the row WALK_WG texels at a time (64 on GPUs, one subgroup on
// CPU devices: see gather.wgsl), and the four gradients of a texel leave in one vec4 store.
// On lavapipe these read ~8× fewer times than loss.wgsl; the copies into textures cost about
// one memcpy of each input (BENCHMARKS.md).

@group(0) @binding(1) var pred_tex: Tex4;
@group(0) @binding(2) var target_tex: Tex4;

fn bce_with_logits4(z: vec4<f32>, t: vec4<f32>) -> vec4<f32> {
    return max(z, vec4<f32>(0.0)) - z * t + log(1.0 + exp(-abs(z)));
}

fn sigmoid4(z: vec4<f32>) -> vec4<f32> {
    let e = exp(-abs(z));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= vec4<f32>(0.0));
}

// Σ over row `row` of loss(pred, target), texel by texel in order: four running sums, added
// at the end. One invocation per row: no workgroup memory and no barriers (on lavapipe a
// barrier switches between the workgroup's coroutines; at 784 values a row the tree of
// loss.wgsl cost more than the sums).
fn row_loss_tex(row: u32, bce: bool) -> f32 {
    let quads = p.cols / 4u;
    var acc = vec4<f32>(0.0);
    for (var q = 0u; q < quads; q++) {
        let z = texel(pred_tex, row * quads + q);
        let t = texel(target_tex, row * quads + q);
        if bce {
            acc += bce_with_logits4(z, t);
        } else {
            let e = z - t;
            acc += e * e;
        }
    }
    return (acc.x + acc.y) + (acc.z + acc.w);
}

@compute @workgroup_size(64)
fn bce_with_logits_forward_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if row < p.rows {
        loss[row] = row_loss_tex(row, true);
    }
}

@compute @workgroup_size(64)
fn mse_forward_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if row < p.rows {
        loss[row] = row_loss_tex(row, false);
    }
}

@group(0) @binding(0) var<storage, read_write> d_pred4: array<vec4<f32>>;

override WALK_WG: u32 = 64u;

// d_pred for the four values of each texel of row `row` this invocation walks (from `first`).
fn backward_tex_row(first: u32, row: u32, bce: bool) {
    let quads = pb.cols / 4u;
    // bce: d·(σ(z) − t); mse: 2d·(z − t).
    let d = d_loss[row] * select(2.0, 1.0, bce);
    for (var q = first; q < quads; q += WALK_WG) {
        let k = row * quads + q;
        let z = texel(pred_tex, k);
        let t = texel(target_tex, k);
        if bce {
            d_pred4[k] = d * (sigmoid4(z) - t);
        } else {
            d_pred4[k] = d * (z - t);
        }
    }
}

@compute @workgroup_size(WALK_WG)
fn bce_with_logits_backward_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    backward_tex_row(lid.x, wid.z, true);
}

@compute @workgroup_size(WALK_WG)
fn mse_backward_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    backward_tex_row(lid.x, wid.z, false);
}
