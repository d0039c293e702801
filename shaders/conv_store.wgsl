// The direct convolution kernels' output, one float at a time (prepended to conv.wgsl and
// conv_tex.wgsl; conv_store4.wgsl is the vec4 form): `out` and put_row, which writes pixels
// 0..min(PX, count) − 1 of one block row (`row`, PX ≤ 16 values) from float i on.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;

fn put_row(i: u32, count: u32, row: array<f32, MAX_PX>) {
    for (var p = 0u; p < PX; p++) {
        if p < count {
            out[i + p] = row[p];
        }
    }
}
