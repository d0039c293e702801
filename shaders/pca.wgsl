// Principal component analysis, the linear baseline an autoencoder is compared with
// (`shaderprop pca`, and beside `eval` / `anomaly`). The big products are our matmul; the
// kernels here are the glue.
//
// With X the data [n, d] (fed in zero-padded batches), the covariance is
//     Σ = XᵀX / n − μμᵀ,   μ = Σ_r X[r, :] / n
// accumulated batch by batch (matmul with Aᵀ, then add_in_place into a [d, d] state; the
// column sums by column_sum into a [d] state). The top-k eigenvectors of Σ come from
// orthogonal (subspace) iteration:
//     Y = Σ Q          (matmul, [d, d] × [d, k])
//     Q = orth(Y)      (orthonormalize: Gram–Schmidt on the columns of Y, in order)
// Column j converges to the j-th eigenvector at rate |λ_{j+1} / λ_j| per step, so the columns
// come out ordered by explained variance. A sample's PCA code and reconstruction are then
//     c = (x − μ) Q,   x̂ = c Qᵀ + μ    (two matmuls with bias: −μQ and μ)
// and its squared error ‖x − x̂‖² (mse_forward, loss.wgsl) is the best any linear code of
// width k can do on average: the number a non-linear autoencoder has to beat.
//
//   add_in_place:    acc[i] = acc[i] + x[i]                 acc: a persistent state
//   orthonormalize:  q = columns of y made orthonormal      q, y: [rows = d, cols = k]
//
// orthonormalize is classical Gram–Schmidt, run twice per column ("twice is enough":
// Giraud, Langou and Rozložník 2005, as accurate as the modified variant), as a sequence of
// small dispatches the graph lays out (src/graph/mod.rs, Graph::orthonormalize):
//     gs_copy                    q = y
//     for each column j:
//       2 × { gs_dots(j)         r[p] = q_pᵀ q_j           one invocation per p < j
//             gs_subtract(j)     q_j −= Σ_{p<j} r[p] q_p    one invocation per row }
//       gs_norm(j)               r[k] = 1 / ‖q_j‖           one invocation (0 when ‖q_j‖ ≤ 1e-30)
//       gs_scale(j)              q_j *= r[k]                one invocation per row
// Every invocation loops at most max(d, k) times and no dispatch needs a barrier. One
// workgroup doing it all would need a reduction with barriers per dot product, and Mesa's
// llvmpipe (Vulkan and GL) silently ends an invocation's loops after 65,535 iterations in
// total (its loop limiter): whole-matrix kernels came back with columns normalised from part
// of their sum. Every order of summation is fixed: bitwise reproducible, no atomics. Any
// Gram–Schmidt variant computes the Q of Y's thin QR factorisation (R with a positive
// diagonal), so this equals the twin (modified Gram–Schmidt, twice) up to rounding.

struct Params {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> acc: array<f32>;
@group(0) @binding(1) var<storage, read> inc: array<f32>;
@group(0) @binding(2) var<uniform> ap: Params;

@compute @workgroup_size(256)
fn add_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= ap.rows * ap.cols {
        return;
    }
    acc[i] = acc[i] + inc[i];
}

struct Gs {
    d: u32,
    k: u32,
    j: u32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<uniform> gc: Gs;

@compute @workgroup_size(256)
fn gs_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i < gc.d * gc.k {
        q[i] = y[i];
    }
}

// r: the dot products r[0..j) and, in r[k], the column's inverse norm.
@group(0) @binding(1) var<storage, read_write> r: array<f32>;
@group(0) @binding(2) var<uniform> gp: Gs;

@compute @workgroup_size(64)
fn gs_dots(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    if p >= gp.j {
        return;
    }
    var s = 0.0;
    for (var i = 0u; i < gp.d; i++) {
        s += q[i * gp.k + p] * q[i * gp.k + gp.j];
    }
    r[p] = s;
}

@compute @workgroup_size(64)
fn gs_subtract(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= gp.d {
        return;
    }
    var v = q[i * gp.k + gp.j];
    for (var p = 0u; p < gp.j; p++) {
        v -= r[p] * q[i * gp.k + p];
    }
    q[i * gp.k + gp.j] = v;
}

@compute @workgroup_size(1)
fn gs_norm() {
    var s = 0.0;
    for (var i = 0u; i < gp.d; i++) {
        s += q[i * gp.k + gp.j] * q[i * gp.k + gp.j];
    }
    let norm = sqrt(s);
    r[gp.k] = select(0.0, 1.0 / norm, norm > 1e-30);
}

@compute @workgroup_size(64)
fn gs_scale(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i < gp.d {
        q[i * gp.k + gp.j] *= r[gp.k];
    }
}
