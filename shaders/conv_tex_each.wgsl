// conv_tex.wgsl's weights, read where they are used: every lane fetches each tap's four
// weights itself (the forward's from the weights' texture copy, the input gradient's from the
// 64 KiB uniform buffer), so there is nothing to stage and no lane waits for another. The
// entry points of the texture variant (`texture`). conv_tex_sg.wgsl is the same kernels with
// the taps shared between lanes (`subgroup`).

const ALL_LANES: bool = false;

fn stage_fwd(ci: u32, co0: u32) {}

fn stage_bwd(ci0: u32, co: u32) {}

fn tap_fwd(ky: u32, kx: u32, ci: u32, co0: u32) -> vec4<f32> {
    return weights4_fwd(ky, kx, ci, co0);
}

fn tap_bwd(ky: u32, kx: u32, ci0: u32, co: u32) -> vec4<f32> {
    return weights4(ky, kx, ci0, co, 1u, 0u);
}

@compute @workgroup_size(64)
fn conv2d_forward_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    forward_body(gid, nwg, wid);
}

@compute @workgroup_size(64)
fn conv2d_backward_input_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    backward_input_body(gid, nwg, wid);
}

@compute @workgroup_size(64)
fn conv2d_weight_grad_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    weight_grad_body(gid, nwg);
}
