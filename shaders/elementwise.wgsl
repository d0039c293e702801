// Small element-wise kernels the graph needs around the big ones.
//
//   add:               out[i] = a[i] + α·b[i]               (α = 1 sums the gradients of a node used
//                                                          twice; α = β weighs a loss term)
//   scale:             out[i] = α·x[i]                      (backward of add's second operand)
//   fill:              out[i] = value                       (the seed d_loss = 1 of backward)
//   broadcast_scaled:  out[i] = scale · s[0]                (backward of sum_all)
//
// All outputs are overwritten, never accumulated. 1-D dispatch, 2-D when n > 65,535·256.

struct Params {
    n: u32,
    value: f32,
    _p0: u32,
    _p1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n {
        return;
    }
    out[i] = a[i] + p.value * b[i];
}

@group(0) @binding(0) var<storage, read_write> scaled_out: array<f32>;
@group(0) @binding(1) var<storage, read> scale_in: array<f32>;
@group(0) @binding(2) var<uniform> sc: Params;

@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= sc.n {
        return;
    }
    scaled_out[i] = sc.value * scale_in[i];
}

@group(0) @binding(0) var<storage, read_write> filled: array<f32>;
@group(0) @binding(1) var<uniform> fp: Params;

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= fp.n {
        return;
    }
    filled[i] = fp.value;
}

@group(0) @binding(0) var<storage, read_write> spread: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<uniform> bp: Params;

@compute @workgroup_size(256)
fn broadcast_scaled(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= bp.n {
        return;
    }
    spread[i] = bp.value * s[0];
}

// scale_in_place:  x[i] = value · x[i]   (only for `--break-kernel`: a deliberately wrong
//                  output, so gradcheck can be seen catching a broken backward kernel)

@group(0) @binding(0) var<storage, read_write> scaled: array<f32>;
@group(0) @binding(1) var<uniform> sp: Params;

@compute @workgroup_size(256)
fn scale_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= sp.n {
        return;
    }
    scaled[i] = sp.value * scaled[i];
}
