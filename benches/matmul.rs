//! `cargo bench --bench matmul`: matmul GFLOP/s at 256², 512², 1024² and at the dense
//! autoencoder's own forward and backward shapes, every variant side by side, against the
//! device's measured FMA ceiling. Backend from $SHADERPROP_BENCH_BACKEND (default vulkan).

use shaderprop::bench;
use shaderprop::gpu::{BackendChoice, Gpu};

fn main() -> anyhow::Result<()> {
    let backend: BackendChoice = std::env::var("SHADERPROP_BENCH_BACKEND")
        .unwrap_or_else(|_| "vulkan".into())
        .parse()
        .map_err(anyhow::Error::msg)?;
    let gpu = Gpu::new(backend, None)?;
    let (_, rows) = bench::table(&gpu, false, Some("matmul"))?;
    bench::print_table(&gpu, &rows);
    Ok(())
}
