// pool_tex: texture-read forms of pool.wgsl's kernels (prepended: the same math, the same
// outputs, bit for bit) that read their float inputs from rgba32float copies (tex_fns.wgsl)
// instead of storage buffers, and store two or four values at once where the rows allow. On
// lavapipe a storage load costs ~7× a texel load (tex_fns.wgsl) and a store is a loop over
// the lanes whatever its width, so loads and stores, not arithmetic, were these kernels' time.
//
//   max_pool_forward_tex:   the window's two row pairs (`pair_at`: odd widths put a pair
//                           across two texels); first maximum in row-major order. `_tex2`
//                           where widths are a multiple of 4: two windows an invocation,
//                           each row of the pair one texel fetch, one vec2 store.
//   max_pool_backward_tex:  even widths: the window's two rows (one aligned pair each) and dy
//                           from textures, the winner found again as the forward found it,
//                           each window row one vec2 store; `_tex2` where widths are a
//                           multiple of 4: two windows an invocation, each row of the pair
//                           one texel fetch and one vec4 store.
//   upsample_forward_tex:   two small pixels per invocation (even small widths): one pair
//                           fetch, each of the two big rows one vec4 store.
//   upsample_backward_tex:  the 2×2 block's two pairs (big rows have even length, so a pair
//                           starts at an even float and lies within one texel); `_act_tex`
//                           with the activation's derivative at x (a third texture).

@group(0) @binding(1) var x_tex: Tex4;

// Every kernel here walks one plane a workgroup (the grid's z): its sites (a column `x` of row
// `y`, `columns` to a row) in row-major order, WALK_WG at a time. 64 on GPUs (and where the
// adapter reports no subgroup size, e.g. GL); on CPU devices one subgroup, so a plane is one
// loop in one SIMD register rather than four 8×8 workgroups of chunks a quarter empty at
// 14-pixel rows (~20 % on lavapipe at the conv AE's planes).
override WALK_WG: u32 = 64u;

// The entry point's uniform (pf, pb, uf, ub or uba), copied first thing: every read below is
// inside a walk's loop, where on lavapipe a uniform read is a loop over the lanes each time
// (see conv_direct.wgsl's `pc`); a private copy is read like a register.
var<private> pp: Planes;

struct Site {
    x: u32,
    y: u32,
}

// Site number k of a plane with `columns` sites a row.
fn site_at(k: u32, columns: u32) -> Site {
    return Site(k % columns, k / columns);
}

// The site `step` (= site_at(WALK_WG, columns), worked out once before the loop) further on
// than s: no division in the loop.
fn site_next(s: Site, step: Site, columns: u32) -> Site {
    var x = s.x + step.x;
    var y = s.y + step.y;
    if x >= columns {
        x -= columns;
        y += 1u;
    }
    return Site(x, y);
}

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

// The first maximum of pooling window (oy, ox) of plane `plane` (in range), as winner_at
// finds it.
fn window_max(plane: u32, oy: u32, ox: u32) -> Winner {
    let n = pp.planes * pp.hb * pp.wb;
    let ix = 2u * ox;
    let has_right = ix + 1u < pp.wb;
    var best = (plane * pp.hb + 2u * oy) * pp.wb + ix;
    let top = pair_at(x_tex, best, n);
    var best_v = top.x;
    // Strictly greater: the first maximum wins ties.
    if has_right && top.y > best_v {
        best_v = top.y;
        best = best + 1u;
    }
    if 2u * oy + 1u < pp.hb {
        let i = (plane * pp.hb + 2u * oy + 1u) * pp.wb + ix;
        let bottom = pair_at(x_tex, i, n);
        if bottom.x > best_v {
            best_v = bottom.x;
            best = i;
        }
        if has_right && bottom.y > best_v {
            best_v = bottom.y;
            best = i + 1u;
        }
    }
    return Winner(best, best_v);
}

// max_pool_forward_tex: bindings (pooled, x as a texture, pf).
@compute @workgroup_size(WALK_WG)
fn max_pool_forward_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = pf;
    let plane = wid.z;
    var s = site_at(lid.x, pp.ws);
    let step = site_at(WALK_WG, pp.ws);
    for (var k = lid.x; k < pp.hs * pp.ws; k += WALK_WG) {
        pooled[plane * pp.hs * pp.ws + k] = window_max(plane, s.y, s.x).value;
        s = site_next(s, step, pp.ws);
    }
}

// The first maximum of a window's values (a, b) over (c, d) in row-major order: its
// position 0..3 as the index, and its value; the second row only where `both_rows`.
fn first_max4(a: f32, b: f32, c: f32, d: f32, both_rows: bool) -> Winner {
    var best = Winner(0u, a);
    // Strictly greater: the first maximum wins ties.
    if b > best.value {
        best = Winner(1u, b);
    }
    if both_rows && c > best.value {
        best = Winner(2u, c);
    }
    if both_rows && d > best.value {
        best = Winner(3u, d);
    }
    return best;
}

// max_pool_forward_tex2: the same for full-resolution rows a multiple of 4 long: two
// neighbouring windows an invocation, each of their rows one texel (first_max4), the
// two maxima one vec2 store.
@group(0) @binding(0) var<storage, read_write> pooled2: array<vec2<f32>>;

@compute @workgroup_size(WALK_WG)
fn max_pool_forward_tex2(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = pf;
    let plane = wid.z;
    let pairs = pp.ws / 2u;
    var s = site_at(lid.x, pairs);
    let step = site_at(WALK_WG, pairs);
    for (var k = lid.x; k < pp.hs * pairs; k += WALK_WG) {
        let i = (plane * pp.hb + 2u * s.y) * pp.wb + 4u * s.x;
        let both = 2u * s.y + 1u < pp.hb;
        let top = texel(x_tex, i / 4u);
        let bottom = texel(x_tex, select(i, i + pp.wb, both) / 4u);
        let left = first_max4(top.x, top.y, bottom.x, bottom.y, both);
        let right = first_max4(top.z, top.w, bottom.z, bottom.w, both);
        pooled2[plane * pp.hs * pairs + k] = vec2<f32>(left.value, right.value);
        s = site_next(s, step, pairs);
    }
}

// max_pool_backward_tex: bindings (dx as pairs, x and dy as textures, pb); full-resolution
// rows of even length, so each window row is one aligned pair.
@group(0) @binding(0) var<storage, read_write> d_x2: array<vec2<f32>>;
@group(0) @binding(2) var dy_tex: Tex4;

// Window (oy, ox) of plane `plane`.
fn pool_backward_window(plane: u32, oy: u32, ox: u32) {
    let o = (plane * pp.hs + oy) * pp.ws + ox;
    let i = (plane * pp.hb + 2u * oy) * pp.wb + 2u * ox;
    let both = 2u * oy + 1u < pp.hb;
    let top = pair_even(x_tex, i);
    // The window's second row, where it has one (else the first again, unused).
    let bottom = pair_even(x_tex, select(i, i + pp.wb, both));
    let w = first_max4(top.x, top.y, bottom.x, bottom.y, both);
    let g = activate_grad_from_output(w.value) * texel_f(dy_tex, o);
    let at = w.index;
    d_x2[i / 2u] = vec2<f32>(select(0.0, g, at == 0u), select(0.0, g, at == 1u));
    if both {
        d_x2[(i + pp.wb) / 2u] = vec2<f32>(select(0.0, g, at == 2u), select(0.0, g, at == 3u));
    }
}

@compute @workgroup_size(WALK_WG)
fn max_pool_backward_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = pb;
    var s = site_at(lid.x, pp.ws);
    let step = site_at(WALK_WG, pp.ws);
    for (var k = lid.x; k < pp.hs * pp.ws; k += WALK_WG) {
        pool_backward_window(wid.z, s.y, s.x);
        s = site_next(s, step, pp.ws);
    }
}

// max_pool_backward_tex2: the same for pooled rows of even length (full-resolution rows a
// multiple of 4): two neighbouring windows an invocation, so each row of the pair of windows
// is one texel of x (fetched once for both) and one vec4 store, and their dy one texel fetch.
@group(0) @binding(0) var<storage, read_write> d_x4: array<vec4<f32>>;

// Windows (oy, 2k) and (oy, 2k + 1) of plane `plane`.
fn pool_backward_pair(plane: u32, oy: u32, k: u32) {
    let o = (plane * pp.hs + oy) * pp.ws + 2u * k;
    let i = (plane * pp.hb + 2u * oy) * pp.wb + 4u * k;
    let both = 2u * oy + 1u < pp.hb;
    let top = texel(x_tex, i / 4u);
    let bottom = texel(x_tex, select(i, i + pp.wb, both) / 4u);
    let left = first_max4(top.x, top.y, bottom.x, bottom.y, both);
    let right = first_max4(top.z, top.w, bottom.z, bottom.w, both);
    let d = pair_even(dy_tex, o);
    let gl = activate_grad_from_output(left.value) * d.x;
    let gr = activate_grad_from_output(right.value) * d.y;
    let l = left.index;
    let r = right.index;
    d_x4[i / 4u] = vec4<f32>(
        select(0.0, gl, l == 0u),
        select(0.0, gl, l == 1u),
        select(0.0, gr, r == 0u),
        select(0.0, gr, r == 1u),
    );
    if both {
        d_x4[(i + pp.wb) / 4u] = vec4<f32>(
            select(0.0, gl, l == 2u),
            select(0.0, gl, l == 3u),
            select(0.0, gr, r == 2u),
            select(0.0, gr, r == 3u),
        );
    }
}

@compute @workgroup_size(WALK_WG)
fn max_pool_backward_tex2(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = pb;
    let pairs = pp.ws / 2u;
    var s = site_at(lid.x, pairs);
    let step = site_at(WALK_WG, pairs);
    for (var k = lid.x; k < pp.hs * pairs; k += WALK_WG) {
        pool_backward_pair(wid.z, s.y, s.x);
        s = site_next(s, step, pairs);
    }
}

// upsample_forward_tex: bindings (y as quads, x as a texture, uf); small rows of even
// length: small pixels 2q, 2q + 1 of row i become big columns 4q..4q + 3 of rows 2i, 2i + 1.
@group(0) @binding(0) var<storage, read_write> up4: array<vec4<f32>>;
@group(0) @binding(1) var small_tex: Tex4;

// Small pixels 2q, 2q + 1 of row i of plane `plane`.
fn upsample_pair(plane: u32, i: u32, q: u32) {
    let v = pair_even(small_tex, (plane * pp.hs + i) * pp.ws + 2u * q);
    let quad = vec4<f32>(v.x, v.x, v.y, v.y);
    // Quad index of big (2i, 4q): big rows are wb = 2·ws floats, ws / 2 quads.
    let top = (plane * pp.hb + 2u * i) * (pp.ws / 2u) + q;
    up4[top] = quad;
    up4[top + pp.ws / 2u] = quad;
}

// Sites: ws / 2 pairs a row.
@compute @workgroup_size(WALK_WG)
fn upsample_forward_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = uf;
    let pairs = pp.ws / 2u;
    var s = site_at(lid.x, pairs);
    let step = site_at(WALK_WG, pairs);
    for (var k = lid.x; k < pp.hs * pairs; k += WALK_WG) {
        upsample_pair(wid.z, s.y, s.x);
        s = site_next(s, step, pairs);
    }
}

@group(0) @binding(1) var d_up_tex: Tex4;

// The 2×2 block sum of small pixel s of plane `plane` (the planes of pp).
fn block_sum_tex(plane: u32, s: Site) -> f32 {
    let f = (plane * pp.hb + 2u * s.y) * pp.wb + 2u * s.x;
    let sum = pair_even(d_up_tex, f) + pair_even(d_up_tex, f + pp.wb);
    return sum.x + sum.y;
}

@compute @workgroup_size(WALK_WG)
fn upsample_backward_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = ub;
    let plane = wid.z;
    var s = site_at(lid.x, pp.ws);
    let step = site_at(WALK_WG, pp.ws);
    for (var k = lid.x; k < pp.hs * pp.ws; k += WALK_WG) {
        d_small[plane * pp.hs * pp.ws + k] = block_sum_tex(plane, s);
        s = site_next(s, step, pp.ws);
    }
}

// upsample_backward_act_tex: the same with the activation's derivative at x (a third
// texture): bindings (dx, dy and x as textures, uba).
@group(0) @binding(2) var ua_x_tex: Tex4;

@compute @workgroup_size(WALK_WG)
fn upsample_backward_act_tex(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    pp = uba;
    let plane = wid.z;
    var s = site_at(lid.x, pp.ws);
    let step = site_at(WALK_WG, pp.ws);
    for (var k = lid.x; k < pp.hs * pp.ws; k += WALK_WG) {
        let o = plane * pp.hs * pp.ws + k;
        d_small[o] = activate_grad_from_output(texel_f(ua_x_tex, o)) * block_sum_tex(plane, s);
        s = site_next(s, step, pp.ws);
    }
}
