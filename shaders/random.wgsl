// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011), the generator of cuRAND and PyTorch's CUDA backend.
//
// A draw is a pure function of (seed, step, stream, element index): no state lives on the
// GPU, every element is independent of every other, and a run is reproducible from its
// seed. Element i at optimizer step t of stream s draws
//     (w0, w1, w2, w3) = philox4x32_10(counter = (i, t, 0, 0), key = (seed, s))
//
//   random_uniform: out[i] = ((w0 >> 9) + 0.5) / 2^23     ∈ (0, 1), never 0 or 1 (exact in f32)
//   random_normal:  out[i] = √(−2·ln u1) · cos(2π·u2)                   (Box–Muller)
//                   u1, u2 from w0, w1 as above
// Outputs are overwritten. No backward: random draws are constants of the graph.

struct Params {
    n: u32,
    stream: u32,
    _p0: u32,
    _p1: u32,
}

struct Step {
    step: u32,
    batch_offset: u32,
    seed: u32,
    valid_rows: u32,
}

const WG: u32 = 256u;
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<uniform> step: Step;

// (high, low) 32-bit halves of the 64-bit product a·b, from 16-bit pieces (WGSL has no
// 64-bit integers).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mul_hi_lo(PHILOX_M0, c.x);
        let p1 = mul_hi_lo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

fn to_unit(w: u32) -> f32 {
    return (f32(w >> 9u) + 0.5) / 8388608.0;
}

fn draw(i: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(i, step.step, 0u, 0u), vec2<u32>(step.seed, p.stream));
}

@compute @workgroup_size(256)
fn random_uniform(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n {
        return;
    }
    out[i] = to_unit(draw(i).x);
}

@compute @workgroup_size(256)
fn random_normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n {
        return;
    }
    let w = draw(i);
    let u1 = to_unit(w.x);
    let u2 = to_unit(w.y);
    out[i] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
