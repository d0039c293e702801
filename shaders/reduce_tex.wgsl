// reduce_tex: column_sum and row_sum of reduce.wgsl (prepended) reading x from an
// rgba32float texture (tex_fns.wgsl), four values a fetch; cols a multiple of 4.
//
//   column_sum_tex:  out[c] = Σ_r x[r, c]; one invocation per four columns walks the rows in
//                    order (the same order as column_sum: bitwise the same sums), one vec4
//                    store.
//   row_sum_tex:     out[r] = Σ_j x[r, j]; one invocation per row, texel by texel, four
//                    running sums added at the end (a different order from row_sum).

@group(0) @binding(0) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(1) var x_tex: Tex4;

@compute @workgroup_size(64)
fn column_sum_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = gid.x + gid.y * nwg.x * 64u;
    let quads = cp.cols / 4u;
    if q >= quads {
        return;
    }
    var acc = vec4<f32>(0.0);
    for (var r = 0u; r < cp.rows; r++) {
        acc += texel(x_tex, r * quads + q);
    }
    out4[q] = acc;
}

@compute @workgroup_size(64)
fn row_sum_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if r >= rp.rows {
        return;
    }
    let quads = rp.cols / 4u;
    var acc = vec4<f32>(0.0);
    for (var q = 0u; q < quads; q++) {
        acc += texel(x_tex, r * quads + q);
    }
    row_out[r] = (acc.x + acc.y) + (acc.z + acc.w);
}
