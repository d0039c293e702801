// The direct convolution kernels' output as vec4s (prepended to conv_tex.wgsl in place of
// conv_store.wgsl where the plan knows every block row starts on a 16-byte boundary: PX of 8
// or 16 and rows a multiple of 4 long, src/ops/conv.rs). A block row is then PX / 4 vec4
// stores, each only where the row has pixels left (a 28-pixel row's last 16-block has 12).
// On lavapipe a store is a loop over the SIMD lanes whatever its width, so a vec4 store costs
// about 1.4 scalar ones: in a one-kernel probe the 28×28 layers' forward and input-gradient
// kernels ran ~25–30 % faster (e.g. encoder.0's forward 11.5 → 8.0 ms).

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;

fn put_row(i: u32, count: u32, row: array<f32, MAX_PX>) {
    for (var q = 0u; q < PX / 4u; q++) {
        if 4u * q < count {
            let p = 4u * q;
            out[i / 4u + q] = vec4<f32>(row[p], row[p + 1u], row[p + 2u], row[p + 3u]);
        }
    }
}
