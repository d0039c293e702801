// Sparsity penalties on an autoencoder's code z: [rows, cols] (the sparse autoencoder).
//
// L1 activity penalty (Keras' `activity_regularizer=l1(λ)`), per sample:
//     p[r] = s · Σ_j |z[r,j]|                 (s = λ times the loss's feature count, so that
//                                              averaging like the reconstruction term gives λ·Σ|z|)
//     ∂p/∂z[r,j] = s · sign(z[r,j])           (0 at z = 0: the subgradient ReLU codes sit at)
//   l1_forward:  p[r] = s · Σ_j |z[r,j]|
//   l1_backward: d_z[r,j] = s · sign(z[r,j]) · d_p[r]
//
// KL sparsity (Ng's sparse autoencoder notes) on a sigmoid code, over the batch:
//     ρ̂_j = (1/V) Σ_{r<V} z[r,j]              (mean activation of unit j; V = valid rows)
//     P   = β Σ_j KL(ρ ‖ ρ̂_j) = β Σ_j [ρ·ln(ρ/ρ̂_j) + (1 − ρ)·ln((1 − ρ)/(1 − ρ̂_j))]
//     ∂P/∂ρ̂_j = β·(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)),      ∂ρ̂_j/∂z[r,j] = 1/V (r < V)
//   code_mean:           rho_hat[j] = (1/V) Σ_{r<V} z[r,j]
//   code_mean_backward:  d_z[r,j] = d_rho_hat[j] / V for r < V, else 0
//   kl_sparsity_forward: out[0] = P, with ρ̂ clamped to [1e-6, 1 − 1e-6] (a dead or saturated
//                        unit gives a large finite penalty, never inf)
//   kl_sparsity_backward: d_rho_hat[j] = d_out[0] · β·(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)) at the
//                        clamped ρ̂: deliberately not the clamp's zero slope, so a dead unit
//                        (ρ̂ < 1e-6) still gets the strong push back towards ρ (up to β·ρ·10⁶;
//                        Adam's step does not grow with it)
//
// Code statistics for the reports (no gradient):
//   near_zero: out[r] = #{ j : |z[r,j]| < ε }
// All outputs are overwritten; one invocation per row or column, in order (deterministic).

struct Params {
    rows: u32,
    cols: u32,
    // λ·features (l1), ρ (kl), or ε (near_zero).
    a: f32,
    // β (kl).
    b: f32,
}

struct Step {
    step: u32,
    batch_offset: u32,
    seed: u32,
    valid_rows: u32,
}

const WG: u32 = 256u;
const CLAMP: f32 = 1e-6;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn l1_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * WG;
    if r >= p.rows {
        return;
    }
    var acc = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        acc += abs(z[r * p.cols + j]);
    }
    out[r] = p.a * acc;
}

@compute @workgroup_size(256)
fn near_zero(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * WG;
    if r >= p.rows {
        return;
    }
    var count = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        count += select(0.0, 1.0, abs(z[r * p.cols + j]) < p.a);
    }
    out[r] = count;
}

@group(0) @binding(0) var<storage, read_write> d_z: array<f32>;
@group(0) @binding(1) var<storage, read> z_b: array<f32>;
@group(0) @binding(2) var<storage, read> d_p: array<f32>;
@group(0) @binding(3) var<uniform> pb: Params;

@compute @workgroup_size(256)
fn l1_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pb.rows * pb.cols {
        return;
    }
    d_z[i] = pb.a * sign(z_b[i]) * d_p[i / pb.cols];
}

@group(0) @binding(0) var<storage, read_write> rho_hat: array<f32>;
@group(0) @binding(1) var<storage, read> code: array<f32>;
@group(0) @binding(2) var<uniform> pm: Params;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(256)
fn code_mean(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x + gid.y * nwg.x * WG;
    if j >= pm.cols {
        return;
    }
    let valid = max(min(step.valid_rows, pm.rows), 1u);
    var acc = 0.0;
    for (var r = 0u; r < valid; r++) {
        acc += code[r * pm.cols + j];
    }
    rho_hat[j] = acc / f32(valid);
}

@group(0) @binding(0) var<storage, read_write> d_code: array<f32>;
@group(0) @binding(1) var<storage, read> d_rho: array<f32>;
@group(0) @binding(2) var<uniform> pmb: Params;
@group(0) @binding(3) var<uniform> step_b: Step;

@compute @workgroup_size(256)
fn code_mean_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pmb.rows * pmb.cols {
        return;
    }
    let valid = max(min(step_b.valid_rows, pmb.rows), 1u);
    d_code[i] = select(0.0, d_rho[i % pmb.cols] / f32(valid), i / pmb.cols < valid);
}

@group(0) @binding(0) var<storage, read_write> penalty: array<f32>;
@group(0) @binding(1) var<storage, read> rh: array<f32>;
@group(0) @binding(2) var<uniform> pk: Params;

@compute @workgroup_size(1)
fn kl_sparsity_forward() {
    let rho = pk.a;
    var acc = 0.0;
    for (var j = 0u; j < pk.cols; j++) {
        let q = clamp(rh[j], CLAMP, 1.0 - CLAMP);
        acc += rho * log(rho / q) + (1.0 - rho) * log((1.0 - rho) / (1.0 - q));
    }
    penalty[0] = pk.b * acc;
}

@group(0) @binding(0) var<storage, read_write> d_rh: array<f32>;
@group(0) @binding(1) var<storage, read> rh_b: array<f32>;
@group(0) @binding(2) var<storage, read> d_pen: array<f32>;
@group(0) @binding(3) var<uniform> pkb: Params;

@compute @workgroup_size(256)
fn kl_sparsity_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x + gid.y * nwg.x * WG;
    if j >= pkb.cols {
        return;
    }
    let rho = pkb.a;
    let q = clamp(rh_b[j], CLAMP, 1.0 - CLAMP);
    d_rh[j] = d_pen[0] * pkb.b * (-rho / q + (1.0 - rho) / (1.0 - q));
}
