// The direct convolution kernels of conv.wgsl (same math, same blocking, the bodies in
// conv_direct.wgsl) with their two inputs read through texture fetches instead of
// storage-buffer loads: conv2d_forward_tex, conv2d_backward_input_tex, conv2d_weight_grad_tex.
//
// The plan copies the activations (x, dP), as they lie, into r32float textures TEX_W =
// 2^TEX_LOGW texels wide: texel (i mod TEX_W, i / TEX_W) holds float i. The weights (at most
// 64 KiB in this variant) go into a 64 KiB uniform buffer. Why (see matmul_tex.wgsl): on
// lavapipe a storage load is a per-lane loop with a bounds check per lane (measured 4.3 ns
// per value), a texel fetch the rasteriser's gather (2.2 ns), and a uniform load at a
// per-invocation address an unrolled gather from one small array (0.7 ns). The outputs are
// still written to storage buffers.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var src_tex: texture_2d<f32>;
@group(0) @binding(2) var<uniform> wgt_u: array<vec4<f32>, 4096>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> cv: Conv;

@group(0) @binding(0) var<storage, read_write> part: array<f32>;
@group(0) @binding(1) var xin_tex: texture_2d<f32>;
@group(0) @binding(2) var dp_tex: texture_2d<f32>;
@group(0) @binding(3) var<uniform> cg: Conv;

// log2 of the textures' width in texels (chosen by src/ops/conv.rs so the height fits).
override TEX_LOGW: u32 = 10u;

fn fetch(t: texture_2d<f32>, i: u32) -> f32 {
    let w = 1u << TEX_LOGW;
    return textureLoad(t, vec2<u32>(i & (w - 1u), i >> TEX_LOGW), 0).x;
}

fn src_at(i: u32) -> f32 {
    return fetch(src_tex, i);
}

fn wgt_at(i: u32) -> f32 {
    return wgt_u[i >> 2u][i & 3u];
}

fn xin_at(i: u32) -> f32 {
    return fetch(xin_tex, i);
}

fn dp_at(i: u32) -> f32 {
    return fetch(dp_tex, i);
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
