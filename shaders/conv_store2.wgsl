// The direct convolution kernels' output as vec2s (prepended to conv_tex.wgsl in place of
// conv_store.wgsl where the plan knows every block row starts on an 8-byte boundary and holds
// an even number of pixels: PX of 8 or 16 and rows of even length, src/ops/conv.rs), for the
// rows conv_store4.wgsl cannot take (14 pixels: every other row starts mid-vec4). On lavapipe a
// store is a loop over the SIMD lanes whatever its width, so pairs halve the loops.

@group(0) @binding(0) var<storage, read_write> out: array<vec2<f32>>;

fn put_row(i: u32, count: u32, row: array<f32, MAX_PX>) {
    for (var p = 0u; p < PX; p += 2u) {
        if p < count {
            out[(i + p) / 2u] = vec2<f32>(row[p], row[p + 1u]);
        }
    }
}
