// The texel fetch every texture front shares (prepended to matmul_tex, conv_tex and the
// streaming kernels' fronts: loss_tex, reduce_tex, activation_tex, optimizer_tex).
//
// The plan copies a tensor, as it lies in its buffer, into a texture folded at TEX_W =
// 2^TEX_LOGW texels a row (copy_buffer_to_texture, one memcpy-like command before the
// dispatch): texel (i mod TEX_W, i / TEX_W) holds floats 4i..4i+3 of the buffer (rgba32float,
// `Tex4`). Only the load path changes, not the layout. The texture is allocated 64 bytes
// wider than TEX_W (a margin no kernel reads), so its rows do not lie a power of two apart:
// at 2^k-byte rows a kernel walking down a column (a matmul's B at 1024 columns) hits one
// set of a CPU's L1 cache.
//
// Why: on Mesa's lavapipe a storage-buffer load is a loop over the SIMD lanes, each looking
// up the buffer, bounds-checking and loading one scalar (~4.2 ns a value). A sampled texel
// fetch (texture_2d + textureLoad with a mip level) is a vectorised gather, but it works out
// each lane's mip-level size, row stride and offset first (~1.9 ns a texel). A read-only
// storage texture has one level: its load is the address arithmetic and the gather
// (~0.6–0.8 ns a texel of four values). `bench --filter load_` measures all three (BENCHMARKS.md).
//
// This file binds the textures as read-only storage textures. Adapters whose rgba32float
// lacks read-only storage access (some GL drivers) get tex_fns_sampled.wgsl instead:
// the same names over sampled textures (src/gpu/mod.rs picks, `Gpu::tex_fetch`).

// log2 of the textures' width in texels (chosen by the Rust side so the height fits).
override TEX_LOGW: u32 = 8u;

alias Tex4 = texture_storage_2d<rgba32float, read>;
// A matrix staged as strips (Bind::Strips): layer s holds texel columns s·w.. of every row.
alias Tex4Strips = texture_storage_2d_array<rgba32float, read>;

// Texel i (floats 4i..4i+3) of an rgba32float copy.
fn texel(t: Tex4, i: u32) -> vec4<f32> {
    let w = 1u << TEX_LOGW;
    return textureLoad(t, vec2<u32>(i & (w - 1u), i >> TEX_LOGW));
}

// Float i of an rgba32float copy: texel i / 4, lane i mod 4.
fn texel_f(t: Tex4, i: u32) -> f32 {
    return texel(t, i >> 2u)[i & 3u];
}

// Texel x of row y of strip `layer` of a matrix staged as strips.
fn strip_texel(t: Tex4Strips, x: u32, y: u32, layer: u32) -> vec4<f32> {
    return textureLoad(t, vec2<u32>(x, y), layer);
}
