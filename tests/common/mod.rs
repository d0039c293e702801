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
    let mut res = Resources::new();
    let plan = Plan::compile(g, gpu, &mut res, outs).expect("compile");
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
