// Matrix multiply with a fused bias and activation epilogue.
//
// Forward (one kernel, four layouts chosen by override constants):
//     C[M,N] = act( op(A)[M,K] · op(B)[K,N] + bias[N] )
//     op(A) = A        when TRANS_A = false  (A stored [M, K])
//     op(A) = Aᵀ       when TRANS_A = true   (A stored [K, M])
//     op(B) = B        when TRANS_B = false  (B stored [K, N])
//     op(B) = Bᵀ       when TRANS_B = true   (B stored [N, K])
//     bias is added only when HAS_BIAS; act is chosen by ACT (see activation.wgsl).
//
// Backward (written by the graph as more matmuls, no transpose copies; P = pre-activation):
//     dP = act'(C) ⊙ dC                        (activation_backward, activation.wgsl)
//     dA = dP · op(B)ᵀ    (or its transpose when TRANS_A)
//     dB = op(A)ᵀ · dP    (or its transpose when TRANS_B)
//     dbias[n] = Σ_m dP[m, n]                  (column_sum, reduce.wgsl)
//
// Buffers: c: [M, N] (overwritten), a, b as above, bias: [N] (a 4-byte dummy when !HAS_BIAS).
//
// Two variants share the bindings:
//   matmul_naive  one invocation per output element, K-loop straight from global memory.
//                 The reference: short enough to read as the definition.
//   matmul        register-blocked: each invocation keeps a 4×4 block of C in registers,
//                 so every loaded value of A is reused 4 times and every value of B 4 times
//                 (16 FMAs per 8 loads instead of 1 per 2). Its columns are strided by the
//                 workgroup width (col = tx + 16·j), so neighbouring invocations read
//                 neighbouring addresses of B and C: coalesced on GPUs, vector lanes on CPUs
//                 (lavapipe). A workgroup covers a 64×64 tile of C.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
// ACT, LEAKY_SLOPE and activate() come from act_fns.wgsl, prepended to this file.

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const WG_X: u32 = 16u;
const WG_Y: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;

fn load_a(row: u32, kk: u32) -> f32 {
    if TRANS_A {
        return a[kk * dims.m + row];
    }
    return a[row * dims.k + kk];
}

fn load_b(kk: u32, col: u32) -> f32 {
    if TRANS_B {
        return b[col * dims.k + kk];
    }
    return b[kk * dims.n + col];
}

fn epilogue(row: u32, col: u32, acc: f32) {
    var v = acc;
    if HAS_BIAS {
        v += bias[col];
    }
    c[row * dims.n + col] = activate(v);
}

@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    if row >= dims.m || col >= dims.n {
        return;
    }
    var acc = 0.0;
    for (var kk = 0u; kk < dims.k; kk++) {
        acc += load_a(row, kk) * load_b(kk, col);
    }
    epilogue(row, col, acc);
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * (WG_Y * TM) + lid.y;
    let col0 = wid.x * (WG_X * TN) + lid.x;
    // Out-of-range rows/columns load a clamped (valid) address and are never stored,
    // so the inner loop carries no branches.
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var i = 0u; i < TM; i++) {
        rows[i] = min(row0 + i * WG_Y, dims.m - 1u);
    }
    for (var j = 0u; j < TN; j++) {
        cols[j] = min(col0 + j * WG_X, dims.n - 1u);
    }
    var acc: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < dims.k; kk++) {
        let bv = vec4<f32>(load_b(kk, cols[0]), load_b(kk, cols[1]), load_b(kk, cols[2]), load_b(kk, cols[3]));
        acc[0] += load_a(rows[0], kk) * bv;
        acc[1] += load_a(rows[1], kk) * bv;
        acc[2] += load_a(rows[2], kk) * bv;
        acc[3] += load_a(rows[3], kk) * bv;
    }
    for (var i = 0u; i < TM; i++) {
        let row = row0 + i * WG_Y;
        if row >= dims.m {
            continue;
        }
        for (var j = 0u; j < TN; j++) {
            let col = col0 + j * WG_X;
            if col < dims.n {
                epilogue(row, col, acc[i][j]);
            }
        }
    }
}
