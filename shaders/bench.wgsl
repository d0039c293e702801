// Kernels that measure the device's own ceilings for `shaderprop bench`.
//
//   copy_bandwidth:  dst[i] = src[i]  over vec4s; bytes moved = 2 · 16 · n (read + write)
//   copy_texture, copy_storage_texture:
//                    dst[i] = texel (i mod W, i div W) of a W-wide rgba32float texture,
//                    sampled or read as a storage texture; the same bytes moved.
//   fma_rate:        each invocation runs FMA_ITERS steps of 8 independent FMA chains
//                    (x = x·a + b); FLOPs = 2 · 8 · FMA_ITERS per invocation. The result is
//                    stored so the compiler cannot drop the chain.
//
// The chains take 32 steps a loop iteration (FMA_ITERS a multiple of 32). On a CPU device
// each iteration also costs a per-lane counter and a blend of every loop-carried value with
// the execution mask (lavapipe's generated code: a vblendvps per chain, on the same pipes as
// the multiplies), so one step an iteration measured 25–28 GFLOP/s on the project's 2-core
// VM where 32 an iteration measure 70–77, and a C probe of the CPU's own 8-wide multiply-add
// chains 75–87 (BENCHMARKS.md, session 16). A ceiling that low would flatter every
// compute-bound row's % of it by 2.5×. On a GPU the loop costs next to nothing either way.
//
// A device's fastest read path need not be a storage buffer: on lavapipe a storage load is a
// bounds-checked load per lane and a texel fetch a gather, and the texture-reading kernels
// beat the buffer copy, so the bandwidth ceiling is the faster of the two copies. Each
// invocation copies 4 vec4s, WG apart (a workgroup covers 4·WG consecutive ones), its four
// loads issued before its stores: on lavapipe that ran 15-40 % faster than one vec4 an
// invocation, and a loop over the four (stores between loads) no faster than one
// (BENCHMARKS.md, session 17).

override FMA_ITERS: u32 = 1024u;

struct Params {
    n: u32,
    // The texture copies' source width W.
    width: u32,
    _p1: u32,
    _p2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

// The first of the 4·WG vec4s workgroup `wid` copies.
fn copy_base(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * 4u * WG;
}

// Where vec4 `i` is loaded from: i itself, or the last one where i lies past the end (the
// last workgroup's tail; its store is skipped). The modules are built without naga's bounds
// checks, so a load past the end would be the driver's to define.
fn copy_at(i: u32) -> u32 {
    return min(i, p.n - 1u);
}

// Stores the four vec4s of invocation `i` (its first index) that lie before n.
fn copy_store(i: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {
    if i < p.n {
        dst[i] = a0;
    }
    if i + WG < p.n {
        dst[i + WG] = a1;
    }
    if i + 2u * WG < p.n {
        dst[i + 2u * WG] = a2;
    }
    if i + 3u * WG < p.n {
        dst[i + 3u * WG] = a3;
    }
}

@compute @workgroup_size(256)
fn copy_bandwidth(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = copy_base(wid, nwg) + lid;
    copy_store(i, src[copy_at(i)], src[copy_at(i + WG)], src[copy_at(i + 2u * WG)], src[copy_at(i + 3u * WG)]);
}

@group(0) @binding(3) var copy_t: texture_2d<f32>;
@group(0) @binding(4) var copy_i: texture_storage_2d<rgba32float, read>;

// The texel of vec4 i (clamped by copy_at): (i mod W, i div W); then its fetch, sampled or
// as a storage texture.
fn copy_texel(i: u32) -> vec2<u32> {
    let j = copy_at(i);
    return vec2<u32>(j % p.width, j / p.width);
}

fn copy_sampled(i: u32) -> vec4<f32> {
    return textureLoad(copy_t, copy_texel(i), 0);
}

fn copy_stored(i: u32) -> vec4<f32> {
    return textureLoad(copy_i, copy_texel(i));
}

@compute @workgroup_size(256)
fn copy_texture(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = copy_base(wid, nwg) + lid;
    copy_store(i, copy_sampled(i), copy_sampled(i + WG), copy_sampled(i + 2u * WG), copy_sampled(i + 3u * WG));
}

@compute @workgroup_size(256)
fn copy_storage_texture(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = copy_base(wid, nwg) + lid;
    copy_store(i, copy_stored(i), copy_stored(i + WG), copy_stored(i + 2u * WG), copy_stored(i + 3u * WG));
}

@group(0) @binding(0) var<storage, read_write> sink: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> fp: Params;

@compute @workgroup_size(256)
fn fma_rate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let seed = f32(i) * 1e-9;
    // Small starting values (each step then adds about b, many ulps), so a test can count
    // the steps from the result (tests/kernels.rs).
    var x0 = vec4<f32>(seed, seed + 1e-4, seed + 2e-4, seed + 3e-4);
    var x1 = x0 + vec4<f32>(5e-4);
    let a = vec4<f32>(0.999999);
    let b = vec4<f32>(1e-7);
    // 32 steps of each chain, the two interleaved (written out: through a helper that stepped
    // one chain eight times, the compiler ran the chains one after the other, ~25 % slower).
    for (var k = 0u; k < FMA_ITERS; k += 32u) {
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x0 = fma(x0, a, b); x1 = fma(x1, a, b);
    }
    if i < fp.n {
        sink[i] = x0 + x1;
    }
}

// What one scattered 4-byte load costs by the path it takes (rows `load_*` of the table):
// each invocation sums LOAD_ITERS values of a 16,384-float table at addresses that differ per
// invocation and per step, then stores the sum (so nothing is optimised away). The same
// table is bound as a storage buffer, a 64 KiB uniform buffer, or an rgba32float texture
// (1024 × 4 texels, one texel fetch per value, of which one float is used), sampled
// (load_texture) or as a read-only storage texture (load_storage_texture: no mip level). On
// lavapipe the paths differ by up to 8× (BENCHMARKS.md); on a GPU they mostly do not.
const LOAD_ITERS: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> load_out: array<f32>;
@group(0) @binding(1) var<storage, read> table_s: array<f32>;
@group(0) @binding(2) var<uniform> table_u: array<vec4<f32>, 4096>;
@group(0) @binding(3) var table_t: texture_2d<f32>;
@group(0) @binding(4) var table_i: texture_storage_2d<rgba32float, read>;

fn load_index(i: u32, j: u32) -> u32 {
    return (i * 7u + j * 13u) & 16383u;
}

@compute @workgroup_size(64)
fn load_storage(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = 0.0;
    for (var j = 0u; j < LOAD_ITERS; j++) {
        acc += table_s[load_index(gid.x, j)];
    }
    load_out[gid.x] = acc;
}

@compute @workgroup_size(64)
fn load_uniform(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = 0.0;
    for (var j = 0u; j < LOAD_ITERS; j++) {
        let idx = load_index(gid.x, j);
        acc += table_u[idx >> 2u][idx & 3u];
    }
    load_out[gid.x] = acc;
}

@compute @workgroup_size(64)
fn load_texture(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = 0.0;
    for (var j = 0u; j < LOAD_ITERS; j++) {
        let idx = load_index(gid.x, j) >> 2u;
        acc += textureLoad(table_t, vec2<u32>(idx & 1023u, idx >> 10u), 0).x;
    }
    load_out[gid.x] = acc;
}

@compute @workgroup_size(64)
fn load_storage_texture(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = 0.0;
    for (var j = 0u; j < LOAD_ITERS; j++) {
        let idx = load_index(gid.x, j) >> 2u;
        acc += textureLoad(table_i, vec2<u32>(idx & 1023u, idx >> 10u)).x;
    }
    load_out[gid.x] = acc;
}
