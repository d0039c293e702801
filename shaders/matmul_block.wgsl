// The 8×8 block of the four-at-a-time matmul variants, shared by `matmul_vec4` (matmul.wgsl,
// storage-buffer loads) and `matmul_tex` (matmul_tex.wgsl, texture fetches). Appended to
// either file, which defines the bindings `c4`, `bias4`, `dims4` and the two loads
// `a4_at(i)` / `b4_at(i)`: the i-th group of four consecutive floats of A / B. Everything
// below depends on the data only through those two functions.
//
// Each invocation keeps an 8×8 block of C (16 vec4 accumulators) and walks K four steps at a
// time: per four steps it loads 16 vec4s for 256 FMAs. Rows and columns past the end read a
// clamped, valid address and are never stored. RB_M, V_N, WG and WG_COLS come from the
// front file.

fn activate4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}

// The bias of four columns from col0 (zero without bias). Loaded once per invocation, not
// once per row: on lavapipe eight rows' bias loads cost more than their stores.
fn bias_at(col0: u32) -> vec4<f32> {
    if HAS_BIAS {
        return bias4[min(col0, dims4.n - 4u) / 4u];
    }
    return vec4<f32>(0.0);
}

fn store_row4(row: u32, col0: u32, lo: vec4<f32>, hi: vec4<f32>, b_lo: vec4<f32>, b_hi: vec4<f32>) {
    if row >= dims4.m {
        return;
    }
    let q = (row * dims4.n + col0) / 4u;
    c4[q] = activate4(lo + b_lo);
    if col0 + 4u < dims4.n {
        c4[q + 1u] = activate4(hi + b_hi);
    }
}

// The 16 accumulators: row r of the block is lo_r (columns 0..3) and hi_r (columns 4..7).
// Module-scope private variables rather than an array, so that every access has a constant
// name: a private array indexed by a loop variable becomes a per-lane gather on llvmpipe.
var<private> lo0: vec4<f32>;
var<private> hi0: vec4<f32>;
var<private> lo1: vec4<f32>;
var<private> hi1: vec4<f32>;
var<private> lo2: vec4<f32>;
var<private> hi2: vec4<f32>;
var<private> lo3: vec4<f32>;
var<private> hi3: vec4<f32>;
var<private> lo4: vec4<f32>;
var<private> hi4: vec4<f32>;
var<private> lo5: vec4<f32>;
var<private> hi5: vec4<f32>;
var<private> lo6: vec4<f32>;
var<private> hi6: vec4<f32>;
var<private> lo7: vec4<f32>;
var<private> hi7: vec4<f32>;

// One step of K: the block += (column of 8 values of A) ⊗ (row of 8 values of B), given as
// a_lo = A rows 0..3, a_hi = rows 4..7, b_lo = B columns 0..3, b_hi = columns 4..7.
fn outer_product_step(a_lo: vec4<f32>, a_hi: vec4<f32>, b_lo: vec4<f32>, b_hi: vec4<f32>) {
    lo0 += a_lo.x * b_lo; hi0 += a_lo.x * b_hi;
    lo1 += a_lo.y * b_lo; hi1 += a_lo.y * b_hi;
    lo2 += a_lo.z * b_lo; hi2 += a_lo.z * b_hi;
    lo3 += a_lo.w * b_lo; hi3 += a_lo.w * b_hi;
    lo4 += a_hi.x * b_lo; hi4 += a_hi.x * b_hi;
    lo5 += a_hi.y * b_lo; hi5 += a_hi.y * b_hi;
    lo6 += a_hi.z * b_lo; hi6 += a_hi.z * b_hi;
    lo7 += a_hi.w * b_lo; hi7 += a_hi.w * b_hi;
}

fn block_8x8(wid: vec3<u32>, lid: vec3<u32>) {
    let m = dims4.m;
    let n = dims4.n;
    let k = dims4.k;
    // A workgroup is a grid of (WG / WG_COLS) × WG_COLS blocks, so that a narrow C (N = 32:
    // four blocks across) still fills every lane with a block of its own rows.
    let row0 = (wid.y * (WG / WG_COLS) + lid.x / WG_COLS) * RB_M;
    let col0 = (wid.x * WG_COLS + lid.x % WG_COLS) * V_N;
    if col0 >= n {
        return;
    }
    let last_row = m - 1u;
    let last_col = n - 1u;
    // The four K steps are written out (no loop over s, no arrays): the names a{s}l/a{s}h
    // and b{s}l/b{s}h hold step s's column of A and row of B.
    for (var kk = 0u; kk < k; kk += 4u) {
        var a0l: vec4<f32>; var a0h: vec4<f32>;
        var a1l: vec4<f32>; var a1h: vec4<f32>;
        var a2l: vec4<f32>; var a2h: vec4<f32>;
        var a3l: vec4<f32>; var a3h: vec4<f32>;
        if TRANS_A {
            // A stored [K, M]: the 8 rows are contiguous for a fixed k.
            let base = (kk * m + row0) / 4u;
            let stride = m / 4u;
            a0l = a4_at(base); a0h = a4_at(base + 1u);
            a1l = a4_at(base + stride); a1h = a4_at(base + stride + 1u);
            a2l = a4_at(base + 2u * stride); a2h = a4_at(base + 2u * stride + 1u);
            a3l = a4_at(base + 3u * stride); a3h = a4_at(base + 3u * stride + 1u);
        } else {
            // A stored [M, K]: k is contiguous for a fixed row; transpose 4×4 blocks.
            let q0 = a4_at((min(row0, last_row) * k + kk) / 4u);
            let q1 = a4_at((min(row0 + 1u, last_row) * k + kk) / 4u);
            let q2 = a4_at((min(row0 + 2u, last_row) * k + kk) / 4u);
            let q3 = a4_at((min(row0 + 3u, last_row) * k + kk) / 4u);
            let q4 = a4_at((min(row0 + 4u, last_row) * k + kk) / 4u);
            let q5 = a4_at((min(row0 + 5u, last_row) * k + kk) / 4u);
            let q6 = a4_at((min(row0 + 6u, last_row) * k + kk) / 4u);
            let q7 = a4_at((min(row0 + 7u, last_row) * k + kk) / 4u);
            a0l = vec4<f32>(q0.x, q1.x, q2.x, q3.x); a0h = vec4<f32>(q4.x, q5.x, q6.x, q7.x);
            a1l = vec4<f32>(q0.y, q1.y, q2.y, q3.y); a1h = vec4<f32>(q4.y, q5.y, q6.y, q7.y);
            a2l = vec4<f32>(q0.z, q1.z, q2.z, q3.z); a2h = vec4<f32>(q4.z, q5.z, q6.z, q7.z);
            a3l = vec4<f32>(q0.w, q1.w, q2.w, q3.w); a3h = vec4<f32>(q4.w, q5.w, q6.w, q7.w);
        }
        var b0l: vec4<f32>; var b0h: vec4<f32>;
        var b1l: vec4<f32>; var b1h: vec4<f32>;
        var b2l: vec4<f32>; var b2h: vec4<f32>;
        var b3l: vec4<f32>; var b3h: vec4<f32>;
        if TRANS_B {
            // B stored [N, K]: k is contiguous for a fixed column; transpose 4×4 blocks.
            let p0 = b4_at((min(col0, last_col) * k + kk) / 4u);
            let p1 = b4_at((min(col0 + 1u, last_col) * k + kk) / 4u);
            let p2 = b4_at((min(col0 + 2u, last_col) * k + kk) / 4u);
            let p3 = b4_at((min(col0 + 3u, last_col) * k + kk) / 4u);
            let p4 = b4_at((min(col0 + 4u, last_col) * k + kk) / 4u);
            let p5 = b4_at((min(col0 + 5u, last_col) * k + kk) / 4u);
            let p6 = b4_at((min(col0 + 6u, last_col) * k + kk) / 4u);
            let p7 = b4_at((min(col0 + 7u, last_col) * k + kk) / 4u);
            b0l = vec4<f32>(p0.x, p1.x, p2.x, p3.x); b0h = vec4<f32>(p4.x, p5.x, p6.x, p7.x);
            b1l = vec4<f32>(p0.y, p1.y, p2.y, p3.y); b1h = vec4<f32>(p4.y, p5.y, p6.y, p7.y);
            b2l = vec4<f32>(p0.z, p1.z, p2.z, p3.z); b2h = vec4<f32>(p4.z, p5.z, p6.z, p7.z);
            b3l = vec4<f32>(p0.w, p1.w, p2.w, p3.w); b3h = vec4<f32>(p4.w, p5.w, p6.w, p7.w);
        } else {
            // B stored [K, N]: the 8 columns are contiguous for a fixed k.
            let base = (kk * n + col0) / 4u;
            let stride = n / 4u;
            b0l = b4_at(base); b0h = b4_at(base + 1u);
            b1l = b4_at(base + stride); b1h = b4_at(base + stride + 1u);
            b2l = b4_at(base + 2u * stride); b2h = b4_at(base + 2u * stride + 1u);
            b3l = b4_at(base + 3u * stride); b3h = b4_at(base + 3u * stride + 1u);
        }
        outer_product_step(a0l, a0h, b0l, b0h);
        outer_product_step(a1l, a1h, b1l, b1h);
        outer_product_step(a2l, a2h, b2l, b2h);
        outer_product_step(a3l, a3h, b3l, b3h);
    }
    let b_lo = bias_at(col0);
    let b_hi = bias_at(col0 + 4u);
    store_row4(row0, col0, lo0, hi0, b_lo, b_hi);
    store_row4(row0 + 1u, col0, lo1, hi1, b_lo, b_hi);
    store_row4(row0 + 2u, col0, lo2, hi2, b_lo, b_hi);
    store_row4(row0 + 3u, col0, lo3, hi3, b_lo, b_hi);
    store_row4(row0 + 4u, col0, lo4, hi4, b_lo, b_hi);
    store_row4(row0 + 5u, col0, lo5, hi5, b_lo, b_hi);
    store_row4(row0 + 6u, col0, lo6, hi6, b_lo, b_hi);
    store_row4(row0 + 7u, col0, lo7, hi7, b_lo, b_hi);
}
