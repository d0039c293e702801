// Element-wise activations, forward and backward (formulas in act_fns.wgsl, prepended).
//
//   activation_forward:   y[i]   = f(x[i])                         y: [n] overwritten
//   activation_backward:  d_x[i] = f'(x[i]) · d_y[i] = g(y[i]) · d_y[i]
//                         with g the derivative written in terms of the output y.
//                         d_x: [n] overwritten; y: forward output; d_y: gradient of y.
//
// Dispatch: 1-D over n in workgroups of 256, laid out 2-D when n needs more than 65,535
// workgroups (i = gid.x + gid.y · 256 · num_workgroups.x).

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn activation_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n {
        return;
    }
    y[i] = activate(x[i]);
}

@group(0) @binding(0) var<storage, read_write> d_x: array<f32>;
@group(0) @binding(1) var<storage, read> y_fwd: array<f32>;
@group(0) @binding(2) var<storage, read> d_y: array<f32>;
@group(0) @binding(3) var<uniform> pb: Params;

@compute @workgroup_size(256)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pb.n {
        return;
    }
    d_x[i] = activate_grad_from_output(y_fwd[i]) * d_y[i];
}

// The same two kernels four elements at a time (n a multiple of 4): one 16-byte load or
// store per operand instead of four 4-byte ones. Memory operations bound these kernels.
fn activate4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}

fn grad4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(
        activate_grad_from_output(v.x),
        activate_grad_from_output(v.y),
        activate_grad_from_output(v.z),
        activate_grad_from_output(v.w),
    );
}

@group(0) @binding(0) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p4: Params;

@compute @workgroup_size(256)
fn activation_forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p4.n / 4u {
        return;
    }
    y4[i] = activate4(x4[i]);
}

@group(0) @binding(0) var<storage, read_write> d_x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y_fwd4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d_y4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> pb4: Params;

@compute @workgroup_size(256)
fn activation_backward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pb4.n / 4u {
        return;
    }
    d_x4[i] = grad4(y_fwd4[i]) * d_y4[i];
}
