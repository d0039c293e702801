//! `cargo bench --bench conv`: the convolution kernels (forward, input gradient, weight
//! gradient) in GFLOP/s at every layer of the conv autoencoder (batch 128) and at a wide
//! layer (batch 64, 64 → 64 channels, 32×32, 3×3), against the device's measured FMA ceiling.
//! Backend from $SHADERPROP_BENCH_BACKEND (default vulkan).

use shaderprop::bench;
use shaderprop::gpu::Gpu;

fn main() -> anyhow::Result<()> {
    let backend = shaderprop::bench::backend_from_env()?;
    let gpu = Gpu::new(backend, None)?;
    let (_, rows) = bench::table(&gpu, false, Some("conv2d"))?;
    bench::print_table(&gpu, &rows);
    Ok(())
}
