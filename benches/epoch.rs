//! `cargo bench --bench epoch`: seconds per training epoch of the Fashion-MNIST recipe
//! (784-32-784, batch 256, Adam 1e-3, full 60k training set), after one warm-up epoch.
//! Needs the Debian package `dataset-fashion-mnist` (or $SHADERPROP_DATA).
//! Backend from $SHADERPROP_BENCH_BACKEND (default vulkan).

use shaderprop::data::{self, DatasetSpec};
use shaderprop::gpu::Gpu;
use shaderprop::models::ModelConfig;
use shaderprop::ops::optimizer::Optimizer;
use shaderprop::rng::Rng;
use shaderprop::train::Trainer;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let backend = shaderprop::bench::backend_from_env()?;
    let gpu = Gpu::new(backend, None)?;
    let split = data::load(&DatasetSpec::FashionMnist, None)?;
    let cfg = ModelConfig::dense_reference();
    let t0 = Instant::now();
    let mut trainer = Trainer::new(&gpu, &cfg, &split.train, 256, Optimizer::adam(1e-3), 0)?;
    gpu.wait()?;
    let setup = t0.elapsed().as_secs_f64();
    let mut rng = Rng::new(0);
    let mut order: Vec<u32> = (0..split.train.n as u32).collect();
    let bar = indicatif::ProgressBar::hidden();
    let mut times = Vec::new();
    for epoch in 0..3 {
        rng.shuffle(&mut order);
        let t = Instant::now();
        let loss = trainer.epoch(&gpu, &order, &bar)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "epoch {epoch}: {s:.2} s, train loss {loss:.4}{}",
            if epoch == 0 { " (warm-up)" } else { "" }
        );
        if epoch > 0 {
            times.push(s);
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!("device: {}", shaderprop::gpu::describe_adapter(&gpu.info));
    println!(
        "dense AE 784-32-784 on Fashion-MNIST, batch 256: {mean:.2} s per epoch ({:.0} samples/s), setup {setup:.2} s",
        (trainer.steps_per_epoch * 256) as f64 / mean
    );
    Ok(())
}
