// pool_tex: the grid forms of max_pool_argmax and upsample_backward of pool.wgsl (prepended:
// the same math, the same outputs, bit for bit) reading their float input from an
// rgba32float copy (tex_fns.wgsl) instead of a storage buffer. Both read four times what they
// write, and on lavapipe a storage load costs ~7× a texel load (tex_fns.wgsl), so the reads
// were most of their time. The other pool kernels read u32 argmax indices (which a float
// texture could flush as denormals on some GPUs) or write four times what they read: they
// stay as they are.
//
//   max_pool_argmax_tex:    the window's two row pairs (`pair_at`: odd widths put a pair
//                           across two texels); first maximum in row-major order, as
//                           max_pool_argmax.
//   upsample_backward_tex:  the 2×2 block's two pairs (big rows have even length, so a pair
//                           starts at an even float and lies within one texel).

@group(0) @binding(1) var x_tex: Tex4;

// Floats f and f + 1 of the copy in t, f even: one texel holds both.
fn pair_even(t: Tex4, f: u32) -> vec2<f32> {
    let a = texel(t, f >> 2u);
    return select(a.xy, a.zw, (f & 2u) != 0u);
}

// Floats f and f + 1 of the copy in t, any f: from texels f / 4 and (f + 1) / 4 (the same
// one unless f = 3 mod 4). The copy holds n floats; where f + 1 = n, the second value is not
// one of them (and is not used).
fn pair_at(t: Tex4, f: u32, n: u32) -> vec2<f32> {
    let a = texel(t, f >> 2u);
    let b = texel(t, min(f + 1u, n - 1u) >> 2u);
    let c = f & 3u;
    let first = select(select(a.x, a.y, c == 1u), select(a.z, a.w, c == 3u), c >= 2u);
    let second = select(select(b.y, b.z, c == 1u), select(b.w, b.x, c == 3u), c >= 2u);
    return vec2<f32>(first, second);
}

@compute @workgroup_size(8, 8)
fn max_pool_argmax_tex(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox = gid.x;
    let oy = gid.y;
    if ox >= pa.ws || oy >= pa.hs {
        return;
    }
    let o = (gid.z * pa.hs + oy) * pa.ws + ox;
    let n = pa.planes * pa.hb * pa.wb;
    let ix = 2u * ox;
    let has_right = ix + 1u < pa.wb;
    var best = (gid.z * pa.hb + 2u * oy) * pa.wb + ix;
    let top = pair_at(x_tex, best, n);
    var best_v = top.x;
    // Strictly greater: the first maximum wins ties.
    if has_right && top.y > best_v {
        best_v = top.y;
        best = best + 1u;
    }
    if 2u * oy + 1u < pa.hb {
        let i = (gid.z * pa.hb + 2u * oy + 1u) * pa.wb + ix;
        let bottom = pair_at(x_tex, i, n);
        if bottom.x > best_v {
            best_v = bottom.x;
            best = i;
        }
        if has_right && bottom.y > best_v {
            best = i + 1u;
        }
    }
    idx_out[o] = best;
}

@group(0) @binding(1) var d_up_tex: Tex4;

@compute @workgroup_size(8, 8)
fn upsample_backward_tex(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    if j >= ub.ws || i >= ub.hs {
        return;
    }
    let f = (gid.z * ub.hb + 2u * i) * ub.wb + 2u * j;
    let s = pair_even(d_up_tex, f) + pair_even(d_up_tex, f + ub.wb);
    d_small[(gid.z * ub.hs + i) * ub.ws + j] = s.x + s.y;
}
