//! `cargo bench --bench epoch`: seconds per training epoch on the full Fashion-MNIST training
//! set (60k), after a warm-up epoch, of one recipe:
//! - `SHADERPROP_BENCH_MODEL=vanilla` (default): 784-32-784, batch 256, Adam 1e-3;
//! - `conv`: the Keras conv autoencoder, batch 128;
//! - `vae`: 784-400-20, batch 128 (pytorch/examples).
//!
//! Needs the Debian package `dataset-fashion-mnist` (or $SHADERPROP_DATA). Backend from
//! $SHADERPROP_BENCH_BACKEND (default vulkan); `SHADERPROP_BENCH_EPOCHS` timed epochs (default
//! 2 for vanilla, 1 otherwise). Kernels are autotuned as `train` does (same cache).

use shaderprop::data::{self, DatasetSpec};
use shaderprop::gpu::Gpu;
use shaderprop::models::ModelConfig;
use shaderprop::ops::optimizer::Optimizer;
use shaderprop::rng::Rng;
use shaderprop::train::Trainer;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let backend = shaderprop::bench::backend_from_env()?;
    let model = std::env::var("SHADERPROP_BENCH_MODEL").unwrap_or_else(|_| "vanilla".into());
    let (cfg, batch) = match model.as_str() {
        "vanilla" => (ModelConfig::dense_reference(), 256),
        "conv" => (ModelConfig::conv_reference(), 128),
        "vae" => (
            ModelConfig {
                kind: shaderprop::models::ModelKind::Vae,
                hidden: vec![400],
                latent: 20,
                init: shaderprop::nn::InitScheme::Torch,
                ..ModelConfig::dense_reference()
            },
            128,
        ),
        o => anyhow::bail!("SHADERPROP_BENCH_MODEL={o}: choose vanilla, conv or vae"),
    };
    let timed: usize = std::env::var("SHADERPROP_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if model == "vanilla" { 2 } else { 1 });
    let gpu = Gpu::new(backend, None)?;
    // Kernels as the CLI picks them: tuned for this device (cached as `train` caches them).
    gpu.enable_tuning(shaderprop::tune::default_path());
    let split = data::load(&DatasetSpec::FashionMnist, None)?;
    let t0 = Instant::now();
    let mut trainer = Trainer::new(&gpu, &cfg, &split.train, batch, Optimizer::adam(1e-3), 0)?;
    gpu.wait()?;
    let setup = t0.elapsed().as_secs_f64();
    let mut rng = Rng::new(0);
    let mut order: Vec<u32> = (0..split.train.n as u32).collect();
    let bar = indicatif::ProgressBar::hidden();
    let mut times = Vec::new();
    for epoch in 0..=timed {
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
        "{} on Fashion-MNIST, batch {batch}: {mean:.2} s per epoch ({:.0} samples/s), setup {setup:.2} s",
        cfg.describe(),
        (trainer.steps_per_epoch * batch) as f64 / mean
    );
    Ok(())
}
