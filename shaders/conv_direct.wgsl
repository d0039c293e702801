// The direct convolution kernels' bodies, shared by conv.wgsl (inputs from storage buffers)
// and conv_tex.wgsl (inputs from textures): the math and the blocking are described at the
// top of conv.wgsl. The front file appended before this one defines the bindings `bias`,
// `cv`, `part`, `cg` and the loads `src_at`, `wgt_at`, `xin_at`, `dp_at` (float i of the
// respective input), `weights4_fwd` (the forward's four weights of a tap) and `load_seg` (a
// row segment of src into `seg`); nothing below reads an input any other way. The output `out` and its `put_row` come from conv_store.wgsl (or
// conv_store4.wgsl), prepended to the front.

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
const MAX_PX: u32 = 8u;
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
fn store_block(n: u32, c0: u32, c_total: u32, row: u32, x0: u32, hh: u32, ww: u32, acc: array<vec4<f32>, 8>) {
    for (var k = 0u; k < CH_LOADS; k++) {
        let c = c0 + k;
        if c >= c_total {
            break;
        }
        var b = 0.0;
        if HAS_BIAS {
            b = bias[c];
        }
        var vals: array<f32, 8>;
        for (var p = 0u; p < PX; p++) {
            vals[p] = activate(acc[p][k] + b);
        }
        put_row(((n * c_total + c) * hh + row) * ww + x0, ww - x0, vals);
    }
}

// One invocation: output pixels (oy, ox0..ox0+PX) of sample n, channels co0..co0+3. The
// channel block is the workgroup's z index, the same for all its invocations, so every
// weight load has a workgroup-uniform address (one load can serve the workgroup; on lavapipe
// this measured no faster: there the per-invocation input loads are the cost).
fn forward_body(gid: vec3<u32>, nwg: vec3<u32>, wid: vec3<u32>) {
    pc = cv;
    var t = item(gid, nwg);
    let ox0 = (t % X_BLOCKS) * PX;
    t /= X_BLOCKS;
    let oy = t % ROWS;
    let n = t / ROWS;
    let co0 = wid.z * CB;
    if n >= pc.n {
        return;
    }
    // The input columns this block reads: ix0 .. ix0 + SEG − 1.
    let seg_len = (PX - 1u) * STRIDE + KW;
    let ix0 = i32(ox0 * STRIDE) - i32(pc.pad_w);
    var acc: array<vec4<f32>, 8>;
    for (var ci = 0u; ci < pc.c_in; ci++) {
        let plane = (n * pc.c_in + ci) * pc.h;
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(pc.pad_h);
            if iy < 0 || iy >= i32(pc.h) {
                continue;
            }
            let row = (plane + u32(iy)) * pc.w;
            load_seg(row, ix0, seg_len, pc.w);
            for (var kx = 0u; kx < KW; kx++) {
                let wv = weights4_fwd(ky, kx, ci, co0);
                for (var p = 0u; p < PX; p++) {
                    acc[p] += seg[p * STRIDE + kx] * wv;
                }
            }
        }
    }
    store_block(n, co0, pc.c_out, oy, ox0, pc.h_out, pc.w_out, acc);
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
    let n = t / ROWS;
    let ci0 = wid.z * CB;
    if n >= pc.n {
        return;
    }
    let s = i32(STRIDE);
    // Stride 1: pixel p, tap kx reads output column ix0 + p + pw − kx = ox_lo + (p + KW − 1 − kx).
    let ox_lo = i32(ix0 + pc.pad_w) - i32(KW - 1u);
    let seg_len = PX + KW - 1u;
    var acc: array<vec4<f32>, 8>;
    for (var co = 0u; co < pc.c_out; co++) {
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
                    let wv = weights4(ky, kx, ci0, co, 1u, 0u);
                    for (var p = 0u; p < PX; p++) {
                        acc[p] += seg[p + KW - 1u - kx] * wv;
                    }
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let wv = weights4(ky, kx, ci0, co, 1u, 0u);
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
    store_block(n, ci0, pc.c_in, iy, ix0, pc.h, pc.w, acc);
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
    let hw = pc.h * pc.w;
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
        let row = u32(iy) * pc.w;
        // Stride 1 slides the window: before the first pixel, slots 1..KW−1 hold columns
        // −pw .. KW − 2 − pw (slot 0 is shifted out before it is used).
        if STRIDE == 1u {
            for (var kx = 1u; kx < KW; kx++) {
                let ix = i32(kx) - 1 - i32(pc.pad_w);
                for (var a = 0u; a < CI_LOADS; a++) {
                    win[kx * 4u + a] = select(0.0, xin_at(x_base[a] + row + u32(clamp(ix, 0, i32(pc.w) - 1))), ix >= 0 && ix < i32(pc.w));
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
                    win[(KW - 1u) * 4u + a] = select(0.0, xin_at(x_base[a] + row + u32(clamp(ix, 0, i32(pc.w) - 1))), ix >= 0 && ix < i32(pc.w));
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let ix = i32(ox * STRIDE + kx) - i32(pc.pad_w);
                    for (var a = 0u; a < CI_LOADS; a++) {
                        win[kx * 4u + a] = select(0.0, xin_at(x_base[a] + row + u32(clamp(ix, 0, i32(pc.w) - 1))), ix >= 0 && ix < i32(pc.w));
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

