// activation_tex: activation_backward of activation.wgsl (prepended: same formula, bindings)
// reading y and d_y from rgba32float texture copies (tex_fns.wgsl), four values a fetch, and
// storing four gradients at once; n a multiple of 4.
//
//   activation_backward_tex:  d_x[i] = g(y[i]) · d_y[i]     (g: the derivative from the output)

@group(0) @binding(1) var y_tex: Tex4;
@group(0) @binding(2) var dy_tex: Tex4;

@compute @workgroup_size(64)
fn activation_backward_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if i >= pb4.n / 4u {
        return;
    }
    d_x4[i] = grad4(texel(y_tex, i)) * texel(dy_tex, i);
}
