//! Device limits are respected, never silently exceeded: dispatches past the per-dimension
//! workgroup limit are laid out in 2-D, and tensors or grids that cannot fit are refused
//! with a clear error before anything runs. The limits are forced small on lavapipe.

mod common;
use common::*;
use shaderprop::gpu::{BackendChoice, Gpu};
use shaderprop::graph::plan::{Plan, Resources};
use shaderprop::graph::{DType, Graph, Op};
use shaderprop::ops::{compare, elementwise, Act};

fn small_gpu(workgroups: u32, binding: u64) -> Gpu {
    Gpu::new_with_limits(BackendChoice::Vulkan, None, |mut l| {
        l.max_compute_workgroups_per_dimension = workgroups;
        l.max_storage_buffer_binding_size = binding;
        l
    })
    .expect("lavapipe accepts lower limits")
}

#[test]
fn elementwise_dispatches_past_the_workgroup_limit_are_split_into_2d_and_stay_exact() {
    let gpu = small_gpu(16, 1 << 27);
    let n = 5_000; // 20 workgroups of 256 > 16: laid out as a 2-D grid
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
    let mut g = Graph::new();
    let an = g.input("a", &[n]);
    let bn = g.input("b", &[n]);
    let sum = g.push("sum", Op::Add, vec![an, bn], vec![n], DType::F32);
    let mut res = Resources::new();
    let plan = Plan::compile(&g, &gpu, &mut res, &[sum]).unwrap();
    assert!(
        plan.dispatches[0].workgroups[1] > 1,
        "expected a 2-D grid, got {:?}",
        plan.dispatches[0].workgroups
    );
    plan.write_f32(&gpu, an, &a);
    plan.write_f32(&gpu, bn, &b);
    plan.run(&gpu, step(1));
    let got = plan.read(&gpu, &g, sum).unwrap();
    let want = elementwise::add_ref(&f64s(&a), &f64s(&b));
    compare(&got, &want, 0.0, 1e-7).unwrap();
}

#[test]
fn a_grid_that_cannot_fit_is_refused_with_a_hint_before_running() {
    let gpu = small_gpu(16, 1 << 27);
    let mut g = Graph::new();
    // 16·16·256 = 65,536 invocations is the most this device can address in 2-D (an odd
    // count keeps the activation on its one-element-per-invocation variant).
    let x = g.input("big", &[70_001]);
    g.activation("y", x, Act::Relu);
    let err = Plan::compile(&g, &gpu, &mut Resources::new(), &[])
        .err()
        .expect("must be refused")
        .to_string();
    assert!(err.contains("70001") && err.contains("workgroups"), "{err}");
    // A matmul whose rows need more workgroups than allowed names the node and the fix.
    let mut g = Graph::new();
    let a = g.input("a", &[4096, 4]);
    let w = g.input("w", &[4, 4]);
    g.matmul("tall", a, w, None, false, false, Act::Identity);
    let err = Plan::compile(&g, &gpu, &mut Resources::new(), &[])
        .err()
        .expect("must be refused")
        .to_string();
    assert!(
        err.contains("tall") && err.contains("--batch-size"),
        "{err}"
    );
}

#[test]
fn a_tensor_larger_than_the_binding_limit_is_refused_by_name() {
    let gpu = small_gpu(65_535, 4096);
    let mut g = Graph::new();
    let x = g.input("activations", &[64, 32]); // 8 KiB > 4 KiB
    g.activation("y", x, Act::Relu);
    let err = Plan::compile(&g, &gpu, &mut Resources::new(), &[])
        .err()
        .expect("must be refused")
        .to_string();
    assert!(err.contains("8192 bytes") && err.contains("4096"), "{err}");
}
