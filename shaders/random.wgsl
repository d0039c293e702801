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
//
// Noise for the denoising autoencoder, drawn afresh every step from the same streams:
//   noise_gaussian: out[i] = clamp(x[i] + amount·g_i, 0, 1)      g_i standard normal as above
//                   (the Keras recipe: amount 0.5, clipped back to pixel range)
//   noise_mask:     out[i] = x[i] if u_i ≥ amount else 0          (drops a fraction `amount`)
// Outputs are overwritten. No backward: random draws are constants of the graph, and noise is
// applied to the data, which needs no gradient.

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

fn box_muller(w: vec4<u32>) -> f32 {
    return sqrt(-2.0 * log(to_unit(w.x))) * cos(6.283185307179586 * to_unit(w.y));
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
    out[i] = box_muller(draw(i));
}

struct NoiseParams {
    n: u32,
    stream: u32,
    amount: f32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read_write> noisy: array<f32>;
@group(0) @binding(1) var<storage, read> clean: array<f32>;
@group(0) @binding(2) var<uniform> np: NoiseParams;
@group(0) @binding(3) var<uniform> nstep: Step;

fn noise_draw(i: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(i, nstep.step, 0u, 0u), vec2<u32>(nstep.seed, np.stream));
}

@compute @workgroup_size(256)
fn noise_gaussian(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= np.n {
        return;
    }
    noisy[i] = clamp(clean[i] + np.amount * box_muller(noise_draw(i)), 0.0, 1.0);
}

@compute @workgroup_size(256)
fn noise_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= np.n {
        return;
    }
    noisy[i] = select(0.0, clean[i], to_unit(noise_draw(i).x) >= np.amount);
}
