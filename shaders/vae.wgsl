// The variational autoencoder's two special pieces: the reparameterisation trick and the KL
// term (Kingma & Welling 2014). Shapes: mu, logvar, eps, z: [rows, latent]; kl: [rows].
//
// Reparameterisation: sampling z ~ N(μ, σ²) is not differentiable in μ and σ, but
//     z = μ + ε·exp(½·logvar),   ε ~ N(0, 1)   (drawn by random.wgsl, a constant of the graph)
// is, with
//     ∂z/∂μ = 1                              (so dμ = dz: autodiff passes it on, no kernel)
//     ∂z/∂logvar = ½·ε·exp(½·logvar)
//   reparameterize:                 z[i] = mu[i] + eps[i]·exp(½·logvar[i])
//   reparameterize_backward_logvar: d_logvar[i] = d_z[i] · ½·eps[i]·exp(½·logvar[i])
//
// KL divergence of N(μ, σ²) from N(0, 1), per sample, summed over the code:
//     KL = −½ Σ_j (1 + logvar_j − μ_j² − exp(logvar_j))
//     ∂KL/∂μ_j = μ_j,     ∂KL/∂logvar_j = ½·(exp(logvar_j) − 1)
//   kl_forward:         kl[r] = −½ Σ_j (1 + logvar[r,j] − mu[r,j]² − exp(logvar[r,j]))
//   kl_backward_mu:     d_mu[r,j] = d_kl[r] · mu[r,j]
//   kl_backward_logvar: d_logvar[r,j] = d_kl[r] · ½·(exp(logvar[r,j]) − 1)
// All outputs are overwritten. logvar of ±20 and μ of ±50 stay finite in float32
// (exp(20) ≈ 4.9e8).

struct Params {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> logvar: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn reparameterize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.rows * p.cols {
        return;
    }
    z[i] = mu[i] + eps[i] * exp(0.5 * logvar[i]);
}

@group(0) @binding(0) var<storage, read_write> d_logvar: array<f32>;
@group(0) @binding(1) var<storage, read> lv: array<f32>;
@group(0) @binding(2) var<storage, read> e: array<f32>;
@group(0) @binding(3) var<storage, read> d_z: array<f32>;
@group(0) @binding(4) var<uniform> pr: Params;

@compute @workgroup_size(256)
fn reparameterize_backward_logvar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pr.rows * pr.cols {
        return;
    }
    d_logvar[i] = d_z[i] * 0.5 * e[i] * exp(0.5 * lv[i]);
}

@group(0) @binding(0) var<storage, read_write> kl: array<f32>;
@group(0) @binding(1) var<storage, read> kmu: array<f32>;
@group(0) @binding(2) var<storage, read> klv: array<f32>;
@group(0) @binding(3) var<uniform> pk: Params;

// One invocation per row: the code is short (tens of values), so a serial sum is cheap and
// deterministic.
@compute @workgroup_size(64)
fn kl_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if r >= pk.rows {
        return;
    }
    var acc = 0.0;
    for (var j = 0u; j < pk.cols; j++) {
        let i = r * pk.cols + j;
        acc += 1.0 + klv[i] - kmu[i] * kmu[i] - exp(klv[i]);
    }
    kl[r] = -0.5 * acc;
}

@group(0) @binding(0) var<storage, read_write> d_param: array<f32>;
@group(0) @binding(1) var<storage, read> param: array<f32>;
@group(0) @binding(2) var<storage, read> d_kl: array<f32>;
@group(0) @binding(3) var<uniform> pg: Params;

@compute @workgroup_size(256)
fn kl_backward_mu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pg.rows * pg.cols {
        return;
    }
    d_param[i] = d_kl[i / pg.cols] * param[i];
}

@compute @workgroup_size(256)
fn kl_backward_logvar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= pg.rows * pg.cols {
        return;
    }
    d_param[i] = d_kl[i / pg.cols] * 0.5 * (exp(param[i]) - 1.0);
}
