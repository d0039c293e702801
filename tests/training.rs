//! Training end to end on the embedded digits, on lavapipe.

mod common;
use common::*;
use shaderprop::data::{self, DatasetSpec};
use shaderprop::models::ModelConfig;
use shaderprop::ops::loss::bce_with_logits_scalar;
use shaderprop::ops::optimizer::Optimizer;
use shaderprop::train::{self, TrainOptions, Trainer};

fn cfg() -> ModelConfig {
    ModelConfig::dense_reference()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shaderprop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_training_step_creates_no_buffer_bind_group_or_pipeline() {
    let gpu = gpu();
    let split = data::load(&DatasetSpec::Digits, None).unwrap();
    let mut trainer =
        Trainer::new(&gpu, &cfg(), &split.train, 128, Optimizer::adam(1e-3), 1).unwrap();
    let order: Vec<u32> = (0..split.train.n as u32).collect();
    let bar = indicatif::ProgressBar::hidden();
    // The first epoch may still create what wgpu creates lazily; ours is all made in new().
    let before = gpu.counters();
    let loss = trainer.epoch(&gpu, &order, &bar).unwrap();
    let after = gpu.counters();
    assert!(loss.is_finite() && loss > 0.0);
    assert!(
        trainer.steps_per_epoch >= 70,
        "the epoch ran {} steps",
        trainer.steps_per_epoch
    );
    assert_eq!(
        before, after,
        "training steps created GPU objects: before {before:?}, after {after:?}"
    );
    eprintln!(
        "{} steps, counters {after:?} unchanged",
        trainer.steps_per_epoch
    );
}

/// BCE of predicting every validation pixel by the training set's mean pixel: what a model
/// that learned nothing about individual images reaches at best (within its parameters).
fn mean_image_bce(split: &data::Split) -> f64 {
    let d = split.train.sample_len();
    let mut mean = vec![0.0f64; d];
    for i in 0..split.train.n {
        for (m, &b) in mean.iter_mut().zip(split.train.sample(i)) {
            *m += b as f64 / 255.0 / split.train.n as f64;
        }
    }
    let logits: Vec<f64> = mean
        .iter()
        .map(|&p| (p.clamp(1e-6, 1.0 - 1e-6) / (1.0 - p.clamp(1e-6, 1.0 - 1e-6))).ln())
        .collect();
    let mut total = 0.0;
    for i in 0..split.val.n {
        for (z, &b) in logits.iter().zip(split.val.sample(i)) {
            total += bce_with_logits_scalar(*z, b as f64 / 255.0);
        }
    }
    total / (split.val.n * d) as f64
}

#[test]
fn training_on_the_embedded_digits_gets_well_below_the_mean_image_baseline() {
    let gpu = gpu();
    let split = data::load(&DatasetSpec::Digits, None).unwrap();
    let baseline = mean_image_bce(&split);
    let out = temp_dir("train-digits");
    let opts = TrainOptions {
        model: cfg(),
        epochs: 6,
        batch_size: 128,
        optimizer: Optimizer::adam(2e-3),
        seed: 3,
        out: out.clone(),
        progress: false,
    };
    let metrics = train::train(&gpu, &split, &opts, &serde_json::json!({"test": true})).unwrap();
    let last = metrics.last().unwrap();
    eprintln!(
        "mean-image baseline BCE {baseline:.4}; validation BCE per epoch: {:?}",
        metrics.iter().map(|m| m.val_loss).collect::<Vec<_>>()
    );
    // The baseline is the best any code-independent output can do; a 32-d code of a digit
    // carries most of its strokes, so a working model must get far below it. 0.6 of it is a bound
    // a broken gradient, a stuck optimizer or a wrong loss scale cannot reach in 6 epochs
    // (a correct one gets there in 4 or 5).
    assert!(
        last.val_loss < 0.6 * baseline,
        "validation BCE {} not below 0.6 of the mean-image baseline {}",
        last.val_loss,
        baseline
    );
    assert!(
        last.val_loss < metrics[0].val_loss,
        "validation loss did not fall"
    );
    for f in [
        "config.json",
        "metrics.csv",
        "model.safetensors",
        "reconstructions.png",
        "loss.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing from the run folder");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_same_seed_gives_bitwise_identical_losses_for_every_model_kind() {
    use shaderprop::models::{Arch, ModelKind};
    let gpu = gpu();
    let split = data::load(&DatasetSpec::Digits, None).unwrap();
    let train = split.train.head(512);
    let kind = |kind: ModelKind, arch: Arch| {
        let mut c = shaderprop::cli::ModelArgs {
            model: kind,
            arch: Some(arch),
            ..model_args()
        }
        .config([1, 28, 28]);
        c.arch = arch;
        c
    };
    let models = [
        cfg(),
        kind(ModelKind::Conv, Arch::Conv),
        kind(ModelKind::Denoising, Arch::Dense),
        kind(ModelKind::Sparse, Arch::Dense),
        ModelConfig {
            sparsity: Some(shaderprop::ops::sparsity::Sparsity::Kl {
                rho: 0.05,
                beta: 3.0,
            }),
            ..kind(ModelKind::Sparse, Arch::Dense)
        },
        kind(ModelKind::Vae, Arch::Dense),
    ];
    for m in &models {
        let run = |seed: u64| -> Vec<u64> {
            let mut trainer =
                Trainer::new(&gpu, m, &train, 64, Optimizer::adam(1e-3), seed).unwrap();
            let mut rng = shaderprop::rng::Rng::new(seed);
            let mut order: Vec<u32> = (0..train.n as u32).collect();
            let bar = indicatif::ProgressBar::hidden();
            (0..2)
                .map(|_| {
                    rng.shuffle(&mut order);
                    trainer.epoch(&gpu, &order, &bar).unwrap().to_bits()
                })
                .collect()
        };
        let first = run(7);
        assert_eq!(
            first,
            run(7),
            "{}: same seed, same adapter: the losses must match bit for bit",
            m.describe()
        );
        assert_ne!(
            first,
            run(8),
            "{}: a different seed must give a different run",
            m.describe()
        );
    }
}

/// The command line's model flags with their defaults.
fn model_args() -> shaderprop::cli::ModelArgs {
    use clap::Parser;
    let cli = shaderprop::cli::Cli::try_parse_from(["shaderprop", "explain"]).unwrap();
    match cli.command {
        shaderprop::cli::Command::Explain(a) => a.model,
        _ => unreachable!(),
    }
}
