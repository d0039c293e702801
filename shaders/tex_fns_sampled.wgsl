// tex_fns.wgsl over sampled textures, for adapters whose rgba32float format lacks read-only
// storage access (`Gpu::tex_fetch` picks): the same names, layout and results;
// each fetch names mip level 0 (see tex_fns.wgsl for what that costs on lavapipe).

override TEX_LOGW: u32 = 8u;

alias Tex4 = texture_2d<f32>;
alias Tex4Strips = texture_2d_array<f32>;

fn texel(t: Tex4, i: u32) -> vec4<f32> {
    let w = 1u << TEX_LOGW;
    return textureLoad(t, vec2<u32>(i & (w - 1u), i >> TEX_LOGW), 0);
}

// Float i of an rgba32float copy: texel i / 4, lane i mod 4.
fn texel_f(t: Tex4, i: u32) -> f32 {
    return texel(t, i >> 2u)[i & 3u];
}

fn strip_texel(t: Tex4Strips, x: u32, y: u32, layer: u32) -> vec4<f32> {
    return textureLoad(t, vec2<u32>(x, y), layer, 0);
}
