// The texel fetch every texture front shares (prepended to matmul_tex, conv_tex and the
// streaming kernels' fronts: loss_tex, reduce_tex, activation_tex, optimizer_tex).
//
// The plan copies a tensor, as it lies in its buffer, into a texture TEX_W = 2^TEX_LOGW
// texels wide (copy_buffer_to_texture, one memcpy-like command before the dispatch): texel
// (i mod TEX_W, i / TEX_W) holds floats 4i..4i+3 of the buffer (rgba32float), or float i
// (r32float, conv weight gradient). Only the load path changes, not the layout. On Mesa's
// lavapipe a storage-buffer load is a loop over the SIMD lanes, each looking up the buffer,
// bounds-checking and loading one scalar (~4.5 ns a value); a texel fetch is the
// rasteriser's vectorised gather (~2 ns for four values): README's `bench --filter load_`.

// log2 of the textures' width in texels (chosen by the Rust side so the height fits).
override TEX_LOGW: u32 = 8u;

fn texel(t: texture_2d<f32>, i: u32) -> vec4<f32> {
    let w = 1u << TEX_LOGW;
    return textureLoad(t, vec2<u32>(i & (w - 1u), i >> TEX_LOGW), 0);
}
