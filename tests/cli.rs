//! The binary end to end: what a user types, what lands on disk, and the errors they see.

use std::path::PathBuf;
use std::process::Command;

/// The binary, with its tune cache in a file of the calling test's own (libtest names each
/// test's thread after it): the commands of one test share their tuning, so a test that runs
/// twice and compares sees the same kernels both times, and no test touches ~/.cache.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shaderprop"));
    c.env("SHADERPROP_TUNE_CACHE", tune_cache());
    c
}

/// The calling test's tune cache (see [`bin`]).
fn tune_cache() -> PathBuf {
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    std::env::temp_dir().join(format!(
        "shaderprop-cli-tune-{}/{test}.json",
        std::process::id()
    ))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shaderprop-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = bin().args(args).output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn devices_lists_lavapipe_with_its_limits() {
    let (ok, stdout, stderr) = run(&["devices", "--backend", "vulkan"]);
    assert!(ok, "devices failed: {stderr}");
    assert!(stdout.contains("[0]"), "no adapter listed: {stdout}");
    assert!(
        stdout.contains("max_storage_buffer_binding_size"),
        "limits missing: {stdout}"
    );
}

#[test]
fn train_tunes_once_then_reuses_the_cache_and_no_tune_or_variant_skip_it() {
    let out = temp_dir("tune");
    let cache = out.join("cache").join("tune.json");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--backend",
            "vulkan",
            "--epochs",
            "1",
            "--latent",
            "16",
            "--quiet",
            "--out",
        ];
        let run_dir = out.join("run");
        let run_dir = run_dir.to_str().unwrap().to_string();
        args.push(&run_dir);
        args.extend_from_slice(extra);
        let o = bin()
            .env("SHADERPROP_TUNE_CACHE", &cache)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "train {extra:?} failed: {stderr}");
        stderr
    };
    train(&["--no-tune"]);
    assert!(!cache.exists(), "--no-tune wrote a tune cache");
    train(&[
        "--variant",
        "matmul=texture",
        "--variant",
        "conv=direct",
        "--variant",
        "reads=texture",
    ]);
    assert!(
        !cache.exists(),
        "pinned variants need no tuning (every matmul shape here is 4-aligned)"
    );
    let first = train(&[]);
    assert!(
        first.contains("tuning matmul") && first.contains("tuning bce_with_logits_forward"),
        "no tuning reported: {first}"
    );
    let file: shaderprop::tune::CacheFile =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let entries: usize = file.devices.values().map(|d| d.len()).sum();
    assert!(
        entries >= 6,
        "the dense model's matmul and read-path classes: {file:?}"
    );
    let second = train(&[]);
    assert!(
        !second.contains("tuning"),
        "the second run tuned again: {second}"
    );

    let (ok, _, stderr) = run(&["train", "--variant", "matmul=fastest", "--epochs", "1"]);
    assert!(!ok);
    assert!(stderr.contains("--variant matmul=fastest"), "{stderr}");
    // explain shows the pinned kernels' files, each copy into a texture, and the dispatches
    // that reuse one (the BCE gradient reads the forward's copy of the logits).
    let (ok, stdout, stderr) = run(&[
        "explain",
        "--backend",
        "vulkan",
        "--variant",
        "matmul=texture",
        "--variant",
        "reads=texture",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("matmul_tex.wgsl"), "{stdout}");
    assert!(stdout.contains("loss_tex.wgsl"), "{stdout}");
    assert!(
        stdout.contains("reuses the copy of 'decoder.0' (copied for 'bce_per_sample')"),
        "{stdout}"
    );
}

#[test]
fn train_writes_a_complete_run_folder() {
    let out = temp_dir("train");
    let (ok, stdout, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--epochs",
        "2",
        "--batch-size",
        "128",
        "--latent",
        "16",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(ok, "train failed: {stderr}");
    assert!(stdout.contains("epoch 2/2"), "no epoch summary: {stdout}");
    // metrics.csv: a header and one row per epoch, every value a finite number.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,train_loss,val_loss,seconds,samples_per_s,val_code_mean,val_code_zero_fraction"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    for l in &lines[1..] {
        for v in l.split(',') {
            assert!(
                v.parse::<f64>().map(f64::is_finite).unwrap_or(false),
                "bad value {v} in {l}"
            );
        }
    }
    // The checkpoint holds every parameter with its shape, and the model metadata.
    let ck = shaderprop::checkpoint::load(&out.join("model.safetensors")).unwrap();
    assert_eq!(ck.config.latent, 16);
    assert_eq!(ck.epoch, 2);
    assert_eq!(ck.tensors["encoder.0.weight"].shape, vec![784, 16]);
    assert_eq!(ck.tensors["decoder.0.weight"].shape, vec![16, 784]);
    assert_eq!(ck.tensors["decoder.0.bias"].shape, vec![784]);
    // 4 parameters and Adam's two moments for each, so a run can resume exactly.
    assert_eq!(ck.tensors.len(), 12);
    assert_eq!(ck.tensors["encoder.0.weight.adam_v"].shape, vec![784, 16]);
    // Pictures decode and have the sizes people can see.
    let recon = image::open(out.join("reconstructions.png")).unwrap();
    assert!(
        recon.width() >= 10 * 28 * 4 && recon.height() >= 2 * 28 * 4,
        "reconstructions.png is {}x{}",
        recon.width(),
        recon.height()
    );
    let loss = image::open(out.join("loss.png")).unwrap();
    assert_eq!((loss.width(), loss.height()), (800, 500));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["batch_size"], 128);
    // No temporary file is left behind by the atomic writes.
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.contains(".tmp"), "left-over temporary file {name}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_flags_fail_with_a_sentence_and_create_nothing() {
    let out = temp_dir("bad-flags");
    for (args, needle) in [
        (vec!["--batch-size", "0"], "--batch-size must be at least 1"),
        (
            vec!["--batch-size", "100000"],
            "larger than the training set",
        ),
        (vec!["--epochs", "0"], "--epochs must be at least 1"),
        (vec!["--latent", "0"], "--latent"),
        (vec!["--lr", "-1"], "--lr must be a positive"),
        (vec!["--lr", "NaN"], "--lr must be a positive"),
        (vec!["--model", "nonsense"], "unknown model"),
        (vec!["--backend", "nonsense"], "unknown backend"),
        (vec!["--optimizer", "lbfgs"], "unknown optimizer"),
        (
            vec![
                "--dataset",
                "mnist",
                "--data",
                "/nonexistent-shaderprop-dir",
            ],
            "/nonexistent-shaderprop-dir",
        ),
    ] {
        let mut all = vec!["train", "--quiet", "--out", out.to_str().unwrap()];
        all.extend(&args);
        let (ok, _, stderr) = run(&all);
        assert!(!ok, "{args:?} should fail");
        assert!(
            stderr.contains(needle),
            "{args:?}: error does not say '{needle}': {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(!out.exists(), "{args:?} created the run folder");
    }
}

#[test]
fn a_backend_without_an_adapter_names_what_was_found_and_the_fix() {
    // This machine has no Metal (it is Linux): the error must say what exists and how to get a driver.
    let (ok, _, stderr) = run(&[
        "train",
        "--backend",
        "metal",
        "--quiet",
        "--out",
        "/tmp/shaderprop-never",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("no GPU adapter for backend 'metal'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mesa-vulkan-drivers"),
        "no install hint: {stderr}"
    );
    assert!(
        stderr.contains("llvmpipe"),
        "does not list the adapters found: {stderr}"
    );
    let (ok, _, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--adapter",
        "99",
        "--quiet",
        "--out",
        "/tmp/shaderprop-never",
    ]);
    assert!(!ok);
    assert!(stderr.contains("--adapter 99 does not exist"), "{stderr}");
}

#[test]
fn bench_quick_prints_a_full_table_with_finite_positive_rates() {
    let json = std::env::temp_dir().join(format!("shaderprop-bench-{}.json", std::process::id()));
    let (ok, stdout, stderr) = run(&[
        "bench",
        "--backend",
        "vulkan",
        "--quick",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "bench failed: {stderr}");
    assert!(
        stdout.contains("fma_rate") && stdout.contains("copy_bandwidth"),
        "{stdout}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The bandwidth ceiling is the faster of the storage copy and the texture copy (on
    // lavapipe, which reads storage textures, `copy_storage_texture`), each with its row.
    let ceil = |k: &str| doc["ceilings"][k].as_f64().unwrap();
    assert_eq!(
        ceil("bandwidth_gbps"),
        ceil("copy_buffer_gbps").max(ceil("copy_texture_gbps"))
    );
    for (kernel, gbps) in [
        ("copy_bandwidth", ceil("copy_buffer_gbps")),
        ("copy_storage_texture", ceil("copy_texture_gbps")),
    ] {
        let row = doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kernel"] == kernel)
            .unwrap_or_else(|| panic!("no {kernel} row: {stdout}"));
        assert!(gbps.is_finite() && gbps > 0.0 && row["gbps"].as_f64() == Some(gbps));
    }
    // The ceilings are measured again at the end, so drift during the run shows.
    assert!(stdout.contains("ceilings at the end"), "{stdout}");
    let end = doc["ceilings_at_end"]["fma_gflops"].as_f64().unwrap();
    assert!(end.is_finite() && end > 0.0, "bad end ceiling {end}");
    let rows = doc["rows"].as_array().unwrap();
    let matmuls: Vec<_> = rows
        .iter()
        .filter(|r| r["kernel"].as_str().unwrap().starts_with("matmul"))
        .collect();
    // 6 shapes: 1 square and 5 autoencoder products; naive, blocked and (aligned) vec4.
    assert!(matmuls.len() >= 12, "only {} matmul rows", matmuls.len());
    for r in &matmuls {
        let g = r["gflops"].as_f64().unwrap();
        assert!(g.is_finite() && g > 0.0, "bad GFLOP/s in {r}");
    }
    assert!(
        rows.iter()
            .any(|r| r["shape"].as_str().unwrap().starts_with("step:")),
        "no per-dispatch step profile"
    );
    // The load-path rows: a scattered load through each of the four paths (lavapipe reads
    // storage textures).
    for path in [
        "load_storage",
        "load_uniform",
        "load_texture",
        "load_storage_texture",
    ] {
        let r = rows
            .iter()
            .find(|r| r["kernel"] == path)
            .unwrap_or_else(|| panic!("no {path} row"));
        let g = r["gbps"].as_f64().unwrap();
        assert!(g.is_finite() && g > 0.0, "bad GB/s in {r}");
    }
    // The streaming kernels of both models' steps, each through both read paths.
    for (kernel, variant) in [
        ("bce_with_logits_forward", "storage"),
        ("bce_with_logits_forward_tex", "texture"),
        ("column_sum_tex", "texture"),
        ("row_sum_tex", "texture"),
        ("adam_update_vec4", "storage"),
        ("activation_backward_tex", "texture"),
    ] {
        let r = rows
            .iter()
            .find(|r| r["kernel"] == kernel && r["variant"] == variant)
            .unwrap_or_else(|| panic!("no {kernel} row reading from {variant}"));
        let g = r["gbps"].as_f64().unwrap();
        assert!(g.is_finite() && g > 0.0, "bad GB/s in {r}");
    }
    let _ = std::fs::remove_file(&json);
}

/// Splits an explain line into its columns (two or more spaces apart).
fn columns(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn explain_shows_one_gradient_per_parameter_feeding_its_update_and_the_plans_peak() {
    let models: [&[&str]; 8] = [
        &["--model", "vanilla"],
        &["--model", "vanilla", "--hidden", "64"],
        &["--model", "conv"],
        &["--model", "denoising", "--arch", "dense"],
        &["--model", "sparse", "--sparsity", "kl:0.05,3"],
        &["--model", "vae"],
        &["--model", "vae", "--arch", "conv"],
        &["--model", "conv", "--decoder", "transpose"],
    ];
    let gpu = shaderprop::gpu::Gpu::new(shaderprop::gpu::BackendChoice::Vulkan, None).unwrap();
    for (i, model) in models.iter().enumerate() {
        let mut args = vec!["explain", "--backend", "vulkan", "--batch-size", "16"];
        args.extend(model.iter());
        let dot =
            std::env::temp_dir().join(format!("shaderprop-explain-{}-{i}.dot", std::process::id()));
        args.extend(["--dot", dot.to_str().unwrap()]);
        let (ok, stdout, stderr) = run(&args);
        assert!(ok, "explain {model:?} failed: {stderr}");
        let section = |title: &str| -> Vec<Vec<String>> {
            let start = stdout
                .find(title)
                .unwrap_or_else(|| panic!("{model:?}: no section {title}"));
            stdout[start..]
                .lines()
                .skip(3)
                .take_while(|l| !l.trim().is_empty())
                .map(columns)
                .collect()
        };
        let forward = section("## 1. forward graph");
        let backward = section("## 2. backward graph");
        let params: Vec<&String> = forward
            .iter()
            .filter(|c| c[2] == "param")
            .map(|c| &c[1])
            .collect();

        // The same graph, built here from the same flags: its parameters and plan.
        let mut argv = vec!["shaderprop"];
        argv.extend(&args);
        use clap::Parser;
        let cli = shaderprop::cli::Cli::try_parse_from(&argv).unwrap();
        let shaderprop::cli::Command::Explain(ea) = cli.command else {
            unreachable!()
        };
        let cfg = ea.model.config([1, 28, 28]);
        let split = shaderprop::data::load(&shaderprop::data::DatasetSpec::Digits, None).unwrap();
        let tg = shaderprop::train::train_graph(
            &cfg,
            split.train.n,
            16,
            shaderprop::ops::optimizer::Optimizer::adam(1e-3),
        );
        let want: Vec<&str> = tg
            .graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, shaderprop::graph::Op::Param(_)))
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(params, want, "{model:?}: the printed parameters");
        assert!(params.len() >= 4, "{model:?}: {forward:?}");
        for p in &params {
            let updates: Vec<&Vec<String>> = backward
                .iter()
                .filter(|c| c[2] == "adam_update" && c[3].split(", ").next() == Some(p.as_str()))
                .collect();
            assert_eq!(
                updates.len(),
                1,
                "{model:?}: parameter {p} must have exactly one update"
            );
            let grad = updates[0][3].split(", ").nth(1).unwrap().to_string();
            let producers: Vec<&Vec<String>> = backward.iter().filter(|c| c[1] == grad).collect();
            assert_eq!(
                producers.len(),
                1,
                "{model:?}: gradient {grad} of {p} must be produced exactly once"
            );
            let rule = producers[0].last().unwrap();
            assert!(
                rule.starts_with('←') && (rule.contains("backward") || rule.contains("gradient")),
                "{model:?}: gradient {grad} names no backward rule: {:?}",
                producers[0]
            );
        }
        // The printed peak is the plan's, compiled with the kernels the binary chose (its
        // tune cache, read now that it has run), textures of texture variants included.
        gpu.enable_tuning(Some(tune_cache()));
        let mut res = shaderprop::graph::plan::Resources::new();
        let plan =
            shaderprop::graph::plan::Plan::compile(&tg.graph, &gpu, &mut res, &[tg.loss]).unwrap();
        let peak_line = stdout
            .lines()
            .find(|l| l.starts_with("peak bytes  "))
            .expect("peak line");
        assert_eq!(
            columns(peak_line)[1],
            plan.peak_bytes.to_string(),
            "{model:?}"
        );
        assert!(plan.peak_bytes <= plan.peak_without_reuse);
        let dot_text = std::fs::read_to_string(&dot).unwrap();
        assert!(dot_text.starts_with("digraph") && dot_text.contains("->"));
        let _ = std::fs::remove_file(&dot);
    }
}

#[test]
fn gradcheck_passes_on_the_device_and_names_the_tensor_when_a_backward_kernel_is_broken() {
    for backend in ["vulkan", "gl"] {
        for extra in [&[][..], &["--hidden", "64", "--loss", "mse"][..]] {
            let mut args = vec!["gradcheck", "--backend", backend];
            args.extend(extra);
            let (ok, stdout, stderr) = run(&args);
            assert!(
                ok,
                "{backend} {extra:?}: gradcheck failed on a correct model: {stdout}{stderr}"
            );
            assert!(stdout.contains("worst relative error"), "{stdout}");
        }
        // Bias gradients come from column_sum: breaking it must fail exactly those tensors.
        let (ok, stdout, stderr) = run(&[
            "gradcheck",
            "--backend",
            backend,
            "--break-kernel",
            "column_sum",
        ]);
        assert!(!ok, "{backend}: a broken column_sum passed: {stdout}");
        assert!(
            stderr.contains("encoder.0.bias") && stderr.contains("decoder.0.bias"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("weight"),
            "weights do not use column_sum: {stderr}"
        );
        // The ReLU backward feeds only the first layer's gradients.
        let (ok, _, stderr) = run(&[
            "gradcheck",
            "--backend",
            backend,
            "--break-kernel",
            "activation_backward",
        ]);
        assert!(!ok);
        assert!(
            stderr.contains("encoder.0.weight") && !stderr.contains("decoder.0"),
            "{stderr}"
        );
    }
    let (ok, _, stderr) = run(&["gradcheck", "--break-kernel", "nonsense"]);
    assert!(!ok && stderr.contains("choose one of"), "{stderr}");
}

#[test]
fn train_with_check_gradients_checks_before_training() {
    let out = temp_dir("check-gradients");
    let (ok, stdout, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--epochs",
        "1",
        "--check-gradients",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let check = stdout.find("worst relative error").expect("the check ran");
    let epoch = stdout.find("epoch 1/1").expect("training ran");
    assert!(check < epoch, "the check must come first: {stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn resume_continues_exactly_like_an_uninterrupted_run() {
    let straight = temp_dir("straight");
    let resumed = temp_dir("resumed");
    let common = [
        "--backend",
        "vulkan",
        "--batch-size",
        "256",
        "--seed",
        "5",
        "--quiet",
    ];
    let mut args = vec![
        "train",
        "--epochs",
        "3",
        "--out",
        straight.to_str().unwrap(),
    ];
    args.extend(common);
    let (ok, _, stderr) = run(&args);
    assert!(ok, "{stderr}");
    let mut args = vec!["train", "--epochs", "1", "--out", resumed.to_str().unwrap()];
    args.extend(common);
    let (ok, _, stderr) = run(&args);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&[
        "train",
        "--resume",
        resumed.to_str().unwrap(),
        "--backend",
        "vulkan",
        "--quiet",
    ]);
    assert!(
        !ok && stderr.contains("--resume needs --epochs"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run(&[
        "train",
        "--resume",
        resumed.to_str().unwrap(),
        "--epochs",
        "3",
        "--backend",
        "vulkan",
        "--quiet",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("epoch 2/3") && !stdout.contains("epoch 1/3"),
        "{stdout}"
    );
    let losses = |dir: &PathBuf| -> Vec<String> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(&straight).len(), 3);
    assert_eq!(
        losses(&straight),
        losses(&resumed),
        "epoch, train_loss, val_loss must match"
    );
    let _ = std::fs::remove_dir_all(&straight);
    let _ = std::fs::remove_dir_all(&resumed);
}

#[test]
fn a_diverging_run_stops_naming_the_loss_term_and_step_and_writes_no_broken_checkpoint() {
    let out = temp_dir("diverge");
    let (ok, _, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--lr",
        "1e30",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "a learning rate of 1e30 must not train quietly");
    assert!(
        stderr.contains("reconstruction loss became non-finite"),
        "{stderr}"
    );
    assert!(stderr.contains("step"), "{stderr}");
    assert!(
        !out.join("model.safetensors").exists(),
        "no checkpoint of a diverged model"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_vae_trains_and_generate_writes_samples_interpolations_and_the_latent_plane() {
    let out = temp_dir("vae");
    let (ok, stdout, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--model",
        "vae",
        "--latent",
        "2",
        "--hidden",
        "64",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("val_kl") && stdout.contains("val_reconstruction"),
        "terms not reported: {stdout}"
    );
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with(
            "epoch,train_loss,val_loss,seconds,samples_per_s,val_reconstruction,val_kl,val_code_mean,val_code_zero_fraction\n"
        ),
        "{csv}"
    );
    let (ok, stdout, stderr) = run(&[
        "generate",
        out.to_str().unwrap(),
        "--backend",
        "vulkan",
        "--count",
        "16",
    ]);
    assert!(ok, "{stderr}");
    for (f, cols, rows) in [
        ("samples.png", 4, 4),
        ("interpolation.png", 10, 5),
        ("manifold.png", 15, 15),
    ] {
        assert!(stdout.contains(f), "{f} not reported: {stdout}");
        let img = image::open(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        // 28×28 cells at 2×, plus gutters.
        assert!(
            img.width() >= cols * 56 && img.height() >= rows * 56,
            "{f} is {}x{}",
            img.width(),
            img.height()
        );
    }
    let vanilla = temp_dir("vanilla-for-generate");
    let (ok, _, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        vanilla.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&["generate", vanilla.to_str().unwrap(), "--backend", "vulkan"]);
    assert!(!ok && stderr.contains("needs a VAE checkpoint"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&vanilla);
}

/// A short training run on the first 512 embedded digits, batch 64, on Vulkan: `epochs`
/// epochs of the model `flags` describe, into `out`.
fn quick_train(out: &std::path::Path, epochs: &str, flags: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "train",
        "--backend",
        "vulkan",
        "--limit",
        "512",
        "--batch-size",
        "64",
        "--quiet",
        "--epochs",
        epochs,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    run(&args)
}

fn metrics_rows(dir: &std::path::Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn conv_model_trains_and_its_loss_falls() {
    let out = temp_dir("conv");
    let (ok, stdout, stderr) = quick_train(&out, "3", &["--model", "conv"]);
    assert!(ok, "conv train failed: {stderr}");
    assert!(stderr.contains("code 8×4×4"), "model line: {stderr}");
    assert!(stdout.contains("epoch 3/3"), "{stdout}");
    let (_, rows) = metrics_rows(&out);
    assert!(
        rows[2][1] < rows[0][1] && rows[2][2] < rows[0][2],
        "train and validation loss must fall: {rows:?}"
    );
    let img = image::open(out.join("reconstructions.png")).expect("reconstructions.png decodes");
    assert!(img.width() >= 280 && img.height() >= 56);
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(config.contains("\"arch\": \"conv\""), "{config}");
    // The widths the network was built with, not "the default" (an empty list).
    let c: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        c["model"]["channels"],
        serde_json::json!([16, 8, 8]),
        "{config}"
    );
}

#[test]
fn denoising_model_reports_psnr_and_draws_noisy_denoised_clean() {
    for (noise, arch) in [("gaussian:0.5", "conv"), ("mask:0.3", "dense")] {
        let out = temp_dir(&format!("denoising-{arch}"));
        let (ok, stdout, stderr) = quick_train(
            &out,
            "2",
            &["--model", "denoising", "--arch", arch, "--noise", noise],
        );
        assert!(ok, "denoising {arch} failed: {stderr}");
        assert!(stdout.contains("val_psnr_denoised"), "{stdout}");
        let (header, rows) = metrics_rows(&out);
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("metrics.csv has no {name}: {header:?}"))
        };
        let (noisy, denoised) = (col("val_psnr_noisy"), col("val_psnr_denoised"));
        for r in &rows {
            assert!(r[noisy].is_finite() && r[denoised].is_finite(), "{r:?}");
        }
        if noise.starts_with("gaussian") {
            // σ = 0.5 clipped to [0, 1] on mostly-black digits: MSE ≈ 0.1, about 9–10 dB.
            assert!(
                (7.0..12.0).contains(&rows[0][noisy]),
                "noisy PSNR {} dB is not that of σ = 0.5",
                rows[0][noisy]
            );
        }
        // The same validation noise every epoch (a fixed step and seed).
        assert_eq!(rows[0][noisy], rows[1][noisy]);
        let img = image::open(out.join("denoising.png")).expect("denoising.png decodes");
        assert!(img.height() >= 3 * 28, "three rows: {}", img.height());
    }
}

#[test]
fn conv_and_denoising_flags_are_checked() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--model", "conv", "--latent", "5"],
            "--latent does not apply",
        ),
        (&["--noise", "gaussian:0.5"], "--model denoising only"),
        (
            &["--model", "denoising", "--noise", "salt:0.1"],
            "unknown kind 'salt'",
        ),
        (&["--model", "denoising", "--noise", "mask:1.5"], "[0, 1)"),
        (
            &["--model", "conv", "--channels", "4,4"],
            "three positive widths",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["train", "--backend", "vulkan", "--epochs", "1", "--quiet"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--out", "/nonexistent/never-written"]);
        let (ok, _, stderr) = run(&args);
        assert!(!ok, "{flags:?} should fail");
        assert!(
            stderr.contains(want),
            "{flags:?}: expected '{want}' in: {stderr}"
        );
    }
}

#[test]
fn sparse_l1_code_is_sparser_than_vanilla_at_similar_reconstruction() {
    let col = |header: &[String], name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    let mut results = Vec::new();
    for (model, extra) in [
        ("vanilla", vec![]),
        ("sparse", vec!["--sparsity", "l1:1e-3"]),
    ] {
        let out = temp_dir(&format!("sparse-{model}"));
        let mut args = vec![
            "train",
            "--backend",
            "vulkan",
            "--model",
            model,
            "--limit",
            "3000",
            "--epochs",
            "4",
            "--seed",
            "3",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let (ok, stdout, stderr) = run(&args);
        assert!(ok, "{model}: {stderr}");
        let (header, rows) = metrics_rows(&out);
        let last = rows.last().unwrap();
        if model == "sparse" {
            let s = col(&header, "val_sparsity");
            let r = col(&header, "val_reconstruction");
            assert!(last[s] > 0.0, "the penalty is reported apart: {stdout}");
            // The reported loss is the reconstruction plus the penalty.
            assert!((last[2] - last[r] - last[s]).abs() < 1e-4, "{last:?}");
        }
        results.push((
            last[col(&header, "val_code_mean")],
            last[col(&header, "val_code_zero_fraction")],
            if model == "sparse" {
                last[col(&header, "val_reconstruction")]
            } else {
                last[2]
            },
        ));
    }
    let ((mean_v, zero_v, bce_v), (mean_s, zero_s, bce_s)) = (results[0], results[1]);
    eprintln!("vanilla: mean code {mean_v:.3}, near-zero {zero_v:.3}, BCE {bce_v:.4}");
    eprintln!("sparse:  mean code {mean_s:.3}, near-zero {zero_s:.3}, BCE {bce_s:.4}");
    assert!(mean_s < mean_v, "L1 must lower the mean code activation");
    assert!(
        bce_s < 1.1 * bce_v,
        "reconstruction within 10 % of vanilla's"
    );
}

#[test]
fn conv_vae_trains_and_generates() {
    let out = temp_dir("conv-vae");
    let (ok, stdout, stderr) = quick_train(
        &out,
        "2",
        &["--model", "vae", "--arch", "conv", "--latent", "4"],
    );
    assert!(ok, "conv vae failed: {stderr}");
    assert!(stderr.contains("μ, logvar ∈ ℝ^4"), "{stderr}");
    let (_, rows) = metrics_rows(&out);
    assert!(
        rows[1][2] < rows[0][2],
        "validation loss must fall: {rows:?}"
    );
    assert!(stdout.contains("val_kl"), "{stdout}");
    let (ok, _, stderr) = run(&[
        "generate",
        out.to_str().unwrap(),
        "--backend",
        "vulkan",
        "--count",
        "16",
    ]);
    assert!(ok, "generate failed: {stderr}");
    for f in ["samples.png", "interpolation.png"] {
        let img = image::open(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(img.width() >= 4 * 28 && img.height() >= 28, "{f}");
    }
}

#[test]
fn gradcheck_passes_for_the_conv_denoising_and_sparse_models() {
    for flags in [
        &["--model", "conv"][..],
        &["--model", "denoising", "--noise", "mask:0.3"],
        &["--model", "sparse", "--sparsity", "kl:0.05,3"],
    ] {
        let mut args = vec!["gradcheck", "--backend", "vulkan"];
        args.extend_from_slice(flags);
        let (ok, stdout, stderr) = run(&args);
        assert!(ok, "{flags:?}: {stdout}{stderr}");
        assert!(stdout.contains("encoder.0.bias"), "{flags:?}: {stdout}");
    }
}

/// Runs `shaderprop CMD RUN --backend vulkan EXTRA...` (the commands that apply a model).
fn apply(cmd: &str, run_dir: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![cmd, run_dir, "--backend", "vulkan"];
    args.extend_from_slice(extra);
    run(&args)
}

/// Reads a PNG's size.
fn png_size(p: &std::path::Path) -> (u32, u32) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{} does not decode: {e}", p.display()));
    (img.width(), img.height())
}

/// The `.npy` header's shape and the number of float32 values after it.
fn npy_shape(p: &std::path::Path) -> (String, usize) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY", "not an npy file");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = String::from_utf8_lossy(&b[10..10 + hlen]).to_string();
    assert!(header.contains("'<f4'"), "{header}");
    let start = header.find("'shape': (").unwrap() + 10;
    let shape = header[start..start + header[start..].find(')').unwrap()].to_string();
    (shape, (b.len() - 10 - hlen) / 4)
}

#[test]
fn a_trained_model_encodes_reconstructs_scores_anomalies_evaluates_and_meets_pca() {
    let out = temp_dir("apps");
    let run_dir = out.join("run");
    // The standard anomaly experiment: train on one class (ones), score every class.
    let (ok, _, stderr) = quick_train(&run_dir, "20", &["--latent", "8", "--classes", "1"]);
    assert!(ok, "train failed: {stderr}");
    assert!(stderr.contains("512 train / 113 validation"), "{stderr}");
    let r = run_dir.to_str().unwrap();

    // encode: CSV with labels, .npy [1000, 8], a scatter plot.
    let enc = out.join("enc");
    let (ok, stdout, stderr) = apply("encode", r, &["--out", enc.to_str().unwrap()]);
    assert!(ok, "encode failed: {stderr}");
    assert!(stdout.contains("latents.npy"), "{stdout}");
    assert_eq!(
        npy_shape(&enc.join("latents.npy")),
        ("1000, 8".to_string(), 8000)
    );
    let csv = std::fs::read_to_string(enc.join("latents.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "label,z0,z1,z2,z3,z4,z5,z6,z7");
    assert_eq!(lines.len(), 1001);
    for l in &lines[1..] {
        let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v.len(), 9);
        assert!(v[0] < 10.0 && v.iter().all(|x| x.is_finite()), "{l}");
    }
    assert_eq!(png_size(&enc.join("latents.png")), (800, 700));

    // reconstruct, from the data set and from files of another size (resized to 28×28).
    let rec = out.join("rec");
    let (ok, _, stderr) = apply(
        "reconstruct",
        r,
        &["--count", "5", "--out", rec.to_str().unwrap()],
    );
    assert!(ok, "reconstruct failed: {stderr}");
    assert_eq!(
        png_size(&rec.join("reconstructions/sample-00004.png")),
        (28, 28)
    );
    let rows = std::fs::read_to_string(rec.join("reconstruct.csv")).unwrap();
    assert_eq!(rows.lines().count(), 6, "{rows}");
    for l in rows.lines().skip(1) {
        let loss: f64 = l.split(',').nth(1).unwrap().parse().unwrap();
        assert!(loss > 0.0 && loss < 1.0, "{l}");
    }
    let (w, h) = png_size(&rec.join("reconstructions.png"));
    assert!(w > 5 * 28 && h > 2 * 2 * 28, "{w}×{h}");
    let pics = out.join("pics");
    std::fs::create_dir_all(&pics).unwrap();
    let split = shaderprop::data::load(&shaderprop::data::DatasetSpec::Digits, None).unwrap();
    for i in 0..2 {
        let img = image::GrayImage::from_raw(28, 28, split.val.sample(i).to_vec()).unwrap();
        let big = image::imageops::resize(&img, 40, 40, image::imageops::FilterType::Triangle);
        big.save(pics.join(format!("mine{i}.png"))).unwrap();
    }
    let mine = out.join("mine");
    let (ok, stdout, stderr) = apply(
        "reconstruct",
        r,
        &[
            "--input",
            pics.to_str().unwrap(),
            "--out",
            mine.to_str().unwrap(),
        ],
    );
    assert!(ok, "reconstruct --input failed: {stderr}");
    assert!(stdout.contains("2 samples"), "{stdout}");
    assert_eq!(png_size(&mine.join("reconstructions/mine1.png")), (28, 28));

    // anomaly: per-sample CSV, histogram, ROC AUC for the model and PCA.
    let an = out.join("an");
    let (ok, stdout, stderr) = apply(
        "anomaly",
        r,
        &["--percentile", "90", "--out", an.to_str().unwrap()],
    );
    assert!(ok, "anomaly failed: {stderr}");
    assert!(stdout.contains("100 flagged (10.0%)"), "{stdout}");
    let auc = |label: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{stdout}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    // The run's classes are the normal ones by default; other digits reconstruct worse.
    assert!(
        stdout.contains("normal classes [1]: 113 normal, 887 anomalous"),
        "{stdout}"
    );
    assert!(auc("ROC AUC autoencoder") > 0.9, "{stdout}");
    assert!(auc("ROC AUC PCA") > 0.9, "{stdout}");
    let csv = std::fs::read_to_string(an.join("anomaly.csv")).unwrap();
    assert!(csv.starts_with(
        "index,label,score_bce_per_value,anomalous,mse_per_value,pca_mse_per_value\n"
    ));
    assert_eq!(csv.lines().count(), 1001);
    assert_eq!(png_size(&an.join("anomaly.png")), (800, 500));

    // eval and pca: the model's loss terms and PCA's error with the same code width.
    let (ok, stdout, stderr) = apply("eval", r, &[]);
    assert!(ok, "eval failed: {stderr}");
    for want in [
        "loss per sample",
        "loss per value",
        "autoencoder mean squared error",
        "PCA (8 components",
    ] {
        assert!(stdout.contains(want), "eval lacks {want}: {stdout}");
    }
    let (ok, stdout, stderr) = apply("pca", r, &["--components", "4"]);
    assert!(ok, "pca failed: {stderr}");
    assert!(
        stdout.contains("PCA, 4 components") && stdout.contains("variance explained"),
        "{stdout}"
    );

    // Data of another kind or shape than the model's: a clear error, nothing written.
    let csv_file = out.join("x.csv");
    let row = vec!["0.5"; 784].join(",");
    std::fs::write(&csv_file, format!("{row}\n{row}\n{row}\n")).unwrap();
    let spec = format!("csv:{}", csv_file.display());
    let elsewhere = out.join("elsewhere");
    let (ok, _, stderr) = apply(
        "encode",
        r,
        &["--dataset", &spec, "--out", elsewhere.to_str().unwrap()],
    );
    assert!(
        !ok && stderr.contains("trained on images") && stderr.contains("CSV values"),
        "{stderr}"
    );
    assert!(
        !elsewhere.exists(),
        "a refused command must not create its output folder"
    );
    let pics_spec = format!("images:{}", pics.display());
    let (ok, _, stderr) = apply("eval", r, &["--dataset", &pics_spec, "--no-pca"]);
    assert!(
        ok,
        "own 40×40 images are resized to the model's 28×28: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_image_folder_of_rgb_pngs_trains_a_conv_model_and_encodes() {
    let out = temp_dir("images");
    let dir = out.join("imgs");
    let split = shaderprop::data::load(&shaderprop::data::DatasetSpec::Digits, None).unwrap();
    // 300 digits of classes 0, 1 and 2 as coloured PNGs in one folder per class.
    let mut written = 0;
    for i in 0..split.train.n {
        let label = split.train.labels.as_ref().unwrap()[i];
        if label > 2 || written == 300 {
            continue;
        }
        let class = dir.join(format!("class-{label}"));
        std::fs::create_dir_all(&class).unwrap();
        let px = split.train.sample(i);
        let img = image::RgbImage::from_fn(28, 28, |x, y| {
            let v = px[(y * 28 + x) as usize];
            image::Rgb([v, v / 2, 255 - v])
        });
        img.save(class.join(format!("{i:05}.png"))).unwrap();
        written += 1;
    }
    std::fs::write(dir.join("class-0/README.txt"), "not an image").unwrap();
    let spec = format!("images:{}", dir.display());
    let run_dir = out.join("run");
    let (ok, stdout, stderr) = quick_train(&run_dir, "2", &["--model", "conv", "--dataset", &spec]);
    assert!(ok, "train on images failed: {stderr}");
    assert!(stderr.contains("270 train / 30 validation"), "{stderr}");
    assert!(stdout.contains("epoch 2/2"), "{stdout}");
    let (ok, _, stderr) = apply("encode", run_dir.to_str().unwrap(), &[]);
    assert!(ok, "encode failed: {stderr}");
    // The conv code is 8×4×4 = 128 values; labels come from the class folders.
    assert_eq!(
        npy_shape(&run_dir.join("latents.npy")),
        ("30, 128".to_string(), 3840)
    );
    let csv = std::fs::read_to_string(run_dir.join("latents.csv")).unwrap();
    let labels: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["0", "1", "2"]);

    // A zero-byte image is an error naming it.
    std::fs::write(dir.join("class-1/empty.png"), b"").unwrap();
    let (ok, _, stderr) = quick_train(&out.join("run2"), "1", &["--dataset", &spec]);
    assert!(
        !ok && stderr.contains("empty.png") && stderr.contains("0 bytes"),
        "{stderr}"
    );
    assert!(
        !out.join("run2").exists(),
        "a failed load must not create the run folder"
    );
    // --skip-bad-files leaves it out with a warning instead.
    let (ok, _, stderr) = quick_train(
        &out.join("run3"),
        "1",
        &["--dataset", &spec, "--skip-bad-files"],
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: skipping") && stderr.contains("empty.png"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_csv_with_low_dimensional_structure_trains_and_its_planted_outliers_score_highest() {
    let out = temp_dir("csv");
    std::fs::create_dir_all(&out).unwrap();
    // 2,000 rows of 12 features on a curved 2-D surface plus noise; 10 rows (in the training
    // split) replaced by points off the surface.
    let mut rng = shaderprop::rng::Rng::new(11);
    let a: Vec<f64> = (0..24).map(|_| rng.normal()).collect();
    let outliers: Vec<usize> = (0..10).map(|i| 37 + 150 * i).collect();
    let mut text = String::from(
        &*(0..12)
            .map(|j| format!("f{j}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    text.push('\n');
    for r in 0..2000 {
        let (u, v) = (rng.normal(), rng.normal());
        let row: Vec<String> = (0..12)
            .map(|j| {
                let clean = a[j] * u + a[12 + j] * v + 0.3 * (u * v).tanh();
                let x = if outliers.contains(&r) {
                    3.0 * rng.normal()
                } else {
                    clean + 0.05 * rng.normal()
                };
                format!("{x:.5}")
            })
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    let file = out.join("data.csv");
    std::fs::write(&file, text).unwrap();
    let spec = format!("csv:{}", file.display());
    let run_dir = out.join("run");
    let (ok, stdout, stderr) = run(&[
        "train",
        "--backend",
        "vulkan",
        "--dataset",
        &spec,
        "--latent",
        "2",
        "--hidden",
        "16",
        "--epochs",
        "40",
        "--batch-size",
        "32",
        "--lr",
        "3e-3",
        "--quiet",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(ok, "train on csv failed: {stderr}");
    assert!(
        stderr.contains("--loss mse and a linear output"),
        "{stderr}"
    );
    assert!(stdout.contains("epoch 40/40"), "{stdout}");
    let r = run_dir.to_str().unwrap();
    let (ok, _, stderr) = apply("encode", r, &[]);
    assert!(ok, "encode failed: {stderr}");
    assert_eq!(
        npy_shape(&run_dir.join("latents.npy")),
        ("200, 2".to_string(), 400)
    );

    let (ok, stdout, stderr) = apply("anomaly", r, &["--split", "train", "--percentile", "99"]);
    assert!(ok, "anomaly failed: {stderr}");
    // Training rows are every row but each tenth: row r is training row r − ⌊r / 10⌋.
    let csv = std::fs::read_to_string(run_dir.join("anomaly.csv")).unwrap();
    let flagged: Vec<usize> = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(2) == Some("1"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(flagged.len(), 18, "{stdout}");
    for o in &outliers {
        assert!(
            flagged.contains(&(o - o / 10)),
            "outlier row {o} not in the top 1%: {stdout}"
        );
    }
    // A row with a non-number is an error naming line and column; nothing is created.
    std::fs::write(&file, "1,2\n3,oops\n").unwrap();
    let (ok, _, stderr) = quick_train(&out.join("bad"), "1", &["--dataset", &spec]);
    assert!(
        !ok && stderr.contains("line 2, column 2: `oops` is not a number"),
        "{stderr}"
    );
    assert!(!out.join("bad").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn ctrl_c_mid_run_writes_a_checkpoint_that_resumes_to_the_uninterrupted_losses() {
    let out = temp_dir("interrupt");
    let flags = |dir: &std::path::Path| -> Vec<String> {
        [
            "train",
            "--backend",
            "vulkan",
            "--limit",
            "4608",
            "--batch-size",
            "32",
            "--epochs",
            "3",
            "--quiet",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.to_str().unwrap().to_string()])
        .collect()
    };
    // A run whose stderr is watched: its "plan:" line comes after the Ctrl-C handler is
    // installed and the plan compiled, when training starts.
    let spawn = |dir: &std::path::Path| {
        let mut child = bin()
            .args(flags(dir))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.starts_with("plan:") {
                    let _ = tx.send(std::time::Instant::now());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let started = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("training never started");
        (child, started, reader)
    };
    // The uninterrupted run, and how long its training took (its epochs' seconds in
    // metrics.csv: validation, pictures and exit are not training).
    let straight = out.join("straight");
    let (mut child, _, reader) = spawn(&straight);
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(status.success(), "{stderr}");
    let seconds: f64 = std::fs::read_to_string(straight.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<f64>().unwrap())
        .sum();
    let training = std::time::Duration::from_secs_f64(seconds);

    // The same run, interrupted a quarter of the way through its training: mid-run on a
    // machine of any speed (a fixed second was past the end of all three epochs on a fast
    // one).
    let stopped = out.join("stopped");
    let (mut child, started, reader) = spawn(&stopped);
    std::thread::sleep((training / 4).saturating_sub(started.elapsed()));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "exit status; stderr: {stderr}");
    assert!(
        stderr.contains("interrupted after step") && stderr.contains("--resume"),
        "{stderr}"
    );
    let ck = shaderprop::checkpoint::load(&stopped.join("model.safetensors")).unwrap();
    assert!(
        ck.epoch < 3 && ck.step > 0,
        "epoch {} step {}",
        ck.epoch,
        ck.step
    );

    let (ok, _, stderr) = run(&[
        "train",
        "--resume",
        stopped.to_str().unwrap(),
        "--epochs",
        "3",
        "--quiet",
        "--backend",
        "vulkan",
    ]);
    assert!(ok, "resume failed: {stderr}");
    let losses = |dir: &std::path::Path| -> Vec<(String, String)> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let v: Vec<&str> = l.split(',').collect();
                (v[1].to_string(), v[2].to_string())
            })
            .collect()
    };
    assert_eq!(losses(&stopped), losses(&straight));
    let _ = std::fs::remove_dir_all(&out);
}

/// An IDX file: magic 00 00 08 NDIMS, big-endian dimensions, payload.
fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

#[test]
fn each_bad_data_file_is_a_clear_error_naming_it_and_nothing_is_written() {
    let root = temp_dir("bad-input");
    let good_images = idx(&[4, 2, 2], &[7; 16]);
    let good_labels = idx(&[4], &[0, 1, 2, 3]);
    // (case, file to spoil, its bytes, what the message must say)
    let gz_garbage = [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "magic",
            "train-images-idx3-ubyte",
            vec![1, 2, 8, 3, 0, 0],
            "magic number",
        ),
        (
            "dims",
            "train-labels-idx1-ubyte",
            idx(&[2, 2], &[0; 4]),
            "1-D [n] labels",
        ),
        (
            "length",
            "train-images-idx3-ubyte",
            idx(&[4, 2, 2], &[7; 20]),
            "too long",
        ),
        (
            "truncated",
            "t10k-images-idx3-ubyte",
            idx(&[4, 2, 2], &[7; 9]),
            "truncated",
        ),
        (
            "gzip",
            "train-images-idx3-ubyte.gz",
            gz_garbage.to_vec(),
            "gzip",
        ),
        (
            "count",
            "t10k-labels-idx1-ubyte",
            idx(&[3], &[0, 1, 2]),
            "holds 3 labels",
        ),
    ];
    for (case, spoil, bytes, says) in cases {
        let dir = root.join(case);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, b) in [
            ("train-images-idx3-ubyte", &good_images),
            ("train-labels-idx1-ubyte", &good_labels),
            ("t10k-images-idx3-ubyte", &good_images),
            ("t10k-labels-idx1-ubyte", &good_labels),
        ] {
            if !spoil.starts_with(name) {
                std::fs::write(dir.join(name), b).unwrap();
            }
        }
        std::fs::write(dir.join(spoil), &bytes).unwrap();
        let out = root.join(format!("{case}-run"));
        let (ok, _, stderr) = run(&[
            "train",
            "--backend",
            "vulkan",
            "--dataset",
            "mnist",
            "--data",
            dir.to_str().unwrap(),
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(!ok, "{case}: a bad file must fail");
        let named = spoil.trim_end_matches(".gz");
        assert!(
            stderr.contains(named) && stderr.contains(says),
            "{case}: the error must name {named} and say {says}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(!out.exists(), "{case}: nothing may be written");
    }

    // Checkpoints: truncated, not safetensors, a newer format, another kind, another shape.
    // Each: encode refuses it, names the file or tensor and the problem, writes nothing.
    let run_dir = root.join("ok-run");
    let (ok, _, stderr) = quick_train(&run_dir, "1", &[]);
    assert!(ok, "{stderr}");
    let ck_path = run_dir.join("model.safetensors");
    let good = std::fs::read(&ck_path).unwrap();
    let ck = shaderprop::checkpoint::load(&ck_path).unwrap();
    let newer = {
        let t = &ck.tensors["encoder.0.bias"];
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            t.shape.clone(),
            bytemuck::cast_slice(&t.data),
        )
        .unwrap();
        let meta: std::collections::HashMap<String, String> = [
            ("format".to_string(), "shaderprop".to_string()),
            ("format_version".to_string(), "99".to_string()),
        ]
        .into();
        safetensors::serialize([("encoder.0.bias".to_string(), view)], Some(meta)).unwrap()
    };
    let respec = |f: &dyn Fn(&mut shaderprop::checkpoint::Checkpoint)| -> Vec<u8> {
        let mut c = ck.clone();
        f(&mut c);
        shaderprop::checkpoint::save(&ck_path, &c).unwrap();
        std::fs::read(&ck_path).unwrap()
    };
    let other_kind = respec(&|c| c.config.kind = shaderprop::models::ModelKind::Vae);
    let other_shape = respec(&|c| c.config.latent = 16);
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            &["model.safetensors", "truncated"],
        ),
        (
            "not safetensors",
            b"PK\x03\x04 a zip file".to_vec(),
            &["model.safetensors", "not a safetensors"],
        ),
        (
            "newer format",
            newer.to_vec(),
            &["format 99", "upgrade shaderprop"],
        ),
        ("another kind", other_kind, &["no tensor", "mu"]),
        (
            "another shape",
            other_shape,
            &["encoder.0.weight", "[784, 32]", "[784, 16]"],
        ),
    ];
    for (case, bytes, says) in cases {
        std::fs::write(&ck_path, &bytes).unwrap();
        let (ok, _, stderr) = apply("encode", run_dir.to_str().unwrap(), &[]);
        assert!(!ok, "{case}: must fail");
        for s in says {
            assert!(
                stderr.contains(s),
                "{case}: the error must say {s}: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(
            !run_dir.join("latents.csv").exists(),
            "{case}: wrote output"
        );
    }

    // Image folders of mixed sizes, CSV files that are ragged, hold NaN, or hold no rows,
    // and an adapter index that does not exist: each refused before anything is written.
    let mixed = root.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    for (i, side) in [28u32, 28, 30].iter().enumerate() {
        image::GrayImage::new(*side, *side)
            .save(mixed.join(format!("{i}.png")))
            .unwrap();
    }
    let write = |name: &str, text: &str| {
        let p = root.join(name);
        std::fs::write(&p, text).unwrap();
        format!("csv:{}", p.display())
    };
    let images = format!("images:{}", mixed.display());
    let ragged = write("ragged.csv", "1,2,3\n4,5\n");
    let nan = write("nan.csv", "a,b\n1,NaN\n");
    let empty = write("empty.csv", "a,b\n");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--dataset", &images],
            vec!["2.png", "30×30", "--image-size"],
        ),
        (
            vec!["--dataset", &ragged],
            vec!["ragged.csv", "line 2 has 2 fields"],
        ),
        (
            vec!["--dataset", &nan],
            vec!["nan.csv", "line 2, column 2", "not finite"],
        ),
        (vec!["--dataset", &empty], vec!["empty.csv", "no data rows"]),
        (vec!["--adapter", "99"], vec!["adapter", "99"]),
    ];
    for (flags, says) in cases {
        let out = root.join("never");
        let mut args = vec![
            "train",
            "--backend",
            "vulkan",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(&flags);
        let (ok, _, stderr) = run(&args);
        assert!(!ok, "{flags:?}: must fail");
        for s in &says {
            assert!(
                stderr.contains(s),
                "{flags:?}: the error must say {s}: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
        assert!(!out.exists(), "{flags:?}: created the run folder");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bench_train_reports_first_step_epoch_time_memory_and_host_cost() {
    let json = std::env::temp_dir().join(format!(
        "shaderprop-bench-train-{}.json",
        std::process::id()
    ));
    let (ok, stdout, stderr) = run(&[
        "bench",
        "train",
        "--backend",
        "vulkan",
        "--batch-size",
        "512",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "bench train failed: {stderr}");
    for want in [
        "time to first step",
        "plan peak memory",
        "epoch 1",
        "samples/s",
        "encoding",
    ] {
        assert!(stdout.contains(want), "no {want}: {stdout}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "first_step_s",
        "samples_per_s",
        "encode_us_per_step",
        "submit_us_per_step",
        "wall_us_per_step",
    ] {
        let x = v[key].as_f64().unwrap_or(f64::NAN);
        assert!(x.is_finite() && x > 0.0, "{key} = {x}");
    }
    assert!(v["peak_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["samples_per_epoch"].as_u64(), Some(8704));
    let _ = std::fs::remove_file(&json);
}
