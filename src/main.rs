//! The `shaderprop` command line.

use anyhow::{Context, Result};
use clap::Parser;
use shaderprop::apps::{self, DataChoice, Run};
use shaderprop::cli::{Cli, Command, SplitChoice, TrainArgs};
use shaderprop::data::{Dataset, DatasetSpec};
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
        Command::Encode(args) => encode(args),
        Command::Reconstruct(args) => reconstruct(args),
        Command::Anomaly(args) => anomaly(args),
        Command::Eval(args) => eval(args),
        Command::Pca(args) => pca(args),
    };
    if let Err(e) = result {
        if let Some(i) = e.downcast_ref::<shaderprop::interrupt::Interrupted>() {
            eprintln!("{i}");
            std::process::exit(130);
        }
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
             max_compute_invocations_per_workgroup {}, max_compute_workgroup_storage_size {} B, timestamp queries {}, \
             subgroups {} ({}..{} invocations)",
            l.max_storage_buffer_binding_size,
            l.max_buffer_size,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size,
            a.features().contains(wgpu::Features::TIMESTAMP_QUERY),
            a.features().contains(wgpu::Features::SUBGROUP),
            info.subgroup_min_size,
            info.subgroup_max_size
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
    a.classes = c
        .get("classes")
        .and_then(|v| v.as_array())
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u8)
                .collect()
        })
        .unwrap_or_default();
    a.skip_bad_files = c
        .get("skip_bad_files")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    a.image_size = c
        .get("image_size")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize);
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
    // A run stopped by Ctrl-C in its first epoch has no metrics yet.
    let metrics = if checkpoint.epoch == 0 {
        Vec::new()
    } else {
        train::read_metrics(&dir.join("metrics.csv"))?
    };
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
    let load_opts = shaderprop::data::own::LoadOptions {
        image_size: a.image_size.map(|n| (n, n)),
        skip_bad: a.skip_bad_files,
        ..Default::default()
    };
    if a.image_size == Some(0) {
        anyhow::bail!("--image-size must be at least 1");
    }
    let mut split = shaderprop::data::load_with(&a.dataset, a.data.as_deref(), &load_opts)?;
    if !a.classes.is_empty() {
        split.train = split.train.filter_classes(&a.classes)?;
        split.val = split.val.filter_classes(&a.classes)?;
    }
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
    let mut model = a.model.config([t.channels, t.rows, t.cols]);
    if let Some(stats) = &split.stats {
        // Standardised CSV features are not in [0, 1]: a linear output and MSE.
        if model.loss != shaderprop::ops::loss::LossKind::Mse {
            eprintln!(
                "note: csv data is standardised: training with --loss mse and a linear output"
            );
        }
        model.loss = shaderprop::ops::loss::LossKind::Mse;
        model.linear_output = true;
        model.data_stats = Some(stats.clone());
    }
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
    let gpu = a.device.open()?;
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
        "classes": (!a.classes.is_empty()).then_some(&a.classes),
        "image_size": a.image_size,
        "skip_bad_files": a.skip_bad_files,
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
    shaderprop::interrupt::install();
    if let Err(e) = train::train_from(&gpu, &split, &opts, &config, resume) {
        if e.is::<shaderprop::interrupt::Interrupted>() {
            return Err(e);
        }
        return Err(e.context("training failed"));
    }
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
    let gpu = a.device.open()?;
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
    let gpu = a.device.open()?;
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
    let run = open_with_data(&a.run, &a.dataset, &a.data)?;
    let split = run.load_data()?;
    let gpu = a.device.open()?;
    let out = a.out.clone().unwrap_or_else(|| run.dir.clone());
    for p in shaderprop::generate::generate(&gpu, &run.ck, &split.val, a.count, a.seed, &out)? {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Opens a run, reading `dataset`/`data` instead of the run's own when given.
fn open_with_data(
    run: &std::path::Path,
    dataset: &Option<DatasetSpec>,
    data: &Option<std::path::PathBuf>,
) -> Result<Run> {
    Run::open(
        run,
        &DataChoice {
            dataset: dataset.clone(),
            data: data.clone(),
        },
    )
}

fn open_run(
    a: &shaderprop::cli::ApplyArgs,
) -> Result<(Run, shaderprop::data::Split, Dataset, Gpu)> {
    let run = open_with_data(&a.run, &a.dataset, &a.data)?;
    let split = run.load_data()?;
    let mut set = match a.split {
        SplitChoice::Val => split.val.clone(),
        SplitChoice::Train => split.train.clone(),
    };
    if let Some(n) = a.limit {
        if n == 0 {
            anyhow::bail!("--limit must be at least 1");
        }
        set = set.head(n);
    }
    let gpu = a.device.open()?;
    eprintln!(
        "device: {}; model: {} ({}); data: {} ({} samples)",
        gpu::describe_adapter(&gpu.info),
        run.cfg().describe(),
        run.dir.display(),
        set.name,
        set.n
    );
    Ok((run, split, set, gpu))
}

fn print_written(paths: &[std::path::PathBuf]) {
    for p in paths {
        println!("wrote {}", p.display());
    }
}

fn encode(a: shaderprop::cli::ApplyArgs) -> Result<()> {
    let (run, _, set, gpu) = open_run(&a)?;
    print_written(&apps::encode(&gpu, &run, &set, &a.out)?);
    Ok(())
}

fn reconstruct(a: shaderprop::cli::ReconstructArgs) -> Result<()> {
    if a.inputs.is_empty() {
        if a.count == 0 {
            anyhow::bail!("--count must be at least 1");
        }
        let (run, _, set, gpu) = open_run(&a.apply)?;
        let set = set.head(a.count);
        let names: Vec<String> = (0..set.n).map(|i| format!("sample-{i:05}")).collect();
        print_written(&apps::reconstruct(&gpu, &run, &set, &names, &a.apply.out)?);
        return Ok(());
    }
    let run = Run::open(&a.apply.run, &DataChoice::default())?;
    let mut files = Vec::new();
    for p in &a.inputs {
        if p.is_dir() {
            files.extend(shaderprop::data::own::list_images(p)?);
        } else {
            files.push((p.clone(), None));
        }
    }
    let set = shaderprop::data::own::images_to_dataset(
        &files,
        &apps::load_options(run.cfg()),
        "your images",
    )?;
    apps::check_fits(run.cfg(), &set)?;
    let mut names: Vec<String> = Vec::new();
    for (p, _) in &files {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "image".into());
        let mut name = stem.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{stem}-{k}");
            k += 1;
        }
        names.push(name);
    }
    let gpu = a.apply.device.open()?;
    print_written(&apps::reconstruct(&gpu, &run, &set, &names, &a.apply.out)?);
    Ok(())
}

fn anomaly(a: shaderprop::cli::AnomalyArgs) -> Result<()> {
    let (run, split, set, gpu) = open_run(&a.apply)?;
    let threshold = match (a.threshold, a.percentile) {
        (Some(t), _) => apps::Threshold::Value(t),
        (None, Some(p)) if (0.0..=100.0).contains(&p) => apps::Threshold::Percentile(p),
        (None, Some(p)) => anyhow::bail!("--percentile must be between 0 and 100, got {p}"),
        (None, None) => apps::Threshold::Percentile(95.0),
    };
    let normal = if a.normal_classes.is_empty() {
        run.classes.clone()
    } else {
        Some(a.normal_classes.clone())
    };
    if normal.is_some() && set.labels.is_none() {
        anyhow::bail!(
            "{} has no labels: --normal-classes needs a labelled set",
            set.name
        );
    }
    let paths = apps::anomaly(
        &gpu,
        &run,
        &split,
        &set,
        threshold,
        normal.as_deref(),
        !a.no_pca,
        &a.apply.out,
    )?;
    print_written(&paths);
    Ok(())
}

fn eval(a: shaderprop::cli::EvalArgs) -> Result<()> {
    let (run, split, set, gpu) = open_run(&a.apply)?;
    apps::eval(&gpu, &run, &split, &set, !a.no_pca)
}

fn pca(a: shaderprop::cli::PcaArgs) -> Result<()> {
    let run = match &a.run {
        Some(r) => Some(open_with_data(r, &a.dataset, &a.data)?),
        None => None,
    };
    let split = match &run {
        Some(r) => r.load_data()?,
        None => shaderprop::data::load_with(
            a.dataset.as_ref().unwrap_or(&DatasetSpec::Digits),
            a.data.as_deref(),
            &shaderprop::data::own::LoadOptions {
                image_size: a.image_size.map(|n| (n, n)),
                ..Default::default()
            },
        )?,
    };
    let mut train = match &run {
        Some(r) if a.classes.is_empty() => r.training_set(&split)?,
        _ => split.train.clone(),
    };
    let mut val = split.val.clone();
    if !a.classes.is_empty() {
        train = train.filter_classes(&a.classes)?;
        val = val.filter_classes(&a.classes)?;
    }
    let k = a.components.unwrap_or_else(|| {
        run.as_ref()
            .map_or(32, |r| r.cfg().latent)
            .min(train.sample_len())
    });
    let gpu = a.device.open()?;
    let start = std::time::Instant::now();
    let mut p = shaderprop::pca::Pca::fit(&gpu, &train, k, 0)?;
    let fit_s = start.elapsed().as_secs_f64();
    let d = train.sample_len() as f64;
    let mean = |e: &[f32]| e.iter().map(|&v| v as f64).sum::<f64>() / (e.len() as f64 * d);
    let (_, train_err) = p.score(&gpu, &train)?;
    let (_, val_err) = p.score(&gpu, &val)?;
    println!(
        "PCA, {k} components, fitted on {} ({} samples) in {fit_s:.1} s ({} iterations) on {}",
        train.name,
        train.n,
        p.iterations,
        gpu::describe_adapter(&gpu.info)
    );
    println!("  variance explained  {:.2}%", 100.0 * p.explained());
    println!(
        "  mean squared error per value: train {:.6}, {} {:.6}",
        mean(&train_err),
        val.name,
        mean(&val_err)
    );
    Ok(())
}
