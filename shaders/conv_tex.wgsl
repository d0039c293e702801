// The direct convolution kernels of conv.wgsl (same math, same blocking, the bodies in
// conv_direct.wgsl) with their two inputs read through texture fetches instead of
// storage-buffer loads: conv2d_forward_tex, conv2d_backward_input_tex, conv2d_weight_grad_tex.
//
// The plan copies the activations, as they lie, into rgba32float textures folded at TEX_W =
// 2^TEX_LOGW texels a row (tex_fns.wgsl; `Tex4`: texel i holds floats 4i..4i+3, so one fetch
// brings four neighbours of a row segment): the forward's x, the input gradient's dP and the
// weight gradient's x and dP. The weight gradient reads single values (`texel_f`: the texel
// and one of its lanes), or whole texels where its rows allow (WG_QUADS, conv_direct.wgsl),
// from the same copies the other kernels read, so a tensor read by a convolution and by a
// weight gradient is copied once a step where both fold it at the same width (the conv AE's
// do), not once per format (it once read r32float copies of its own: ~20 MB more copied a
// conv step, and no faster kernels).
// The forward's weights are an rgba32float copy too (four output channels a texel,
// weights4_fwd); the input gradient's (at most 64 KiB in this variant) go into a 64 KiB
// uniform buffer. Why (see tex_fns.wgsl): on lavapipe a storage load is a per-lane loop
// with a bounds check per lane (~4.2 ns per value in `shaderprop bench --filter load_`), a
// read-only storage texture load a gather (~0.6–0.8 ns a texel; a sampled one, the
// fallback, ~1.9 ns), and a uniform load at a per-invocation address an unrolled gather from
// one small array (~0.5 ns) outside loops and branches, but a loop over the lanes inside them.
// The outputs are still written to storage buffers.
//
// How the weights reach the loops, and the entry points, follow in one of two files:
// conv_tex_each.wgsl (every lane fetches each tap where it uses it) or conv_tex_sg.wgsl
// (lanes 0..7 fetch a channel's taps once for the subgroup and broadcast them).

@group(0) @binding(1) var src_tex: Tex4;
@group(0) @binding(2) var<uniform> wgt_u: array<vec4<f32>, 4096>;
// The forward reads its weights from an rgba32float copy instead (same binding: no entry
// point uses both).
@group(0) @binding(2) var wgt_tex: Tex4;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> cv: Conv;

@group(0) @binding(0) var<storage, read_write> part: array<f32>;
@group(0) @binding(1) var xin_tex: Tex4;
@group(0) @binding(2) var dp_tex: Tex4;
@group(0) @binding(3) var<uniform> cg: Conv;

// TEX_LOGW, Tex4, texel() and texel_f() come from tex_fns.wgsl, prepended.

// Float s (0..7) of the eight floats a, b.
fn pick8(a: vec4<f32>, b: vec4<f32>, s: u32) -> f32 {
    let v = select(a, b, s >= 4u);
    let c = s & 3u;
    return select(select(v.x, v.y, c == 1u), select(v.z, v.w, c == 3u), c >= 2u);
}

fn src_at(i: u32) -> f32 {
    return texel_f(src_tex, i);
}

// seg[j] = src[row + x0 + j] where 0 ≤ x0 + j < width (else 0), j < len: the (len + 3) / 4 + 1
// texels that hold the segment are fetched once, and each value is picked out of the two
// texels it can lie in (its offset within the first texel, `off`, differs per invocation
// unless SEG_OFF fixes it; with SEG_OFF2 it is one of two constants).
//
// Where UP = 2 the row is a source row read upsampled (conv_direct.wgsl's UP): seg[j] is
// source column ⌊(x0 + j) / 2⌋ (0 outside 2·width), so the texels of source columns ⌊x0 / 2⌋
// onwards are fetched, and value j is picked at source offset js = (j + X0_ODD) / 2.
fn load_seg(row: u32, x0: i32, len: u32, width: u32) {
    // x0 ≥ −7 (padding is less than the kernel width ≤ 8), so the shifted index is ≥ 1.
    let f = u32(i32(row) + (x0 >> (UP - 1u)) + 8);
    let off = select(f & 3u, SEG_OFF, SEG_OFF < 4u);
    let t0 = i32(f >> 2u) - 2;
    var tq: array<vec4<f32>, 10>;
    let len_src = (len + X0_ODD - 1u) / UP + 1u;
    for (var q = 0u; q < (len_src + 3u) / 4u + 1u; q++) {
        tq[q] = texel(src_tex, u32(max(t0 + i32(q), 0)));
    }
    // Which of the two offsets this row has (pairs only).
    let first = (f & 3u) == SEG_OFF;
    for (var j = 0u; j < len; j++) {
        let js = (j + X0_ODD) / UP;
        var v: f32;
        if SEG_OFF2 < 4u {
            let a = pick8(tq[js >> 2u], tq[(js >> 2u) + 1u], (js & 3u) + SEG_OFF);
            let b = pick8(tq[js >> 2u], tq[(js >> 2u) + 1u], (js & 3u) + SEG_OFF2);
            v = select(b, a, first);
        } else {
            v = pick8(tq[js >> 2u], tq[(js >> 2u) + 1u], (js & 3u) + off);
        }
        let ix = x0 + i32(j);
        seg[j] = select(0.0, v, ix >= 0 && ix < i32(width * UP));
    }
}

fn wgt_at(i: u32) -> f32 {
    return wgt_u[i >> 2u][i & 3u];
}

// The forward's weights w[ky, kx, ci, co0..co0+3]: one texel of the weights' copy where Cout
// is a multiple of 4, else four floats of it. Inside the kernel's loops a texel fetch is one
// gather; a uniform read there is a loop over the lanes for each of a vec4's four values
// (the input gradient, whose four weights lie Cout apart, keeps the uniform buffer: four
// fetches measured slower than its reads).
fn weights4_fwd(ky: u32, kx: u32, ci: u32, co0: u32) -> vec4<f32> {
    let first = ((ky * KW + kx) * pc.c_in + ci) * pc.c_out;
    if WGT_QUADS {
        return texel(wgt_tex, (first + co0) / 4u);
    }
    var v = vec4<f32>(0.0);
    for (var k = 0u; k < CH_LOADS; k++) {
        v[k] = texel_f(wgt_tex, first + min(co0 + k, pc.c_out - 1u));
    }
    return v;
}

fn xin_at(i: u32) -> f32 {
    return texel_f(xin_tex, i);
}

fn dp_at(i: u32) -> f32 {
    return texel_f(dp_tex, i);
}

// Floats 4q..4q+3 of x and of dP: one texel each (conv_direct.wgsl's WG_QUADS).
fn xin_quad(q: u32) -> vec4<f32> {
    return texel(xin_tex, q);
}

fn dp_quad(q: u32) -> vec4<f32> {
    return texel(dp_tex, q);
}
