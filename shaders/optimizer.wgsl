// Optimizers: one update per parameter tensor, in place.
//
// Adam (Kingma & Ba 2015), step t = 1, 2, ... (step.step, written by the host each step):
//     m ← β₁·m + (1 − β₁)·g
//     v ← β₂·v + (1 − β₂)·g²
//     m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ)                 (bias correction, one_minus_pow)
//     θ ← θ − lr · m̂ / (√v̂ + ε)
// SGD with momentum μ (PyTorch's form):
//     u ← μ·u + g
//     θ ← θ − lr · u
//
//   adam_update:          param, m, v: [n] updated in place; grad: [n] read
//   sgd_momentum_update:  param, velocity: [n] updated in place; grad: [n] read
//   adam_update_vec4, sgd_momentum_update_vec4: the same, four values an invocation (n a
//                         multiple of 4). On lavapipe every storage access is a loop over the
//                         SIMD lanes, one iteration a lane for a float or a vec4 alike, so a
//                         vec4 moves four values for the loop a float takes.

struct AdamParams {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

struct SgdParams {
    n: u32,
    lr: f32,
    momentum: f32,
    _p0: u32,
}

struct Step {
    step: u32,
    batch_offset: u32,
    seed: u32,
    valid_rows: u32,
}

const WG: u32 = 256u;

// 1 − βᵗ, Adam's bias correction, to float precision. pow(β, t) is exp2(t·log2 β); on a CPU
// device (lavapipe) log2 of a β near 1 loses digits to cancellation (the mantissa's log less
// the exponent), and 1 − βᵗ cancels again (0.017 at β = 0.999, t = 17): updates came out
// ~3e-5 relative off. Here ln β = log1p(β − 1), with β − 1 exact, as 2·atanh(y / (2 + y)) by
// its series, and 1 − eˣ = −expm1(x) by its Taylor series where |x| < 0.5 (elsewhere it
// does not cancel). Both series stop where the next term is under 1e-9 of the sum.
fn one_minus_pow(beta: f32, t: f32) -> f32 {
    var ln_beta = log(beta);
    if beta > 0.5 {
        let y = beta - 1.0;
        let u = y / (2.0 + y);
        let u2 = u * u;
        ln_beta = 2.0 * u * (1.0 + u2 * (1.0 / 3.0 + u2 * (1.0 / 5.0 + u2 * (1.0 / 7.0 + u2 * (1.0 / 9.0
            + u2 * (1.0 / 11.0 + u2 * (1.0 / 13.0 + u2 / 15.0)))))));
    }
    let x = t * ln_beta;
    if x > -0.5 {
        return -x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0 * (1.0 + x / 6.0
            * (1.0 + x / 7.0 * (1.0 + x / 8.0 * (1.0 + x / 9.0))))))));
    }
    return 1.0 - exp(x);
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<uniform> ap: AdamParams;
@group(0) @binding(5) var<uniform> step: Step;

// One Adam step on four values, the formulas above: the new moments, then θ from them.
// Every Adam kernel takes its step through these (adam_update on one value in .x).
fn adam_m4(a: AdamParams, m: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
    return a.beta1 * m + (1.0 - a.beta1) * g;
}

fn adam_v4(a: AdamParams, v: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
    return a.beta2 * v + (1.0 - a.beta2) * g * g;
}

fn adam_param4(a: AdamParams, t: u32, param: vec4<f32>, m_new: vec4<f32>, v_new: vec4<f32>) -> vec4<f32> {
    let m_hat = m_new / one_minus_pow(a.beta1, f32(t));
    let v_hat = v_new / one_minus_pow(a.beta2, f32(t));
    return param - a.lr * m_hat / (sqrt(v_hat) + a.eps);
}

@compute @workgroup_size(256)
fn adam_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= ap.n {
        return;
    }
    let g = vec4<f32>(grad[i]);
    let m_new = adam_m4(ap, vec4<f32>(m[i]), g);
    let v_new = adam_v4(ap, vec4<f32>(v[i]), g);
    m[i] = m_new.x;
    v[i] = v_new.x;
    param[i] = adam_param4(ap, step.step, vec4<f32>(param[i]), m_new, v_new).x;
}

@group(0) @binding(0) var<storage, read_write> param_v4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> m_v4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> v_v4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad_v4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn adam_update_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= ap.n / 4u {
        return;
    }
    let g = grad_v4[i];
    let m_new = adam_m4(ap, m_v4[i], g);
    let v_new = adam_v4(ap, v_v4[i], g);
    m_v4[i] = m_new;
    v_v4[i] = v_new;
    param_v4[i] = adam_param4(ap, step.step, param_v4[i], m_new, v_new);
}

// One SGD step on four values: the new velocity u, then θ from it (every SGD kernel).
fn sgd_velocity4(s: SgdParams, u: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
    return s.momentum * u + g;
}

fn sgd_param4(s: SgdParams, param: vec4<f32>, u: vec4<f32>) -> vec4<f32> {
    return param - s.lr * u;
}

@group(0) @binding(0) var<storage, read_write> sgd_param: array<f32>;
@group(0) @binding(1) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(2) var<storage, read> sgd_grad: array<f32>;
@group(0) @binding(3) var<uniform> sp: SgdParams;

@compute @workgroup_size(256)
fn sgd_momentum_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= sp.n {
        return;
    }
    let u = sgd_velocity4(sp, vec4<f32>(velocity[i]), vec4<f32>(sgd_grad[i]));
    velocity[i] = u.x;
    sgd_param[i] = sgd_param4(sp, vec4<f32>(sgd_param[i]), u).x;
}

@group(0) @binding(0) var<storage, read_write> sgd_param_v4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> velocity_v4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> sgd_grad_v4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sgd_momentum_update_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= sp.n / 4u {
        return;
    }
    let u = sgd_velocity4(sp, velocity_v4[i], sgd_grad_v4[i]);
    velocity_v4[i] = u;
    sgd_param_v4[i] = sgd_param4(sp, sgd_param_v4[i], u);
}
