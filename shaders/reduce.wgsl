// Reductions used by backward passes and by the loss.
//
//   column_sum:        out[c] = Σ_r x[r, c]                  x: [rows, cols], out: [cols] overwritten
//                      (the bias gradient: d_bias = Σ over the batch of d_pre). One invocation
//                      per column walks the rows in order, so the sum is deterministic.
//
//   row_sum:           out[r] = Σ_{j < cols} x[r, j]           x: [rows, cols], out: [rows] overwritten
//                      (a conv bias gradient's first half: the sum over each channel's pixels;
//                      column_sum over the samples follows). One invocation per row, in order.
//
//   sum_all:           s = scale · Σ_{i < L} x[i],  L = min(n, step.valid_rows · row_len)
//                      out[0] = s            (ACCUMULATE = false: the loss of this step)
//                      out[0] = out[0] + s   (ACCUMULATE = true: running totals for metrics)
//                      One workgroup: each invocation sums a strided slice, then a fixed tree
//                      in workgroup memory, so the result is bitwise reproducible (no atomics).
//                      valid_rows masks the padded rows of the last validation batch.
//                      Backward (sum_all only): d_x[i] = scale · d_out[0]  (broadcast_scaled,
//                      elementwise.wgsl).

override ACCUMULATE: bool = false;

struct ColParams {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

struct SumParams {
    n: u32,
    row_len: u32,
    scale: f32,
    _p0: u32,
}

// The per-step uniform written by the host before each submission (see src/graph/plan.rs).
struct Step {
    step: u32,
    batch_offset: u32,
    seed: u32,
    valid_rows: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> cp: ColParams;

@compute @workgroup_size(256)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let col = gid.x + gid.y * nwg.x * WG;
    if col >= cp.cols {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < cp.rows; r++) {
        acc += x[r * cp.cols + col];
    }
    out[col] = acc;
}

@group(0) @binding(0) var<storage, read_write> row_out: array<f32>;
@group(0) @binding(1) var<storage, read> row_in: array<f32>;
@group(0) @binding(2) var<uniform> rp: ColParams;

@compute @workgroup_size(256)
fn row_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * WG;
    if r >= rp.rows {
        return;
    }
    var acc = 0.0;
    for (var j = 0u; j < rp.cols; j++) {
        acc += row_in[r * rp.cols + j];
    }
    row_out[r] = acc;
}

@group(0) @binding(0) var<storage, read_write> total: array<f32>;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<uniform> sp: SumParams;
@group(0) @binding(3) var<uniform> step: Step;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(256)
fn sum_all(@builtin(local_invocation_id) lid: vec3<u32>) {
    let limit = min(sp.n, step.valid_rows * sp.row_len);
    var acc = 0.0;
    for (var i = lid.x; i < limit; i += WG) {
        acc += values[i];
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        let s = sp.scale * partial[0];
        if ACCUMULATE {
            total[0] = total[0] + s;
        } else {
            total[0] = s;
        }
    }
}
