// The direct convolution kernels' bodies, shared by conv.wgsl (inputs from storage buffers)
// and conv_tex.wgsl (inputs from textures): the math and the blocking are described at the
// top of conv.wgsl. The front file appended before this one defines the bindings `bias`,
// `cv`, `part`, `cg` and the loads `src_at`, `wgt_at`, `xin_at`, `dp_at` (float i of the
// respective input), `load_seg` (a row segment of src into `seg`) and `xin_quad`, `dp_quad`
// (floats 4q..4q+3 of x and dP, for the WG_QUADS weight gradient); and how the weights are
// read: `tap_fwd` (the forward's four weights of a tap) and `tap_bwd` (the input gradient's),
// after `stage_fwd` / `stage_bwd` at the start of each input (output) channel, and whether
// lanes past the batch must stay to the end (`ALL_LANES`). conv.wgsl and conv_tex_each.wgsl
// read each tap where it is used; conv_tex_sg.wgsl fetches a channel's taps once per
// subgroup and shares them. Nothing below reads an input any other way. The output `out` and
// its `put_row` come from conv_store.wgsl (or conv_store2/4.wgsl), prepended to the front.

// ACT, LEAKY_SLOPE and activate() come from act_fns.wgsl, prepended to this file.
override HAS_BIAS: bool = false;
// Kernel size and stride (equal to the uniform's; constants so the tap loops unroll).
override KH: u32 = 3u;
override KW: u32 = 3u;
override STRIDE: u32 = 1u;
// Pixels per invocation along x (≤ MAX_PX), and how many of the 4 blocked channels of the
// weight side exist (min(4, channels)): missing ones are neither loaded nor stored.
override PX: u32 = 8u;
override CH_LOADS: u32 = 4u;

struct Conv {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_h: u32,
    pad_w: u32,
}

// The geometry, copied from the kernel's uniform (`cv` or `cg`) first thing in every body,
// before any loop or branch: on lavapipe a uniform read inside a loop or branch is a loop over
// the lanes every time (~2 ns), and the bodies read sizes in their inner loops; outside them
// it is one scalar load.
var<private> pc: Conv;

const WG: u32 = 64u;
// The largest PX: the size of the register blocks (also the store fronts' `put_row` rows).
const MAX_PX: u32 = 16u;
const CB: u32 = 4u;
const MAX_SEG: u32 = 32u;
const MAX_KW: u32 = 8u;

// One input row segment of the forward and input-gradient kernels: seg[j] = src[row + x0 + j]
// where 0 ≤ x0 + j < width, else 0, for j < len (filled by the front's `load_seg`).
var<private> seg: array<f32, 32>;

// The grid's divisors as constants (the plan sets them from the geometry, which the uniform
// repeats): x-blocks and rows of the forward's output (the input gradient's input), and the
// weight gradient's channel blocks. x86 has no vector division, so a division by a runtime
// value is eight scalar divisions on lavapipe; by a constant it is a multiply and a shift.
override X_BLOCKS: u32 = 1u;
override ROWS: u32 = 1u;
override CO_BLOCKS: u32 = 1u;
override CI_BLOCKS: u32 = 1u;
// Where every row segment starts at the same offset within a texel, that offset (0..3), else
// 4: conv_tex.wgsl's load_seg then picks values with constant lanes instead of
// per-invocation selects. The plan knows it when the rows read are a multiple of 4 long and
// each block starts a multiple of 4 floats in (PX·STRIDE for the forward; PX with stride 1
// for the input gradient, whose strided form reads no segments).
override SEG_OFF: u32 = 4u;
// Where rows are 2 (mod 4) long in planes a multiple of 4 floats (the conv AE's 14×14
// layers), a segment starts at one of two offsets: SEG_OFF on rows that start a multiple of
// 4 floats in, SEG_OFF2 (= SEG_OFF + 2 mod 4) on the others; load_seg then picks both ways
// with constant lanes and selects one per value, in place of pick8's per-invocation lanes.
// Else 4.
override SEG_OFF2: u32 = 4u;
// 1, or 2 where the forward and the weight gradient read their input x upsampled 2×
// (nearest neighbour) on the fly: x is [N, Cin, H/2, W/2], and tap position (y, x) reads
// source pixel (y/2, x/2). The geometry (pc.h, pc.w, the padding) is the upsampled one.
override UP: u32 = 1u;

// Where UP = 2, whether the forward's row segments start at an odd column (x0 = ox0 − pw with
// ox0 even, so pw's parity): segment value j is then source column ⌊(x0 + j) / 2⌋ =
// ⌊x0 / 2⌋ + (j + X0_ODD) / 2, a constant offset once the loop over j unrolls.
override X0_ODD: u32 = 0u;

fn item(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// Whether Cout is a multiple of 4: the forward's four output channels from co0 (a multiple
// of 4) are then one aligned quad of the weights (one texel where the front reads them from a
// texture: conv_tex.wgsl's weights4_fwd).
override WGT_QUADS: bool = false;

// Four weights w[ky, kx, ci0 + k·dci, co0 + k·dco] (k = 0..3, one of dci/dco is 0), of which
// only the first CH_LOADS are loaded.
fn weights4(ky: u32, kx: u32, ci0: u32, co0: u32, dci: u32, dco: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var k = 0u; k < CH_LOADS; k++) {
        let ci = min(ci0 + k * dci, pc.c_in - 1u);
        let co = min(co0 + k * dco, pc.c_out - 1u);
        v[k] = wgt_at(((ky * KW + kx) * pc.c_in + ci) * pc.c_out + co);
    }
    return v;
}

// Writes a PX × 4 block of a [N, C, Hh, Ww] output with bias and activation: each channel's
// row of PX pixels (those inside the row) through the front's put_row (conv_store.wgsl, or
// conv_store4.wgsl's vec4 stores).
fn store_block(n: u32, c0: u32, c_total: u32, row: u32, x0: u32, hh: u32, ww: u32, acc: array<vec4<f32>, MAX_PX>) {
    for (var k = 0u; k < CH_LOADS; k++) {
        let c = c0 + k;
        if c >= c_total {
            break;
        }
        var b = 0.0;
        if HAS_BIAS {
            b = bias[c];
        }
        var vals: array<f32, MAX_PX>;
        for (var p = 0u; p < PX; p++) {
            vals[p] = activate(acc[p][k] + b);
        }
        put_row(((n * c_total + c) * hh + row) * ww + x0, ww - x0, vals);
    }
}

// A 3×3 convolution of its input upsampled 2× on the fly, computed at the source's
// resolution (PARITY; the geometry in the uniform is the upsampled one, UP is 1 and the
// row segments are plain source rows). Output pixel (2sy + a, 2sx + b) reads upsampled rows
// 2sy + a + ky − ph, which are source rows sy + ⌊(a + ky − ph) / 2⌋: for each output parity
// (a, b) only two source rows and two source columns, so the nine taps fold into four
// (each the sum of the taps that land on the same source pixel) and a parity class is a
// 2×2 convolution of the source: 4 multiply-adds a pixel and channel pair instead of 9.
// PH, PW: the padding (≤ 2), constants so that the tap-to-row maps fold once unrolled.
override PARITY: bool = false;
override PH: u32 = 1u;
override PW: u32 = 1u;

// Source row (column) offset + 1 (0..2) that upsampled tap k of output parity a reads.
fn parity_off(a: u32, k: u32, pad: u32) -> u32 {
    return (a + k + 2u - pad) / 2u;
}

// Three taps along one axis folded into the two source pixels they land on for parity a:
// taps 0 and 1 together where they land on the same one, else taps 1 and 2.
struct Fold2 {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn fold_taps(t0: vec4<f32>, t1: vec4<f32>, t2: vec4<f32>, a: u32, pad: u32) -> Fold2 {
    if parity_off(a, 0u, pad) == parity_off(a, 1u, pad) {
        return Fold2(t0 + t1, t2);
    }
    return Fold2(t0, t1 + t2);
}

// One output parity (a, b) of one input channel: the nine taps `wt` folded into four, each
// applied to source rows r0, r0 + 1 and columns p + c0, p + c0 + 1 of `rs` (r0, c0: the
// parity's first offsets), into acc[p] (output column 2(sx0 + p) + b of row 2sy + a).
fn parity_class(a: u32, b: u32, wt: ptr<function, array<vec4<f32>, 9>>, rs: ptr<function, array<array<f32, 10>, 3>>, acc: ptr<function, array<vec4<f32>, 8>>) {
    let lo = fold_taps((*wt)[0], (*wt)[3], (*wt)[6], a, PH);
    let mid = fold_taps((*wt)[1], (*wt)[4], (*wt)[7], a, PH);
    let hi = fold_taps((*wt)[2], (*wt)[5], (*wt)[8], a, PH);
    // Rows lo (r0) and hi (r0 + 1) of the folded kernel, each folded along x.
    let r_lo = fold_taps(lo.lo, mid.lo, hi.lo, b, PW);
    let r_hi = fold_taps(lo.hi, mid.hi, hi.hi, b, PW);
    let r0 = parity_off(a, 0u, PH);
    let c0 = parity_off(b, 0u, PW);
    for (var p = 0u; p < PX / 2u; p++) {
        (*acc)[p] += (*rs)[r0][p + c0] * r_lo.lo + (*rs)[r0][p + c0 + 1u] * r_lo.hi
            + (*rs)[r0 + 1u][p + c0] * r_hi.lo + (*rs)[r0 + 1u][p + c0 + 1u] * r_hi.hi;
    }
}

// One invocation: output rows 2sy and 2sy + 1, columns 2sx0 .. 2sx0 + PX − 1 (source columns
// sx0 .. sx0 + PX/2 − 1) of sample n, channels co0..co0+3 (the workgroup's z index).
fn forward_parity_body(gid: vec3<u32>, nwg: vec3<u32>, wid: vec3<u32>) {
    pc = cv;
    let sh = pc.h / 2u;
    let sw = pc.w / 2u;
    var t = item(gid, nwg);
    let sx0 = (t % X_BLOCKS) * (PX / 2u);
    t /= X_BLOCKS;
    let sy = t % ROWS;
    let live = t / ROWS < pc.n;
    if !live && !ALL_LANES {
        return;
    }
    let n = min(t / ROWS, pc.n - 1u);
    let co0 = wid.z * CB;
    // acc_ab[p]: output row 2sy + a, column 2(sx0 + p) + b.
    var acc00: array<vec4<f32>, 8>;
    var acc01: array<vec4<f32>, 8>;
    var acc10: array<vec4<f32>, 8>;
    var acc11: array<vec4<f32>, 8>;
    for (var ci = 0u; ci < pc.c_in; ci++) {
        stage_fwd(ci, co0);
        var wt: array<vec4<f32>, 9>;
        for (var k = 0u; k < 9u; k++) {
            wt[k] = tap_fwd(k / 3u, k % 3u, ci, co0);
        }
        // Source rows sy − 1 .. sy + 1, columns sx0 − 1 .. sx0 + PX/2 (zero outside).
        let plane = (n * pc.c_in + ci) * sh;
        var rs: array<array<f32, 10>, 3>;
        for (var r = 0u; r < 3u; r++) {
            let iy = i32(sy + r) - 1;
            if iy >= 0 && iy < i32(sh) {
                load_seg((plane + u32(iy)) * sw, i32(sx0) - 1, PX / 2u + 2u, sw);
                for (var j = 0u; j < PX / 2u + 2u; j++) {
                    rs[r][j] = seg[j];
                }
            }
        }
        parity_class(0u, 0u, &wt, &rs, &acc00);
        parity_class(0u, 1u, &wt, &rs, &acc01);
        parity_class(1u, 0u, &wt, &rs, &acc10);
        parity_class(1u, 1u, &wt, &rs, &acc11);
    }
    if live {
        var row: array<vec4<f32>, MAX_PX>;
        for (var p = 0u; p < PX / 2u; p++) {
            row[2u * p] = acc00[p];
            row[2u * p + 1u] = acc01[p];
        }
        store_block(n, co0, pc.c_out, 2u * sy, 2u * sx0, pc.h_out, pc.w_out, row);
        if 2u * sy + 1u < pc.h_out {
            for (var p = 0u; p < PX / 2u; p++) {
                row[2u * p] = acc10[p];
                row[2u * p + 1u] = acc11[p];
            }
            store_block(n, co0, pc.c_out, 2u * sy + 1u, 2u * sx0, pc.h_out, pc.w_out, row);
        }
    }
}

// One invocation: output pixels (oy, ox0..ox0+PX) of sample n, channels co0..co0+3. The
// channel block is the workgroup's z index, the same for all its invocations, so every
// weight load has a workgroup-uniform address (one load can serve the workgroup; on lavapipe
// this measured no faster: there the per-invocation input loads are the cost).
fn forward_body(gid: vec3<u32>, nwg: vec3<u32>, wid: vec3<u32>) {
    if PARITY {
        forward_parity_body(gid, nwg, wid);
        return;
    }
    pc = cv;
    var t = item(gid, nwg);
    let ox0 = (t % X_BLOCKS) * PX;
    t /= X_BLOCKS;
    let oy = t % ROWS;
    let live = t / ROWS < pc.n;
    // Lanes past the batch (the last workgroup's tail) leave, or where the front shares
    // values between lanes (ALL_LANES), compute the last sample again and store nothing.
    if !live && !ALL_LANES {
        return;
    }
    let n = min(t / ROWS, pc.n - 1u);
    let co0 = wid.z * CB;
    // The input columns this block reads: ix0 .. ix0 + SEG − 1.
    let seg_len = (PX - 1u) * STRIDE + KW;
    let ix0 = i32(ox0 * STRIDE) - i32(pc.pad_w);
    var acc: array<vec4<f32>, MAX_PX>;
    for (var ci = 0u; ci < pc.c_in; ci++) {
        stage_fwd(ci, co0);
        let plane = (n * pc.c_in + ci) * (pc.h / UP);
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(pc.pad_h);
            if iy < 0 || iy >= i32(pc.h) {
                continue;
            }
            // Row iy of x, or source row iy / 2 of an input upsampled on the fly.
            load_seg((plane + u32(iy) / UP) * (pc.w / UP), ix0, seg_len, pc.w / UP);
            for (var kx = 0u; kx < KW; kx++) {
                let wv = tap_fwd(ky, kx, ci, co0);
                for (var p = 0u; p < PX; p++) {
                    acc[p] += seg[p * STRIDE + kx] * wv;
                }
            }
        }
    }
    if live {
        store_block(n, co0, pc.c_out, oy, ox0, pc.h_out, pc.w_out, acc);
    }
}

// One invocation: input-gradient pixels (iy, ix0..ix0+PX) of sample n, channels ci0..ci0+3
// (the workgroup's z index, as above). `src` is dP: [N, Cout, Ho, Wo]; `out` is dx:
// [N, Cin, H, W]. With HAS_BIAS / ACT this is the transposed convolution's forward.
fn backward_input_body(gid: vec3<u32>, nwg: vec3<u32>, wid: vec3<u32>) {
    pc = cv;
    var t = item(gid, nwg);
    let ix0 = (t % X_BLOCKS) * PX;
    t /= X_BLOCKS;
    let iy = t % ROWS;
    let live = t / ROWS < pc.n;
    if !live && !ALL_LANES {
        return;
    }
    let n = min(t / ROWS, pc.n - 1u);
    let ci0 = wid.z * CB;
    let s = i32(STRIDE);
    // Stride 1: pixel p, tap kx reads output column ix0 + p + pw − kx = ox_lo + (p + KW − 1 − kx).
    let ox_lo = i32(ix0 + pc.pad_w) - i32(KW - 1u);
    let seg_len = PX + KW - 1u;
    var acc: array<vec4<f32>, MAX_PX>;
    for (var co = 0u; co < pc.c_out; co++) {
        stage_bwd(ci0, co);
        let plane = (n * pc.c_out + co) * pc.h_out;
        for (var ky = 0u; ky < KH; ky++) {
            // oy·s − ph + ky = iy  ⇔  oy = (iy + ph − ky) / s, when that divides exactly.
            let ty = i32(iy + pc.pad_h) - i32(ky);
            if ty < 0 || ty % s != 0 || ty / s >= i32(pc.h_out) {
                continue;
            }
            let row = (plane + u32(ty / s)) * pc.w_out;
            if STRIDE == 1u {
                load_seg(row, ox_lo, seg_len, pc.w_out);
                for (var kx = 0u; kx < KW; kx++) {
                    let wv = tap_bwd(ky, kx, ci0, co);
                    for (var p = 0u; p < PX; p++) {
                        acc[p] += seg[p + KW - 1u - kx] * wv;
                    }
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let wv = tap_bwd(ky, kx, ci0, co);
                    for (var p = 0u; p < PX; p++) {
                        let tx = i32(ix0 + p + pc.pad_w) - i32(kx);
                        if tx >= 0 && tx % s == 0 && tx / s < i32(pc.w_out) {
                            acc[p] += src_at(row + u32(tx / s)) * wv;
                        }
                    }
                }
            }
        }
    }
    if live {
        store_block(n, ci0, pc.c_in, iy, ix0, pc.h, pc.w, acc);
    }
}

// The weight gradient four output pixels at a time (WG_QUADS), for 3×3 kernels of stride 1
// padded by 1 or 0 (H_out = H + 2·pad − 2) on rows a multiple of 4 long, or 2 (mod 4) long in
// planes a multiple of 4 floats (the conv AE's 14×14 layers: QUAD_PAIRS_X / QUAD_PAIRS_DP).
// Each step along a row takes four consecutive floats of x per input channel and of dP per
// output channel, one texel each where rows are whole texels (the front's `xin_quad`,
// `dp_quad`), for 4·4·3·4 = 192 multiply-adds, where weight_grad_body reads one float of each
// per pixel (48). A row 2 (mod 4) long that starts two floats into a texel takes its four
// floats from two texels. Same invocations, blocks and output, up to rounding: four pixels'
// products are added together (`dot`) before they join the running sum, which
// weight_grad_body adds one pixel at a time.
//
// For pixels ox = 4q .. 4q + 3 the three taps read input columns 4q − pad .. 4q − pad + 5:
// with padding 1 the last float of the previous four (`p`), the four themselves (`c`) and
// the first of the next four (`n`); with padding 0, `c` and the first two of `n`. Columns
// outside 0 .. W − 1 are the zero padding, and dP columns past W_out are zero, so the
// window's products past the row vanish. Tap kx's contribution to the (ci, co) sum is the
// dot product of its four input columns with the dP floats.
override WG_QUADS: bool = false;
// The quad walk's padding (0 or 1), and whether x's and dP's rows are 2 (mod 4) long
// (else a multiple of 4; x read upsampled on the fly is always whole half-texels).
override QUAD_PAD: u32 = 1u;
override QUAD_PAIRS_X: bool = false;
override QUAD_PAIRS_DP: bool = false;
// One input channel (encoder.0's weight gradient): the walk's four input-channel slots hold
// the channel's kernel rows 0..2 instead, so one invocation covers all three rows and each
// dP texel fetched serves 36 dot products instead of 12 (the plan sets CI_LOADS = 3).
override KY_SLOTS: bool = false;

struct TapSums {
    k0: vec4<f32>,
    k1: vec4<f32>,
    k2: vec4<f32>,
}

// One input channel's three taps against the four output channels' dP floats d0..d3:
// component k of tap kx's sum is Σ_j x[4q − pad + kx + j]·dP_k[4q + j].
fn quad_taps(p: f32, c: vec4<f32>, n: vec4<f32>, d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) -> TapSums {
    var w0 = c;
    var w1 = vec4<f32>(c.y, c.z, c.w, n.x);
    var w2 = vec4<f32>(c.z, c.w, n.x, n.y);
    if QUAD_PAD == 1u {
        w0 = vec4<f32>(p, c.x, c.y, c.z);
        w1 = c;
        w2 = vec4<f32>(c.y, c.z, c.w, n.x);
    }
    return TapSums(
        vec4<f32>(dot(w0, d0), dot(w0, d1), dot(w0, d2), dot(w0, d3)),
        vec4<f32>(dot(w1, d0), dot(w1, d1), dot(w1, d2), dot(w1, d3)),
        vec4<f32>(dot(w2, d0), dot(w2, d1), dot(w2, d2), dot(w2, d3)),
    );
}

// Writes the sums of tap (ky, kx) for input channel ci and output channels co0.. (those
// that exist).
fn put_taps(n: u32, ky: u32, kx: u32, ci: u32, co0: u32, v: vec4<f32>) {
    if ci >= pc.c_in {
        return;
    }
    let n_w = 9u * pc.c_in * pc.c_out;
    for (var k = 0u; k < CH_LOADS; k++) {
        if co0 + k < pc.c_out {
            part[n * n_w + ((ky * 3u + kx) * pc.c_in + ci) * pc.c_out + co0 + k] = v[k];
        }
    }
}

// Columns 4q .. 4q + 3 of a row `width` long, the four floats from float f (even): one texel
// `t` where f is a multiple of 4, else the upper half of t and the lower half of the next,
// `u` (rows 2 (mod 4) long). Columns past the row's end are zero.
fn row_quad(t: vec4<f32>, u: vec4<f32>, f: u32, q: u32, width: u32) -> vec4<f32> {
    let v = select(t, vec4<f32>(t.z, t.w, u.x, u.y), (f & 2u) != 0u);
    let col = vec4<u32>(4u * q) + vec4<u32>(0u, 1u, 2u, 3u);
    return select(vec4<f32>(0.0), v, col < vec4<u32>(width));
}

// Columns 4q .. 4q + 3 of the row of input channel ci0 + a that starts at float base[a] (zero
// for channels this block does not have, and past the row's end). Where x is upsampled on the
// fly, base[a] is where the source row starts, and the four columns are source columns 2q,
// 2q, 2q + 1, 2q + 1: one half of a source texel, since rows of even length start on even
// floats.
fn x_texel(base: array<u32, 4>, a: u32, q: u32) -> vec4<f32> {
    var v: vec4<f32>;
    if UP == 2u {
        let f = base[a] + 2u * q;
        let t = xin_quad(f / 4u);
        v = select(t.xxyy, t.zzww, (f & 2u) != 0u);
        v = select(vec4<f32>(0.0), v, 4u * q < pc.w);
    } else if QUAD_PAIRS_X {
        let f = base[a] + 4u * q;
        v = row_quad(xin_quad(f / 4u), xin_quad(f / 4u + 1u), f, q, pc.w);
    } else {
        v = select(vec4<f32>(0.0), xin_quad(base[a] / 4u + q), 4u * q < pc.w);
    }
    return select(vec4<f32>(0.0), v, a < CI_LOADS);
}

// x_texel of slot a, zero where the slot's row lies outside x (KY_SLOTS).
fn slot_texel(base: array<u32, 4>, a: u32, q: u32, inside: array<bool, 4>) -> vec4<f32> {
    if !KY_SLOTS {
        return x_texel(base, a, q);
    }
    return select(vec4<f32>(0.0), x_texel(base, a, q), inside[a]);
}

// The sums of slot a's tap (·, kx): input channel ci0 + a at kernel row ky, or where slots
// are kernel rows (KY_SLOTS) the one channel ci0 at kernel row a.
fn put_slot(n: u32, ky: u32, kx: u32, ci0: u32, a: u32, co0: u32, v: vec4<f32>) {
    if !KY_SLOTS {
        put_taps(n, ky, kx, ci0 + a, co0, v);
    } else if a < 3u {
        put_taps(n, a, kx, ci0, co0, v);
    }
}

// dP floats of output pixels 4q .. 4q + 3 of the row that starts at float f (zero past the
// row's end).
fn dp_texel(f: u32, q: u32) -> vec4<f32> {
    if QUAD_PAIRS_DP {
        let g = f + 4u * q;
        return row_quad(dp_quad(g / 4u), dp_quad(g / 4u + 1u), g, q, pc.w_out);
    }
    return dp_quad(f / 4u + q);
}

// dP floats of output pixels 4q .. 4q + 3 of the plane from float b: row dr's where it
// exists (`has`), plus, where x is upsampled on the fly, row dr2's (`has2`).
fn dp_rows(b: u32, dr: u32, dr2: u32, has: bool, has2: bool, q: u32) -> vec4<f32> {
    let lo = select(vec4<f32>(0.0), dp_texel(b + dr, q), has);
    if UP != 2u {
        return lo;
    }
    return lo + select(vec4<f32>(0.0), dp_texel(b + dr2, q), has2);
}

fn weight_grad_quads(gid: vec3<u32>, nwg: vec3<u32>) {
    pc = cg;
    var t = gid.x + gid.y * nwg.x * WG;
    let co0 = (t % CO_BLOCKS) * CB;
    t /= CO_BLOCKS;
    let ci0 = (t % CI_BLOCKS) * CB;
    t /= CI_BLOCKS;
    let ky = select(t % 3u, 0u, KY_SLOTS);
    let n = select(t / 3u, t, KY_SLOTS);
    if n >= pc.n {
        return;
    }
    // Steps of four output pixels a row; x's rows and planes are counted in floats (the
    // source's where it is upsampled on the fly), and so are dP's.
    let qw = (pc.w_out + 3u) / 4u;
    let x_w = pc.w / UP;
    var xb: array<u32, 4>;
    for (var a = 0u; a < 4u; a++) {
        xb[a] = (n * pc.c_in + min(ci0 + a, pc.c_in - 1u)) * (pc.h / UP) * x_w;
    }
    var db: array<u32, 4>;
    for (var k = 0u; k < 4u; k++) {
        db[k] = (n * pc.c_out + min(co0 + k, pc.c_out - 1u)) * pc.h_out * pc.w_out;
    }
    // s{kx}{a}: tap kx, input channel ci0 + a, over the four output channels. Named
    // variables, and the four channels' updates below written out, not an array indexed in a
    // loop: llvmpipe kept such an array in memory and made every update a loop over the
    // lanes (a probe ran 2.5× slower than the per-pixel walk).
    var s00 = vec4<f32>(0.0);
    var s01 = vec4<f32>(0.0);
    var s02 = vec4<f32>(0.0);
    var s03 = vec4<f32>(0.0);
    var s10 = vec4<f32>(0.0);
    var s11 = vec4<f32>(0.0);
    var s12 = vec4<f32>(0.0);
    var s13 = vec4<f32>(0.0);
    var s20 = vec4<f32>(0.0);
    var s21 = vec4<f32>(0.0);
    var s22 = vec4<f32>(0.0);
    var s23 = vec4<f32>(0.0);
    // The rows walked: dP's, each against the x row kernel row ky reads. Where x is
    // upsampled on the fly, the source's instead: under kernel row ky, source row i is read
    // by the two output rows 2i + pad − ky and 2i + 1 + pad − ky (its two copies), so their
    // dP rows are summed first and one walk of the row serves both (half the multiply-adds
    // and x fetches).
    let rows = select(pc.h_out, pc.h / 2u, UP == 2u);
    for (var oy = 0u; oy < rows; oy++) {
        // The x row each slot reads (kernel row ky, or the slot's own where slots are
        // kernel rows), and whether it lies inside x (else the slot reads the padding).
        var xr: array<u32, 4>;
        var inside: array<bool, 4>;
        // The dP rows summed (the second only where x is upsampled), and which exist.
        var dr = oy * pc.w_out;
        var dr2 = dr;
        var has = true;
        var has2 = false;
        if UP == 2u {
            let r0 = i32(2u * oy + QUAD_PAD) - i32(ky);
            has = r0 >= 0 && r0 < i32(pc.h_out);
            has2 = r0 + 1 >= 0 && r0 + 1 < i32(pc.h_out);
            dr = u32(clamp(r0, 0, i32(pc.h_out) - 1)) * pc.w_out;
            dr2 = u32(clamp(r0 + 1, 0, i32(pc.h_out) - 1)) * pc.w_out;
            for (var a = 0u; a < 4u; a++) {
                inside[a] = true;
                xr[a] = xb[a] + oy * x_w;
            }
            if !has && !has2 {
                continue;
            }
        } else {
            for (var a = 0u; a < 4u; a++) {
                let iy = i32(oy + select(ky, a, KY_SLOTS)) - i32(QUAD_PAD);
                inside[a] = iy >= 0 && iy < i32(pc.h);
                xr[a] = xb[a] + u32(clamp(iy, 0, i32(pc.h) - 1)) * x_w;
            }
            if !KY_SLOTS && !inside[0] {
                continue;
            }
        }
        // Column −1 (padding) and the row's first four columns, per input channel.
        var p0 = 0.0;
        var p1 = 0.0;
        var p2 = 0.0;
        var p3 = 0.0;
        var c0 = slot_texel(xr, 0u, 0u, inside);
        var c1 = slot_texel(xr, 1u, 0u, inside);
        var c2 = slot_texel(xr, 2u, 0u, inside);
        var c3 = slot_texel(xr, 3u, 0u, inside);
        for (var q = 0u; q < qw; q++) {
            // The next four columns (zero past the row: the padding).
            let n0 = slot_texel(xr, 0u, q + 1u, inside);
            let n1 = slot_texel(xr, 1u, q + 1u, inside);
            let n2 = slot_texel(xr, 2u, q + 1u, inside);
            let n3 = slot_texel(xr, 3u, q + 1u, inside);
            let d0 = dp_rows(db[0], dr, dr2, has, has2, q);
            let d1 = select(vec4<f32>(0.0), dp_rows(db[1], dr, dr2, has, has2, q), CH_LOADS > 1u);
            let d2 = select(vec4<f32>(0.0), dp_rows(db[2], dr, dr2, has, has2, q), CH_LOADS > 2u);
            let d3 = select(vec4<f32>(0.0), dp_rows(db[3], dr, dr2, has, has2, q), CH_LOADS > 3u);
            let t0 = quad_taps(p0, c0, n0, d0, d1, d2, d3);
            s00 += t0.k0;
            s10 += t0.k1;
            s20 += t0.k2;
            if CI_LOADS > 1u {
                let t1 = quad_taps(p1, c1, n1, d0, d1, d2, d3);
                s01 += t1.k0;
                s11 += t1.k1;
                s21 += t1.k2;
            }
            if CI_LOADS > 2u {
                let t2 = quad_taps(p2, c2, n2, d0, d1, d2, d3);
                s02 += t2.k0;
                s12 += t2.k1;
                s22 += t2.k2;
            }
            if CI_LOADS > 3u {
                let t3 = quad_taps(p3, c3, n3, d0, d1, d2, d3);
                s03 += t3.k0;
                s13 += t3.k1;
                s23 += t3.k2;
            }
            p0 = c0.w;
            p1 = c1.w;
            p2 = c2.w;
            p3 = c3.w;
            c0 = n0;
            c1 = n1;
            c2 = n2;
            c3 = n3;
        }
    }
    put_slot(n, ky, 0u, ci0, 0u, co0, s00);
    put_slot(n, ky, 1u, ci0, 0u, co0, s10);
    put_slot(n, ky, 2u, ci0, 0u, co0, s20);
    put_slot(n, ky, 0u, ci0, 1u, co0, s01);
    put_slot(n, ky, 1u, ci0, 1u, co0, s11);
    put_slot(n, ky, 2u, ci0, 1u, co0, s21);
    put_slot(n, ky, 0u, ci0, 2u, co0, s02);
    put_slot(n, ky, 1u, ci0, 2u, co0, s12);
    put_slot(n, ky, 2u, ci0, 2u, co0, s22);
    put_slot(n, ky, 0u, ci0, 3u, co0, s03);
    put_slot(n, ky, 1u, ci0, 3u, co0, s13);
    put_slot(n, ky, 2u, ci0, 3u, co0, s23);
}

// Per-sample weight gradient: part[n, ((ky·KW + kx)·Cin + ci)·Cout + co] =
//     Σ_{oy,ox} dP[n,co,oy,ox] · x[n, ci, oy·s − ph + ky, ox·s − pw + kx].
// One invocation: one kernel row ky of sample n, all KW taps, a 4 × 4 block of (ci, co)
// (CI_LOADS / CH_LOADS of them real). Walking ox in order, stride 1 slides a window of KW
// inputs per channel, so each pixel costs one x load per ci and one dP load per co for
// 4·4·KW multiply-adds. The sum over samples is a column_sum (reduce.wgsl): fixed order, no
// atomics, bitwise reproducible.
override CI_LOADS: u32 = 4u;

fn weight_grad_body(gid: vec3<u32>, nwg: vec3<u32>) {
    if WG_QUADS {
        weight_grad_quads(gid, nwg);
        return;
    }
    pc = cg;
    var t = gid.x + gid.y * nwg.x * WG;
    let co0 = (t % CO_BLOCKS) * CB;
    t /= CO_BLOCKS;
    let ci0 = (t % CI_BLOCKS) * CB;
    t /= CI_BLOCKS;
    let ky = t % KH;
    let n = t / KH;
    if n >= pc.n {
        return;
    }
    let hw = (pc.h / UP) * (pc.w / UP);
    let ohw = pc.h_out * pc.w_out;
    var x_base: array<u32, 4>;
    for (var a = 0u; a < CI_LOADS; a++) {
        x_base[a] = (n * pc.c_in + min(ci0 + a, pc.c_in - 1u)) * hw;
    }
    var d_base: array<u32, 4>;
    for (var k = 0u; k < CH_LOADS; k++) {
        d_base[k] = (n * pc.c_out + min(co0 + k, pc.c_out - 1u)) * ohw;
    }
    // acc[kx·4 + a]: tap kx, input channel ci0 + a, over 4 output channels.
    var acc: array<vec4<f32>, 32>;
    // win[kx·4 + a] = x[ci0 + a, iy, ox·s − pw + kx] for the current ox.
    var win: array<f32, 32>;
    for (var oy = 0u; oy < pc.h_out; oy++) {
        let iy = i32(oy * STRIDE + ky) - i32(pc.pad_h);
        if iy < 0 || iy >= i32(pc.h) {
            continue;
        }
        // Where row iy of x starts (row iy / 2 of the source where it is upsampled).
        let row = u32(iy) / UP * (pc.w / UP);
        // Stride 1 slides the window: before the first pixel, slots 1..KW−1 hold columns
        // −pw .. KW − 2 − pw (slot 0 is shifted out before it is used).
        if STRIDE == 1u {
            for (var kx = 1u; kx < KW; kx++) {
                let ix = i32(kx) - 1 - i32(pc.pad_w);
                for (var a = 0u; a < CI_LOADS; a++) {
                    win[kx * 4u + a] = select(0.0, xin_at(x_base[a] + row + u32(clamp(ix, 0, i32(pc.w) - 1)) / UP), ix >= 0 && ix < i32(pc.w));
                }
            }
        }
        for (var ox = 0u; ox < pc.w_out; ox++) {
            if STRIDE == 1u {
                for (var kx = 0u; kx + 1u < KW; kx++) {
                    for (var a = 0u; a < CI_LOADS; a++) {
                        win[kx * 4u + a] = win[(kx + 1u) * 4u + a];
                    }
                }
                let ix = i32(ox + KW - 1u) - i32(pc.pad_w);
                for (var a = 0u; a < CI_LOADS; a++) {
                    win[(KW - 1u) * 4u + a] = select(0.0, xin_at(x_base[a] + row + u32(clamp(ix, 0, i32(pc.w) - 1)) / UP), ix >= 0 && ix < i32(pc.w));
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let ix = i32(ox * STRIDE + kx) - i32(pc.pad_w);
                    for (var a = 0u; a < CI_LOADS; a++) {
                        win[kx * 4u + a] = select(0.0, xin_at(x_base[a] + row + u32(clamp(ix, 0, i32(pc.w) - 1)) / UP), ix >= 0 && ix < i32(pc.w));
                    }
                }
            }
            let di = oy * pc.w_out + ox;
            var dv = vec4<f32>(0.0);
            for (var k = 0u; k < CH_LOADS; k++) {
                dv[k] = dp_at(d_base[k] + di);
            }
            for (var kx = 0u; kx < KW; kx++) {
                for (var a = 0u; a < CI_LOADS; a++) {
                    acc[kx * 4u + a] += win[kx * 4u + a] * dv;
                }
            }
        }
    }
    let n_w = KH * KW * pc.c_in * pc.c_out;
    for (var kx = 0u; kx < KW; kx++) {
        for (var a = 0u; a < CI_LOADS; a++) {
            let ci = ci0 + a;
            if ci >= pc.c_in {
                break;
            }
            for (var k = 0u; k < CH_LOADS; k++) {
                let co = co0 + k;
                if co < pc.c_out {
                    part[n * n_w + ((ky * KW + kx) * pc.c_in + ci) * pc.c_out + co] = acc[kx * 4u + a][k];
                }
            }
        }
    }
}

