// Principal component analysis, the linear baseline an autoencoder is compared with
// (`shaderprop pca`, and beside `eval` / `anomaly`). The big products are our matmul; these
// two kernels are the glue.
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
// orthonormalize is one workgroup: invocation t owns rows t, t + 256, … so the only
// communication is the dot products, reduced in workgroup memory in a fixed order
// (bitwise reproducible, no atomics). Modified Gram–Schmidt, each column twice
// ("twice is enough", Giraud et al. 2005) so that orthogonality holds to f32 precision even
// when Y's columns are nearly parallel, as they become when the iteration converges.
// A column with no component left (norm below 1e-30) is set to zero rather than divided by 0.

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

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<uniform> op: Params;

var<workgroup> red: array<f32, 256>;

// Σ over the workgroup of each invocation's `v`, in a fixed tree order.
fn workgroup_sum(t: u32, v: f32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s /= 2u) {
        if t < s {
            red[t] += red[t + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256)
fn orthonormalize(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let d = op.rows;
    let k = op.cols;
    for (var i = t; i < d; i += WG) {
        for (var j = 0u; j < k; j++) {
            q[i * k + j] = y[i * k + j];
        }
    }
    for (var j = 0u; j < k; j++) {
        for (var pass_ = 0u; pass_ < 2u; pass_++) {
            for (var p = 0u; p < j; p++) {
                var part = 0.0;
                for (var i = t; i < d; i += WG) {
                    part += q[i * k + p] * q[i * k + j];
                }
                let dot = workgroup_sum(t, part);
                for (var i = t; i < d; i += WG) {
                    q[i * k + j] -= dot * q[i * k + p];
                }
            }
        }
        var part = 0.0;
        for (var i = t; i < d; i += WG) {
            part += q[i * k + j] * q[i * k + j];
        }
        let norm = sqrt(workgroup_sum(t, part));
        let inv = select(0.0, 1.0 / norm, norm > 1e-30);
        for (var i = t; i < d; i += WG) {
            q[i * k + j] *= inv;
        }
    }
}
