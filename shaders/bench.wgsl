// Kernels that measure the device's own ceilings for `shaderprop bench`.
//
//   copy_bandwidth:  dst[i] = src[i]  over vec4s; bytes moved = 2 · 16 · n (read + write)
//   fma_rate:        each invocation runs FMA_ITERS iterations of 8 independent FMA chains
//                    (x = x·a + b); FLOPs = 2 · 8 · FMA_ITERS per invocation. The result is
//                    stored so the compiler cannot drop the chain.

override FMA_ITERS: u32 = 1024u;

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn copy_bandwidth(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n {
        return;
    }
    dst[i] = src[i];
}

@group(0) @binding(0) var<storage, read_write> sink: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> fp: Params;

@compute @workgroup_size(256)
fn fma_rate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let seed = f32(i) * 1e-9;
    var x0 = vec4<f32>(seed, seed + 0.1, seed + 0.2, seed + 0.3);
    var x1 = x0 + vec4<f32>(0.5);
    let a = vec4<f32>(0.999999);
    let b = vec4<f32>(1e-7);
    for (var k = 0u; k < FMA_ITERS; k++) {
        x0 = fma(x0, a, b);
        x1 = fma(x1, a, b);
    }
    if i < fp.n {
        sink[i] = x0 + x1;
    }
}
