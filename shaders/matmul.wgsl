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
// Five variants compute the same product (the autotuner, src/tune.rs, picks one per shape
// class and device; `--variant matmul=NAME` pins one):
//   matmul_naive  one invocation per output element, K-loop straight from global memory.
//                 The reference: short enough to read as the definition.
//   matmul        register-blocked, any shape: each invocation keeps an 8×4 block of C
//                 (RB_M rows × RB_N consecutive columns) in registers, so every loaded value
//                 of A is reused 4 times and every value of B 8 times (32 FMAs per 12 loads
//                 instead of 1 per 2). All invocations of a workgroup share its 8 rows.
//   matmul_vec4   (below) M, N, K multiples of 4: an 8×8 block per invocation, 16-byte loads
//                 and stores, K walked four at a time (256 FMAs per 16 vec4 loads). Its body
//                 is matmul_block.wgsl, appended to this file.
//   matmul_tex    (matmul_tex.wgsl) the same block reading A and B through texture fetches.
//   matmul_tex_sg (matmul_sg.wgsl) a 16×4 block, textures, A shared across a subgroup by
//                 broadcasts: 256 FMAs per 6 fetches.
// Shader runtime checks are off for every module (src/gpu/mod.rs): out-of-range rows and
// columns read a clamped, valid address and are never stored.

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

// matmul_naive: a 16×16 workgroup, one output each.
const NAIVE_WG: u32 = 16u;
// matmul: RB_M rows × RB_N consecutive columns per invocation; WG invocations side by side
// cover WG·RB_N columns. WG is chosen per shape (8..64) so narrow outputs waste no lanes.
const RB_M: u32 = 8u;
const RB_N: u32 = 4u;
override WG: u32 = 64u;

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

// Stores one row of an invocation's block: RB_N consecutive columns from col0.
fn store_row(row: u32, col0: u32, v: vec4<f32>) {
    if row >= dims.m {
        return;
    }
    for (var j = 0u; j < RB_N; j++) {
        if col0 + j < dims.n {
            epilogue(row, col0 + j, v[j]);
        }
    }
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // This workgroup's RB_M rows: the same for all its invocations, so every load of A is
    // one address for the whole workgroup (a broadcast, not a gather).
    let row0 = wid.y * RB_M;
    let col0 = (wid.x * WG + lid.x) * RB_N;
    if col0 >= dims.n {
        return;
    }
    // Out-of-range rows/columns read a clamped, valid address and are never stored, so the
    // inner loop has no branches. Plain scalars, not arrays: a private array indexed by a
    // loop variable lives in memory on some drivers.
    let last_row = dims.m - 1u;
    let r0 = min(row0, last_row);
    let r1 = min(row0 + 1u, last_row);
    let r2 = min(row0 + 2u, last_row);
    let r3 = min(row0 + 3u, last_row);
    let r4 = min(row0 + 4u, last_row);
    let r5 = min(row0 + 5u, last_row);
    let r6 = min(row0 + 6u, last_row);
    let r7 = min(row0 + 7u, last_row);
    let last_col = dims.n - 1u;
    let c1 = min(col0 + 1u, last_col);
    let c2 = min(col0 + 2u, last_col);
    let c3 = min(col0 + 3u, last_col);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var kk = 0u; kk < dims.k; kk++) {
        let bv = vec4<f32>(load_b(kk, col0), load_b(kk, c1), load_b(kk, c2), load_b(kk, c3));
        acc0 += load_a(r0, kk) * bv;
        acc1 += load_a(r1, kk) * bv;
        acc2 += load_a(r2, kk) * bv;
        acc3 += load_a(r3, kk) * bv;
        acc4 += load_a(r4, kk) * bv;
        acc5 += load_a(r5, kk) * bv;
        acc6 += load_a(r6, kk) * bv;
        acc7 += load_a(r7, kk) * bv;
    }
    store_row(row0, col0, acc0);
    store_row(row0 + 1u, col0, acc1);
    store_row(row0 + 2u, col0, acc2);
    store_row(row0 + 3u, col0, acc3);
    store_row(row0 + 4u, col0, acc4);
    store_row(row0 + 5u, col0, acc5);
    store_row(row0 + 6u, col0, acc6);
    store_row(row0 + 7u, col0, acc7);
}

// ---------------------------------------------------------------------------------------
// matmul_vec4: the same product when M, N and K are multiples of 4, reading and writing
// 16 bytes at a time. Each invocation keeps an 8×8 block of C (16 vec4 accumulators) and
// walks K four steps at a time: per four steps it issues 16 vec4 loads for 256 FMAs,
// against 12 scalar loads per 32 FMAs in `matmul`. On lavapipe, where every storage load
// is a per-lane loop, the number of load instructions is what costs; on GPUs, 16-byte loads
// use the memory bus fully. Rows and columns past the end read a clamped, valid address and
// are never stored.

@group(0) @binding(0) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias4: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> dims4: Dims;

// Columns of C per invocation of matmul_vec4 (two vec4s). A workgroup holds WG blocks of
// RB_M × V_N: WG_COLS across N, WG / WG_COLS down M.
const V_N: u32 = 8u;
override WG_COLS: u32 = 64u;

fn a4_at(i: u32) -> vec4<f32> {
    return a4[min(i, dims4.m * dims4.k / 4u - 1u)];
}

fn b4_at(i: u32) -> vec4<f32> {
    return b4[min(i, dims4.k * dims4.n / 4u - 1u)];
}

@compute @workgroup_size(WG)
fn matmul_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    block_8x8(wid, lid);
}
