// The direct convolution kernels' output as vec4s (prepended to conv_tex.wgsl in place of
// conv_store.wgsl where the plan knows every block row starts on a 16-byte boundary: PX = 8
// and rows a multiple of 4 long, src/ops/conv.rs). A block row is then two vec4 stores, the
// second only where the row has pixels left (count > 4: a 28-pixel row's last block has 4).
// On lavapipe a store is a loop over the SIMD lanes whatever its width, so a vec4 store costs
// about 1.4 scalar ones: in a one-kernel probe the 28×28 layers' forward and input-gradient
// kernels ran ~25–30 % faster (e.g. encoder.0's forward 11.5 → 8.0 ms).

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;

fn put_row(i: u32, count: u32, row: array<f32, 8>) {
    out[i / 4u] = vec4<f32>(row[0], row[1], row[2], row[3]);
    if count > 4u {
        out[i / 4u + 1u] = vec4<f32>(row[4], row[5], row[6], row[7]);
    }
}
