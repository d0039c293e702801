// 2-D convolution, its two gradients, and the transposed convolution (which is the same
// kernel as the input gradient).
//
// Layout (the one place it is fixed; src/ops/conv.rs repeats it for Rust):
//     activations  NCHW:  x[n, c, y, x] at ((n·C + c)·H + y)·W + x
//     weights      HWIO:  w[ky, kx, ci, co] at ((ky·KW + kx)·Cin + ci)·Cout + co   (Keras' order)
//     bias         [Cout]
// A convolution of stride s with top/left padding (ph, pw) maps x: [N, Cin, H, W] to
// y: [N, Cout, Ho, Wo]; taps that fall outside the input read zero. The output size Ho, Wo is
// given, so asymmetric "same" padding (more at the bottom/right, as Keras and TensorFlow pad)
// needs no extra parameter.
//
// Forward (conv2d_forward):
//     P[n,co,oy,ox] = b[co] + Σ_{ci,ky,kx} x[n, ci, oy·s − ph + ky, ox·s − pw + kx] · w[ky,kx,ci,co]
//     y = act(P)                                    (act: override ACT, act_fns.wgsl)
// Backward, with dP = act'(y) ⊙ dy (activation_backward, as for matmul):
//     dx[n,ci,iy,ix] = Σ_{co,ky,kx} dP[n, co, oy, ox] · w[ky,kx,ci,co]
//                      over the (oy, ox) with oy·s − ph + ky = iy, ox·s − pw + kx = ix
//                                                                    (conv2d_backward_input)
//     dw[ky,kx,ci,co] = Σ_{n,oy,ox} dP[n,co,oy,ox] · x[n, ci, oy·s − ph + ky, ox·s − pw + kx]
//                                                  (conv2d_weight_grad per sample, then the
//                                                   column_sum of reduce.wgsl over samples)
//     db[co] = Σ_{n,oy,ox} dP[n,co,oy,ox]          (row_sum over pixels, then column_sum)
// A convolution of its input upsampled 2× (nearest neighbour) on the fly (override UP = 2,
// the conv decoder's `upsample+conv2d`): x is [N, Cin, H/2, W/2], the geometry is the
// upsampled one, and every tap reads x[n, ci, ⌊iy/2⌋, ⌊ix/2⌋] where the formulas above read
// x[n, ci, iy, ix] (forward and weight gradient; same products, same order, as upsampling
// first; the direct and texture forwards of 3×3 kernels instead run each output parity as a
// 2×2 convolution of the source with folded taps, conv_direct.wgsl's forward_parity_body).
// Each source row is read, under kernel row ky, by two output rows, so the texture weight
// gradient's four-pixel walk sums their dP rows first and walks each source row once:
//     dw[ky,kx,ci,co] = Σ_{n,sy,ox} (dP[n,co,2sy+ph−ky,ox] + dP[n,co,2sy+1+ph−ky,ox])
//                                   · x[n, ci, sy, ⌊(ox − pw + kx)/2⌋]
// (rows of dP outside it are zero; half the multiply-adds of the formula above).
// Its input gradient is convᵀ at the upsampled size, then 2×2 block sums,
//     dx[n,ci,sy,sx] = Σ_{a,b ∈ {0,1}} convᵀ(dP)[n, ci, 2sy + a, 2sx + b],
// which the engine computes in one step as conv2d_forward of dP with stride 2 and the
// weights folded by conv_fold.wgsl (the math is there):
//     dx[n,ci,sy,sx] = Σ_{co,u,v} dP[n, co, 2sy − (KH−1−ph) + u, 2sx − (KW−1−pw) + v] · w'[u,v,co,ci]
// dx is the adjoint (transpose) of the forward map x ↦ P, so the same kernel with a bias and
// activation is the *transposed convolution* y = act(convᵀ(x) + b) a decoder upsamples with;
// its gradients are, in turn, conv2d_forward (for its input) and conv2d_weight_grad with the
// roles of x and dP exchanged (for its weights).
//
// Why direct convolution, not im2col + matmul (implicit GEMM): the autoencoders' layers have
// 1–16 channels and 3×3 kernels, so the GEMM would be long and thin (K = 9·Cin ≤ 144, N =
// Cout ≤ 16) and an im2col copy would cost 9× the activations in memory traffic. A direct
// kernel keeps a register block of outputs instead: every invocation computes PX (16, 8 or 4
// by the row's width, fewer for wide strides) neighbouring pixels × 4 channels. Kernel size
// and stride are override constants, so the tap loops unroll: one row of (PX − 1)·s + KW
// inputs is loaded once per (channel, kernel row) and reused by all KW taps (stride 1,
// PX = 16: 18 loads feed 16·3·4 = 192 multiply-adds), and only the channels that exist are
// loaded (a 1-channel layer loads one weight per tap, not four).
// Memory operations, not arithmetic, bound these kernels on every device we have measured
// (on lavapipe each load is a per-lane scalar access), so the blocking counts loads.
//
// Shader runtime checks are off (src/gpu/mod.rs): every index below is guarded or clamped.

// The overrides, the `Conv` struct and the direct kernels' bodies are in conv_direct.wgsl,
// appended to this file (and to conv_tex.wgsl, which reads the same inputs from textures);
// the output `out` (binding 0) and its `put_row` are in conv_store.wgsl, prepended.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wgt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> cv: Conv;

@group(0) @binding(0) var<storage, read_write> part: array<f32>;
@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> d_p: array<f32>;
@group(0) @binding(3) var<uniform> cg: Conv;

// The direct kernels (conv_direct.wgsl) read their inputs through these functions.
fn src_at(i: u32) -> f32 {
    return src[i];
}

fn wgt_at(i: u32) -> f32 {
    return wgt[i];
}

// Each lane reads a tap's weights where it uses them: nothing to stage, no lane waits for
// another.
const ALL_LANES: bool = false;

fn stage_fwd(ci: u32, co0: u32) {}

fn stage_bwd(ci0: u32, co: u32) {}

// The forward's weights w[ky, kx, ci, co0..co0+3] and the input gradient's w[ky, kx,
// ci0..ci0+3, co] (conv_direct.wgsl's weights4).
fn tap_fwd(ky: u32, kx: u32, ci: u32, co0: u32) -> vec4<f32> {
    return weights4(ky, kx, ci, co0, 0u, 1u);
}

fn tap_bwd(ky: u32, kx: u32, ci0: u32, co: u32) -> vec4<f32> {
    return weights4(ky, kx, ci0, co, 1u, 0u);
}

fn xin_at(i: u32) -> f32 {
    return xin[i];
}

fn dp_at(i: u32) -> f32 {
    return d_p[i];
}

// Floats 4q..4q+3 of x and of dP (conv_direct.wgsl's WG_QUADS weight gradient): the shared
// body calls them, so this front defines them, but the plan sets WG_QUADS only for the
// texture front, where one is a single fetch.
fn xin_quad(q: u32) -> vec4<f32> {
    return vec4<f32>(xin[4u * q], xin[4u * q + 1u], xin[4u * q + 2u], xin[4u * q + 3u]);
}

fn dp_quad(q: u32) -> vec4<f32> {
    return vec4<f32>(d_p[4u * q], d_p[4u * q + 1u], d_p[4u * q + 2u], d_p[4u * q + 3u]);
}

// seg[j] = column x0 + j of the row starting at `row` (`width` long), 0 outside; where UP = 2
// the row is a source row read upsampled: column ⌊(x0 + j) / 2⌋ of it, 0 outside 2·width.
fn load_seg(row: u32, x0: i32, len: u32, width: u32) {
    for (var j = 0u; j < len; j++) {
        let ix = x0 + i32(j);
        let sx = ix >> (UP - 1u);
        seg[j] = select(0.0, src[row + u32(clamp(sx, 0, i32(width) - 1))], ix >= 0 && ix < i32(width * UP));
    }
}

@compute @workgroup_size(64)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    forward_body(gid, nwg, wid);
}

@compute @workgroup_size(64)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    backward_input_body(gid, nwg, wid);
}

@compute @workgroup_size(64)
fn conv2d_weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    weight_grad_body(gid, nwg);
}

// ---------------------------------------------------------------------------------------
// Naive reference variants (`--conv-variant naive`, `bench` rows "naive"): one invocation per
// output value, the formulas above as plain loops over the uniform's geometry, no register
// blocking. They read every input once per multiply-add; the direct kernels above load one
// input row per (channel, kernel row) and reuse it across PX pixels × 4 channels × KW taps
// (forward, input gradient) or slide a window of KW inputs along the row (weight gradient).
// That reuse is all the direct kernels change; `bench` shows what it bought.

// y[n, co, oy, ox]: bindings as conv2d_forward.
@compute @workgroup_size(64)
fn conv2d_naive_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    var t = item(gid, nwg);
    if t >= cv.n * cv.c_out * cv.h_out * cv.w_out {
        return;
    }
    let i = t;
    let ox = t % cv.w_out;
    t /= cv.w_out;
    let oy = t % cv.h_out;
    t /= cv.h_out;
    let co = t % cv.c_out;
    let n = t / cv.c_out;
    var acc = 0.0;
    if HAS_BIAS {
        acc = bias[co];
    }
    for (var ci = 0u; ci < cv.c_in; ci++) {
        for (var ky = 0u; ky < cv.kh; ky++) {
            let iy = i32(oy * cv.stride + ky) - i32(cv.pad_h);
            for (var kx = 0u; kx < cv.kw; kx++) {
                let ix = i32(ox * cv.stride + kx) - i32(cv.pad_w);
                if iy >= 0 && iy < i32(cv.h) && ix >= 0 && ix < i32(cv.w) {
                    // (UP = 2: source pixel (iy/2, ix/2) of the half-size input.)
                    let xv = src[((n * cv.c_in + ci) * (cv.h / UP) + u32(iy) / UP) * (cv.w / UP) + u32(ix) / UP];
                    acc += xv * wgt[((ky * cv.kw + kx) * cv.c_in + ci) * cv.c_out + co];
                }
            }
        }
    }
    out[i] = activate(acc);
}

// dx[n, ci, iy, ix] (or the transposed convolution's output): bindings as
// conv2d_backward_input.
@compute @workgroup_size(64)
fn conv2d_naive_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    var t = item(gid, nwg);
    if t >= cv.n * cv.c_in * cv.h * cv.w {
        return;
    }
    let i = t;
    let ix = t % cv.w;
    t /= cv.w;
    let iy = t % cv.h;
    t /= cv.h;
    let ci = t % cv.c_in;
    let n = t / cv.c_in;
    var acc = 0.0;
    if HAS_BIAS {
        acc = bias[ci];
    }
    let s = i32(cv.stride);
    for (var co = 0u; co < cv.c_out; co++) {
        for (var ky = 0u; ky < cv.kh; ky++) {
            let ty = i32(iy + cv.pad_h) - i32(ky);
            for (var kx = 0u; kx < cv.kw; kx++) {
                let tx = i32(ix + cv.pad_w) - i32(kx);
                if ty >= 0 && tx >= 0 && ty % s == 0 && tx % s == 0 && ty / s < i32(cv.h_out) && tx / s < i32(cv.w_out) {
                    let dp = src[((n * cv.c_out + co) * cv.h_out + u32(ty / s)) * cv.w_out + u32(tx / s)];
                    acc += dp * wgt[((ky * cv.kw + kx) * cv.c_in + ci) * cv.c_out + co];
                }
            }
        }
    }
    out[i] = activate(acc);
}

// part[n, ((ky·KW + kx)·Cin + ci)·Cout + co]: bindings as conv2d_weight_grad.
@compute @workgroup_size(64)
fn conv2d_naive_weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n_w = cg.kh * cg.kw * cg.c_in * cg.c_out;
    var t = gid.x + gid.y * nwg.x * WG;
    if t >= cg.n * n_w {
        return;
    }
    let i = t;
    let co = t % cg.c_out;
    t /= cg.c_out;
    let ci = t % cg.c_in;
    t /= cg.c_in;
    let kx = t % cg.kw;
    t /= cg.kw;
    let ky = t % cg.kh;
    let n = t / cg.kh;
    var acc = 0.0;
    for (var oy = 0u; oy < cg.h_out; oy++) {
        let iy = i32(oy * cg.stride + ky) - i32(cg.pad_h);
        for (var ox = 0u; ox < cg.w_out; ox++) {
            let ix = i32(ox * cg.stride + kx) - i32(cg.pad_w);
            if iy >= 0 && iy < i32(cg.h) && ix >= 0 && ix < i32(cg.w) {
                let xv = xin[((n * cg.c_in + ci) * (cg.h / UP) + u32(iy) / UP) * (cg.w / UP) + u32(ix) / UP];
                acc += xv * d_p[((n * cg.c_out + co) * cg.h_out + oy) * cg.w_out + ox];
            }
        }
    }
    part[i] = acc;
}
