//! Shared test helpers: the devices every GPU test runs on, and a one-op graph runner.
#![allow(dead_code)]

use shaderprop::gpu::{BackendChoice, Gpu};
use shaderprop::graph::plan::{Plan, Resources};
use shaderprop::graph::{Graph, NodeId};
use shaderprop::ops::StepUniform;

/// The backends GPU tests run on: `$SHADERPROP_TEST_BACKENDS` (comma-separated), default
/// "vulkan,gl" — lavapipe and llvmpipe in CI. A backend with no adapter FAILS the test: CI
/// always has both, so nothing may skip.
pub fn backends() -> Vec<BackendChoice> {
    let list = std::env::var("SHADERPROP_TEST_BACKENDS").unwrap_or_else(|_| "vulkan,gl".into());
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .expect("SHADERPROP_TEST_BACKENDS holds an unknown backend")
        })
        .collect()
}

/// One context per test backend, or a panic naming what is missing.
pub fn gpus() -> Vec<Gpu> {
    backends()
        .into_iter()
        .map(|b| match Gpu::new(b, None) {
            Ok(g) => g,
            Err(e) => panic!("GPU tests need an adapter for backend {b}: {e}"),
        })
        .collect()
}

/// The first test backend only (for the heavier tests).
pub fn gpu() -> Gpu {
    gpus()
        .into_iter()
        .next()
        .expect("at least one test backend")
}

/// Compiles `g`, feeds the f32 leaves, runs one step and reads `outs`.
pub fn run(
    gpu: &Gpu,
    g: &Graph,
    feeds: &[(NodeId, Vec<f32>)],
    outs: &[NodeId],
    step: StepUniform,
) -> Vec<Vec<f32>> {
    run_with(gpu, g, feeds, outs, step, Default::default())
}

/// [`run`] with the kernels chosen by `opts` (e.g. a reference variant).
#[allow(dead_code)]
pub fn run_with(
    gpu: &Gpu,
    g: &Graph,
    feeds: &[(NodeId, Vec<f32>)],
    outs: &[NodeId],
    step: StepUniform,
    opts: shaderprop::graph::plan::CompileOptions,
) -> Vec<Vec<f32>> {
    let mut res = Resources::new();
    let plan = Plan::compile_with(g, gpu, &mut res, outs, opts).expect("compile");
    for (id, v) in feeds {
        plan.write_f32(gpu, *id, v);
    }
    plan.run(gpu, step);
    outs.iter()
        .map(|&o| plan.read(gpu, g, o).expect("read"))
        .collect()
}

/// f32 → f64.
pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A step uniform with every row valid.
pub fn step(valid_rows: u32) -> StepUniform {
    StepUniform {
        step: 1,
        batch_offset: 0,
        seed: 1,
        valid_rows,
    }
}

/// A generator with a fresh seed, printed so a failure can be replayed.
pub fn fresh_rng() -> shaderprop::rng::Rng {
    // SHADERPROP_TEST_SEED=S replays a failure's inputs (every test prints its seed).
    if let Some(seed) = std::env::var("SHADERPROP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!("random seed {seed} (from SHADERPROP_TEST_SEED)");
        return shaderprop::rng::Rng::new(seed);
    }
    let (rng, seed) = shaderprop::rng::Rng::fresh();
    eprintln!("random seed {seed}");
    rng
}

/// `n` uniform draws from [lo, hi).
pub fn randv(rng: &mut shaderprop::rng::Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.range(lo, hi)).collect()
}

/// f64 → f32.
pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Central differences, step `h`, of L(v) = Σ r ⊙ f(v) with respect to v.
pub fn central_diff(v: &[f64], r: &[f64], h: f64, f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    let mut p = v.to_vec();
    for i in 0..v.len() {
        p[i] = v[i] + h;
        let lp: f64 = f(&p).iter().zip(r).map(|(a, b)| a * b).sum();
        p[i] = v[i] - h;
        let lm: f64 = f(&p).iter().zip(r).map(|(a, b)| a * b).sum();
        p[i] = v[i];
        out[i] = (lp - lm) / (2.0 * h);
    }
    out
}

/// Runs one step of `g` (with its backward) on `gpu` and checks every parameter gradient in
/// `grads` against central differences of the scalar `loss` evaluated by the float64 twins:
/// |got − fd| ≤ rtol·(max |fd| of the tensor) + atol + rtol·|fd|.
#[allow(clippy::too_many_arguments)]
pub fn check_gpu_grads_against_fd(
    gpu: &Gpu,
    g: &Graph,
    feeds: &std::collections::HashMap<usize, Vec<f64>>,
    grads: &[shaderprop::graph::autodiff::ParamGrad],
    loss: NodeId,
    step: StepUniform,
    rtol: f64,
    atol: f64,
) {
    use shaderprop::graph::cpu::evaluate;
    let keep: Vec<usize> = grads.iter().map(|pg| pg.grad).collect();
    let mut res = Resources::new();
    let plan = Plan::compile(g, gpu, &mut res, &keep).expect("compile");
    for (id, v) in feeds {
        plan.write_f32(gpu, *id, &f32s(v));
    }
    plan.run(gpu, step);
    for pg in grads {
        let p = pg.param;
        let got = plan.read(gpu, g, pg.grad).expect("read");
        let numeric = central_diff(&feeds[&p], &[1.0], 1e-6, &|v| {
            let mut f = feeds.clone();
            f.insert(p, v.to_vec());
            vec![evaluate(g, &f, step)[loss][0]]
        });
        let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let e = shaderprop::ops::compare(&got, &numeric, rtol * scale + atol, rtol)
            .unwrap_or_else(|e| panic!("{} {}: {e}", gpu.info.backend, g.nodes[p].name));
        eprintln!(
            "{} {}: worst relative error {e:.2e}",
            gpu.info.backend, g.nodes[p].name
        );
    }
}

/// Feeds for a model check: `x` uniform in [0, 1), every parameter uniform in ±0.8.
pub fn random_feeds(
    g: &Graph,
    x: NodeId,
    rng: &mut shaderprop::rng::Rng,
) -> std::collections::HashMap<usize, Vec<f64>> {
    let mut feeds = std::collections::HashMap::new();
    feeds.insert(x, randv(rng, g.nodes[x].len(), 0.0, 1.0));
    for p in g.params() {
        feeds.insert(p, randv(rng, g.nodes[p].len(), -0.8, 0.8));
    }
    feeds
}
