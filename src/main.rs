//! The `shaderprop` command line.

use anyhow::{Context, Result};
use clap::Parser;
use shaderprop::cli::{Cli, Command, TrainArgs};
use shaderprop::data::DatasetSpec;
use shaderprop::gpu::{self, Gpu};
use shaderprop::train::{self, TrainOptions};

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices { backend } => devices(backend),
        Command::Train(args) => run_train(args),
        Command::Bench(args) => shaderprop::bench::run(&args),
        Command::Explain(args) => explain(args),
        Command::Gradcheck(args) => gradcheck(args),
        Command::Generate(args) => generate(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn devices(backend: gpu::BackendChoice) -> Result<()> {
    let adapters = gpu::list_adapters(backend);
    if adapters.is_empty() {
        return Err(gpu::GpuError::NoAdapter {
            requested: backend,
            found: vec![],
        }
        .into());
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        println!("[{i}] {}", gpu::describe_adapter(&info));
        println!(
            "    max_storage_buffer_binding_size {} B, max_buffer_size {} B, max_compute_workgroups_per_dimension {}, \
             max_compute_invocations_per_workgroup {}, max_compute_workgroup_storage_size {} B, timestamp queries {}",
            l.max_storage_buffer_binding_size,
            l.max_buffer_size,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size,
            a.features().contains(wgpu::Features::TIMESTAMP_QUERY)
        );
    }
    Ok(())
}

/// Fills the flags of `a` from a run folder's config.json and checkpoint (`--resume DIR`).
fn prepare_resume(a: &mut TrainArgs, dir: &std::path::Path) -> Result<train::Resume> {
    let checkpoint = shaderprop::checkpoint::load(&dir.join("model.safetensors"))?;
    let path = dir.join("config.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let c: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let field = |k: &str| {
        c.get(k)
            .with_context(|| format!("{} has no '{k}'", path.display()))
    };
    a.dataset = field("dataset")?
        .as_str()
        .unwrap_or("")
        .parse()
        .map_err(anyhow::Error::msg)?;
    a.data = field("data")?.as_str().map(std::path::PathBuf::from);
    a.model.batch_size = Some(field("batch_size")?.as_u64().context("batch_size")? as usize);
    a.model.lr = field("lr")?.as_f64().context("lr")? as f32;
    a.model.optimizer = field("optimizer")?
        .as_str()
        .context("optimizer")?
        .to_string();
    a.seed = field("seed")?.as_u64().context("seed")?;
    a.limit = c.get("limit").and_then(|v| v.as_u64()).map(|v| v as usize);
    a.model.model = checkpoint.config.kind;
    a.model.latent = Some(checkpoint.config.latent);
    a.model.beta = checkpoint.config.beta;
    a.model.init = Some(checkpoint.config.init);
    a.model.hidden = checkpoint.config.hidden.clone();
    a.model.loss = checkpoint.config.loss;
    a.model.arch = Some(checkpoint.config.arch);
    a.model.channels = checkpoint.config.channels.clone();
    a.model.decoder = checkpoint.config.decoder;
    a.model.noise = checkpoint.config.noise;
    a.model.sparsity = checkpoint.config.sparsity;
    a.out = Some(dir.to_path_buf());
    if a.epochs.is_none() {
        anyhow::bail!(
            "--resume needs --epochs N: the total number of epochs (the run has {})",
            checkpoint.epoch
        );
    }
    let metrics = train::read_metrics(&dir.join("metrics.csv"))?;
    Ok(train::Resume {
        checkpoint,
        metrics,
    })
}

fn run_train(mut a: TrainArgs) -> Result<()> {
    let resume = match a.resume.clone() {
        Some(dir) => Some(prepare_resume(&mut a, &dir)?),
        None => None,
    };
    let mut split = shaderprop::data::load(&a.dataset, a.data.as_deref())?;
    if let Some(n) = a.limit {
        if n == 0 {
            anyhow::bail!("--limit must be at least 1");
        }
        split.train = split.train.head(n);
    }
    let epochs = a.epochs.unwrap_or(if a.dataset == DatasetSpec::Digits {
        20
    } else {
        5
    });
    let optimizer = a.model.optimizer().map_err(anyhow::Error::msg)?;
    let t = &split.train;
    let model = a.model.config([t.channels, t.rows, t.cols]);
    let out = a.out.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        std::path::PathBuf::from(format!("runs/{}-{stamp}", a.model.model.name()))
    });
    let opts = TrainOptions {
        model: model.clone(),
        epochs,
        batch_size: a.model.batch(),
        optimizer,
        seed: a.seed,
        out: out.clone(),
        progress: !a.quiet,
    };
    train::validate(&opts, &split)?;
    let gpu = Gpu::new(a.device.backend, a.device.adapter)?;
    eprintln!(
        "device: {}; data: {} ({} train / {} validation); model: {}, loss {}, {} epochs, batch {}, {} lr {}",
        gpu::describe_adapter(&gpu.info),
        a.dataset,
        t.n,
        split.val.n,
        model.describe(),
        model.loss.name(),
        epochs,
        a.model.batch(),
        optimizer.name(),
        a.model.lr
    );
    let config = serde_json::json!({
        "model": model,
        "dataset": a.dataset.to_string(),
        "data": a.data,
        "epochs": epochs,
        "batch_size": a.model.batch(),
        "optimizer": optimizer.name(),
        "lr": a.model.lr,
        "seed": a.seed,
        "limit": a.limit,
        "device": gpu::describe_adapter(&gpu.info),
        "shaderprop_version": env!("CARGO_PKG_VERSION"),
    });
    if a.check_gradients {
        let checks = shaderprop::gradcheck::check(
            &gpu,
            &model,
            &split.val,
            8.min(split.val.n),
            a.seed,
            None,
        )?;
        shaderprop::gradcheck::report(&checks)?;
    }
    train::train_from(&gpu, &split, &opts, &config, resume).context("training failed")?;
    println!("wrote {}", out.display());
    Ok(())
}

fn explain(a: shaderprop::cli::ExplainArgs) -> Result<()> {
    // The graph's shapes come from the embedded digits (28×28, 9,000 training samples).
    let split = shaderprop::data::load(&DatasetSpec::Digits, None)?;
    let t = &split.train;
    let cfg = a.model.config([t.channels, t.rows, t.cols]);
    let opt = a.model.optimizer().map_err(anyhow::Error::msg)?;
    if a.model.batch() == 0 || a.model.batch() > t.n {
        anyhow::bail!("--batch-size must be between 1 and {}", t.n);
    }
    let gpu = Gpu::new(a.device.backend, a.device.adapter)?;
    let tg = train::train_graph(&cfg, t.n, a.model.batch(), opt);
    let mut res = shaderprop::graph::plan::Resources::new();
    let plan = shaderprop::graph::plan::Plan::compile(&tg.graph, &gpu, &mut res, &[tg.loss])?;
    let title = format!(
        "training step of the {} autoencoder, batch {}, {} (device: {})",
        cfg.kind.name(),
        a.model.batch(),
        opt.name(),
        gpu::describe_adapter(&gpu.info)
    );
    print!("{}", shaderprop::explain::explain(&title, &tg.graph, &plan));
    if let Some(path) = &a.dot {
        shaderprop::fsio::write_atomic(path, shaderprop::explain::dot(&tg.graph).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn gradcheck(a: shaderprop::cli::GradcheckArgs) -> Result<()> {
    let split = shaderprop::data::load(&DatasetSpec::Digits, None)?;
    let v = &split.val;
    let cfg = a.model.config([v.channels, v.rows, v.cols]);
    let broken = a
        .break_kernel
        .as_deref()
        .map(shaderprop::gradcheck::breakable)
        .transpose()?;
    let gpu = Gpu::new(a.device.backend, a.device.adapter)?;
    println!(
        "gradient check: {} autoencoder, {} validation digits, {} (device: {}){}",
        cfg.kind.name(),
        a.samples,
        cfg.loss.name(),
        gpu::describe_adapter(&gpu.info),
        broken
            .map(|k| format!(", kernel {k} deliberately broken"))
            .unwrap_or_default()
    );
    let checks = shaderprop::gradcheck::check(&gpu, &cfg, v, a.samples, a.seed, broken)?;
    shaderprop::gradcheck::report(&checks)
}

fn generate(a: shaderprop::cli::GenerateArgs) -> Result<()> {
    let (dir, ck_path) = if a.run.is_dir() {
        (a.run.clone(), a.run.join("model.safetensors"))
    } else {
        (
            a.run.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
            a.run.clone(),
        )
    };
    let ck = shaderprop::checkpoint::load(&ck_path)?;
    let (dataset, data) = match a.dataset {
        Some(d) => (d, a.data.clone()),
        None => {
            let text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
            let c: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let d = c
                .get("dataset")
                .and_then(|v| v.as_str())
                .unwrap_or("digits")
                .parse()
                .map_err(anyhow::Error::msg)?;
            (
                d,
                a.data.clone().or_else(|| {
                    c.get("data")
                        .and_then(|v| v.as_str())
                        .map(std::path::PathBuf::from)
                }),
            )
        }
    };
    let split = shaderprop::data::load(&dataset, data.as_deref())?;
    let gpu = Gpu::new(a.device.backend, a.device.adapter)?;
    let out = a.out.clone().unwrap_or(dir);
    for p in shaderprop::generate::generate(&gpu, &ck, &split.val, a.count, a.seed, &out)? {
        println!("wrote {}", p.display());
    }
    Ok(())
}
