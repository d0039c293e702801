//! `cargo bench --bench matmul`: matmul GFLOP/s at 256², 512², 1024² and at the dense
//! autoencoder's own forward and backward shapes, every variant side by side, against the
//! device's measured FMA ceiling. Backend from $SHADERPROP_BENCH_BACKEND (default vulkan).

use shaderprop::bench;
use shaderprop::gpu::Gpu;

fn main() -> anyhow::Result<()> {
    let backend = shaderprop::bench::backend_from_env()?;
    let gpu = Gpu::new(backend, None)?;
    let (_, rows) = bench::table(&gpu, false, Some("matmul"))?;
    bench::print_table(&gpu, &rows);
    Ok(())
}
