// matmul_tex_sg: the product of matmul_tex (same bindings, texture fetches, epilogue) with a
// taller block and A shared through subgroup broadcasts. Needs subgroups of at least 8
// invocations that lie within one row of blocks (src/ops/matmul.rs checks the adapter).
//
//     C[M,N] = act( op(A)[M,K] · op(B)[K,N] + bias[N] ),   M, N, K multiples of 4
//
// Each invocation keeps SG_M = 16 rows × 4 columns of C (16 vec4 accumulators, as many as the
// 8×8 block; `subgroup32` keeps 32, see SG_M below). The invocations of a subgroup sit side
// by side along N, so they all need the same 16 rows of A: per four steps of K that is 16
// vec4s, which lanes 0..7 fetch two each and subgroupBroadcast hands to every lane (a
// register move on lavapipe, where it is one SIMD register). B, different for every lane,
// costs 4 fetches. Per four K steps: 6 fetches for 256 FMAs, against 16 in matmul_tex. Where
// fetches are the cost (lavapipe: each is a loop over the lanes), that is the speed-up; the
// tuner measures whether it is one on a device. matmul_tex_sg_pipe (`subgroup_pipe`, at the
// end) is the same loop software-pipelined, and matmul_tex_sg_strips (`subgroup_strips`) that
// loop reading B from a copy cut into strips of 32 columns.

// Rows of C per invocation: 16, or 32 (`subgroup32`: a second set of 16 accumulators and a
// second panel of A, so each fetch of B serves twice the FMAs: per four K steps 8 fetches
// for 512 FMAs).
override SG_M: u32 = 16u;

var<private> acc0: vec4<f32>;
var<private> acc1: vec4<f32>;
var<private> acc2: vec4<f32>;
var<private> acc3: vec4<f32>;
var<private> acc4: vec4<f32>;
var<private> acc5: vec4<f32>;
var<private> acc6: vec4<f32>;
var<private> acc7: vec4<f32>;
var<private> acc8: vec4<f32>;
var<private> acc9: vec4<f32>;
var<private> acc10: vec4<f32>;
var<private> acc11: vec4<f32>;
var<private> acc12: vec4<f32>;
var<private> acc13: vec4<f32>;
var<private> acc14: vec4<f32>;
var<private> acc15: vec4<f32>;
var<private> acc16: vec4<f32>;
var<private> acc17: vec4<f32>;
var<private> acc18: vec4<f32>;
var<private> acc19: vec4<f32>;
var<private> acc20: vec4<f32>;
var<private> acc21: vec4<f32>;
var<private> acc22: vec4<f32>;
var<private> acc23: vec4<f32>;
var<private> acc24: vec4<f32>;
var<private> acc25: vec4<f32>;
var<private> acc26: vec4<f32>;
var<private> acc27: vec4<f32>;
var<private> acc28: vec4<f32>;
var<private> acc29: vec4<f32>;
var<private> acc30: vec4<f32>;
var<private> acc31: vec4<f32>;

// One step of K: the 16 × 4 block += (column of 16 values of A, as c0 = rows 0..3, …,
// c3 = rows 12..15) ⊗ (row b of 4 values of B).
fn sg_step(c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>, b: vec4<f32>) {
    acc0 += c0.x * b; acc1 += c0.y * b; acc2 += c0.z * b; acc3 += c0.w * b;
    acc4 += c1.x * b; acc5 += c1.y * b; acc6 += c1.z * b; acc7 += c1.w * b;
    acc8 += c2.x * b; acc9 += c2.y * b; acc10 += c2.z * b; acc11 += c2.w * b;
    acc12 += c3.x * b; acc13 += c3.y * b; acc14 += c3.z * b; acc15 += c3.w * b;
}

// The same for rows 16..31 of the block (SG_M = 32).
fn sg_step_hi(c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>, b: vec4<f32>) {
    acc16 += c0.x * b; acc17 += c0.y * b; acc18 += c0.z * b; acc19 += c0.w * b;
    acc20 += c1.x * b; acc21 += c1.y * b; acc22 += c1.z * b; acc23 += c1.w * b;
    acc24 += c2.x * b; acc25 += c2.y * b; acc26 += c2.z * b; acc27 += c2.w * b;
    acc28 += c3.x * b; acc29 += c3.y * b; acc30 += c3.z * b; acc31 += c3.w * b;
}

// The 16 rows of A from row r0 for K steps kk..kk+3, as sg_step takes them: p[4s + q] holds
// rows r0 + 4q .. r0 + 4q + 3 at k = kk + s. Lanes 0..7 fetch two vec4s each and every lane
// receives all sixteen through subgroupBroadcast.
// The two vec4s lane l fetches of the 16 rows of A from row r0 at K steps kk..kk+3 (lanes
// 0..7 between them hold all sixteen; see a_spread).
fn a_fetch(r0: u32, kk: u32, l: u32) -> array<vec4<f32>, 2> {
    let m = dm;
    if TRANS_A {
        // A stored [K, M]: vector t = 4·s + j holds rows 4j..4j+3 at k = kk + s.
        return array<vec4<f32>, 2>(
            a4_at(((kk + l / 4u) * m + r0) / 4u + l % 4u),
            a4_at(((kk + 2u + l / 4u) * m + r0) / 4u + l % 4u),
        );
    }
    // A stored [M, K]: vector r holds row r at k = kk..kk+3.
    return array<vec4<f32>, 2>(
        a4_at((min(r0 + l, m - 1u) * dk + kk) / 4u),
        a4_at((min(r0 + 8u + l, m - 1u) * dk + kk) / 4u),
    );
}

// The 16 rows of A for four K steps as sg_step takes them (p[4s + q] holds rows 4q..4q+3 at
// step s), from every lane's a_fetch through subgroupBroadcast.
fn a_spread(v: array<vec4<f32>, 2>) -> array<vec4<f32>, 16> {
    let v0 = v[0];
    let v1 = v[1];
    let w0 = subgroupBroadcast(v0, 0u);
    let w1 = subgroupBroadcast(v0, 1u);
    let w2 = subgroupBroadcast(v0, 2u);
    let w3 = subgroupBroadcast(v0, 3u);
    let w4 = subgroupBroadcast(v0, 4u);
    let w5 = subgroupBroadcast(v0, 5u);
    let w6 = subgroupBroadcast(v0, 6u);
    let w7 = subgroupBroadcast(v0, 7u);
    let w8 = subgroupBroadcast(v1, 0u);
    let w9 = subgroupBroadcast(v1, 1u);
    let w10 = subgroupBroadcast(v1, 2u);
    let w11 = subgroupBroadcast(v1, 3u);
    let w12 = subgroupBroadcast(v1, 4u);
    let w13 = subgroupBroadcast(v1, 5u);
    let w14 = subgroupBroadcast(v1, 6u);
    let w15 = subgroupBroadcast(v1, 7u);
    if TRANS_A {
        return array<vec4<f32>, 16>(w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15);
    }
    // Row-major A: w_r is row r's four K values; regroup them by K step.
    return array<vec4<f32>, 16>(
        vec4<f32>(w0.x, w1.x, w2.x, w3.x), vec4<f32>(w4.x, w5.x, w6.x, w7.x),
        vec4<f32>(w8.x, w9.x, w10.x, w11.x), vec4<f32>(w12.x, w13.x, w14.x, w15.x),
        vec4<f32>(w0.y, w1.y, w2.y, w3.y), vec4<f32>(w4.y, w5.y, w6.y, w7.y),
        vec4<f32>(w8.y, w9.y, w10.y, w11.y), vec4<f32>(w12.y, w13.y, w14.y, w15.y),
        vec4<f32>(w0.z, w1.z, w2.z, w3.z), vec4<f32>(w4.z, w5.z, w6.z, w7.z),
        vec4<f32>(w8.z, w9.z, w10.z, w11.z), vec4<f32>(w12.z, w13.z, w14.z, w15.z),
        vec4<f32>(w0.w, w1.w, w2.w, w3.w), vec4<f32>(w4.w, w5.w, w6.w, w7.w),
        vec4<f32>(w8.w, w9.w, w10.w, w11.w), vec4<f32>(w12.w, w13.w, w14.w, w15.w),
    );
}

// B for the four K steps from kk: b_s = B(kk + s, col0..col0+3), columns past N clamped.
fn b_fetch(kk: u32, col0: u32) -> array<vec4<f32>, 4> {
    let n = dn;
    let k = dk;
    let last_col = n - 1u;
    if TRANS_B {
        // B stored [N, K]: p_c = B(kk..kk+3, col0 + c); transpose in registers.
        let p0 = b4_at((min(col0, last_col) * k + kk) / 4u);
        let p1 = b4_at((min(col0 + 1u, last_col) * k + kk) / 4u);
        let p2 = b4_at((min(col0 + 2u, last_col) * k + kk) / 4u);
        let p3 = b4_at((min(col0 + 3u, last_col) * k + kk) / 4u);
        return array<vec4<f32>, 4>(
            vec4<f32>(p0.x, p1.x, p2.x, p3.x),
            vec4<f32>(p0.y, p1.y, p2.y, p3.y),
            vec4<f32>(p0.z, p1.z, p2.z, p3.z),
            vec4<f32>(p0.w, p1.w, p2.w, p3.w),
        );
    }
    let base = (kk * n + min(col0, last_col)) / 4u;
    let stride = n / 4u;
    return array<vec4<f32>, 4>(b4_at(base), b4_at(base + stride), b4_at(base + 2u * stride), b4_at(base + 3u * stride));
}

fn sg_store(row: u32, col0: u32, v: vec4<f32>, bias: vec4<f32>) {
    if row >= dims4.m || col0 >= dims4.n {
        return;
    }
    c4[(row * dims4.n + col0) / 4u] = activate4(v + bias);
}

fn sg_finish(row0: u32, col0: u32) {
    let bias = bias_at(col0);
    sg_store(row0, col0, acc0, bias);
    sg_store(row0 + 1u, col0, acc1, bias);
    sg_store(row0 + 2u, col0, acc2, bias);
    sg_store(row0 + 3u, col0, acc3, bias);
    sg_store(row0 + 4u, col0, acc4, bias);
    sg_store(row0 + 5u, col0, acc5, bias);
    sg_store(row0 + 6u, col0, acc6, bias);
    sg_store(row0 + 7u, col0, acc7, bias);
    sg_store(row0 + 8u, col0, acc8, bias);
    sg_store(row0 + 9u, col0, acc9, bias);
    sg_store(row0 + 10u, col0, acc10, bias);
    sg_store(row0 + 11u, col0, acc11, bias);
    sg_store(row0 + 12u, col0, acc12, bias);
    sg_store(row0 + 13u, col0, acc13, bias);
    sg_store(row0 + 14u, col0, acc14, bias);
    sg_store(row0 + 15u, col0, acc15, bias);
    if SG_M == 32u {
        sg_store(row0 + 16u, col0, acc16, bias);
        sg_store(row0 + 17u, col0, acc17, bias);
        sg_store(row0 + 18u, col0, acc18, bias);
        sg_store(row0 + 19u, col0, acc19, bias);
        sg_store(row0 + 20u, col0, acc20, bias);
        sg_store(row0 + 21u, col0, acc21, bias);
        sg_store(row0 + 22u, col0, acc22, bias);
        sg_store(row0 + 23u, col0, acc23, bias);
        sg_store(row0 + 24u, col0, acc24, bias);
        sg_store(row0 + 25u, col0, acc25, bias);
        sg_store(row0 + 26u, col0, acc26, bias);
        sg_store(row0 + 27u, col0, acc27, bias);
        sg_store(row0 + 28u, col0, acc28, bias);
        sg_store(row0 + 29u, col0, acc29, bias);
        sg_store(row0 + 30u, col0, acc30, bias);
        sg_store(row0 + 31u, col0, acc31, bias);
    }
}

// Where an invocation's block of C starts, and its lane among the eight that fetch A.
struct SgOrigin {
    row0: u32,
    col0: u32,
    l: u32,
}

// No early return follows: every lane takes part in the broadcasts. Columns past N read a
// clamped, valid address and are not stored.
fn sg_origin(wid: vec3<u32>, lid: vec3<u32>, lane: u32) -> SgOrigin {
    return SgOrigin(
        (wid.y * (WG / WG_COLS) + lid.x / WG_COLS) * SG_M,
        (wid.x * WG_COLS + lid.x % WG_COLS) * 4u,
        lane & 7u,
    );
}

// Four K steps of FMAs: the block += A's panel (a, and a2 for rows 16..31, as a_fetch
// returned them) ⊗ B's four rows b.
fn sg_quad(a: array<vec4<f32>, 2>, a2: array<vec4<f32>, 2>, b: array<vec4<f32>, 4>) {
    let p = a_spread(a);
    sg_step(p[0], p[1], p[2], p[3], b[0]);
    sg_step(p[4], p[5], p[6], p[7], b[1]);
    sg_step(p[8], p[9], p[10], p[11], b[2]);
    sg_step(p[12], p[13], p[14], p[15], b[3]);
    if SG_M == 32u {
        let q = a_spread(a2);
        sg_step_hi(q[0], q[1], q[2], q[3], b[0]);
        sg_step_hi(q[4], q[5], q[6], q[7], b[1]);
        sg_step_hi(q[8], q[9], q[10], q[11], b[2]);
        sg_step_hi(q[12], q[13], q[14], q[15], b[3]);
    }
}

@compute @workgroup_size(WG)
fn matmul_tex_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    load_dims();
    let o = sg_origin(wid, lid, lane);
    for (var kk = 0u; kk < dk; kk += 4u) {
        let a = a_fetch(o.row0, kk, o.l);
        var a2 = a;
        if SG_M == 32u {
            a2 = a_fetch(o.row0 + 16u, kk, o.l);
        }
        sg_quad(a, a2, b_fetch(kk, o.col0));
    }
    sg_finish(o.row0, o.col0);
}

// matmul_tex_sg_pipe (`subgroup_pipe`): the same product, software-pipelined. Each iteration
// fetches the next four K steps' A and B before it multiplies the current ones, so the
// fetches' latency (L2 on a CPU device) overlaps the FMAs, for one more set of live values.
// The last iteration fetches its own step again (a clamped, unused fetch).
@compute @workgroup_size(WG)
fn matmul_tex_sg_pipe(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    load_dims();
    let o = sg_origin(wid, lid, lane);
    var b_next = b_fetch(0u, o.col0);
    var a_next = a_fetch(o.row0, 0u, o.l);
    var a2_next = a_next;
    if SG_M == 32u {
        a2_next = a_fetch(o.row0 + 16u, 0u, o.l);
    }
    for (var kk = 0u; kk < dk; kk += 4u) {
        let b = b_next;
        let a = a_next;
        let a2 = a2_next;
        let kn = min(kk + 4u, dk - 4u);
        b_next = b_fetch(kn, o.col0);
        a_next = a_fetch(o.row0, kn, o.l);
        if SG_M == 32u {
            a2_next = a_fetch(o.row0 + 16u, kn, o.l);
        }
        sg_quad(a, a2, b);
    }
    sg_finish(o.row0, o.col0);
}

// matmul_tex_sg_strips (`subgroup_strips`): matmul_tex_sg_pipe (16 rows) with B, row-major
// [K, N], staged as strips (Bind::Strips): layer s of the array texture holds columns
// 32s..32s+31 of every row of B, 8 texels a row. An invocation's four columns lie in one strip,
// so a subgroup walking down K reads its strip's rows one after another, 128 bytes each,
// instead of one texture row of B per step of K: at N = 1024 that is a new 4 KiB page (and
// often a TLB and cache miss on a CPU device) for every step (perf of `subgroup_pipe` at 1024²
// on lavapipe: ~22 % of samples waited on B's loads). The copy costs one command per strip.
@group(0) @binding(2) var b_strips: Tex4Strips;
// Texels a strip is wide (matmul::STRIP_TEXELS): 8, the 32 columns of a subgroup of 8.
override STRIP_W: u32 = 8u;

// b_fetch for B staged as strips: the same four rows of four columns, columns past N clamped.
fn b_fetch_strips(kk: u32, col0: u32) -> array<vec4<f32>, 4> {
    let c = min(col0, dn - 1u) / 4u;
    let x = c % STRIP_W;
    let layer = c / STRIP_W;
    return array<vec4<f32>, 4>(
        strip_texel(b_strips, x, kk, layer),
        strip_texel(b_strips, x, kk + 1u, layer),
        strip_texel(b_strips, x, kk + 2u, layer),
        strip_texel(b_strips, x, kk + 3u, layer),
    );
}

// Its own loop rather than matmul_tex_sg_pipe's: B is bound as another texture type, and an
// entry point may not use two variables at one binding.
@compute @workgroup_size(WG)
fn matmul_tex_sg_strips(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    load_dims();
    let o = sg_origin(wid, lid, lane);
    var b_next = b_fetch_strips(0u, o.col0);
    var a_next = a_fetch(o.row0, 0u, o.l);
    for (var kk = 0u; kk < dk; kk += 4u) {
        let b = b_next;
        let a = a_next;
        let kn = min(kk + 4u, dk - 4u);
        b_next = b_fetch_strips(kn, o.col0);
        a_next = a_fetch(o.row0, kn, o.l);
        sg_quad(a, a, b);
    }
    sg_finish(o.row0, o.col0);
}
