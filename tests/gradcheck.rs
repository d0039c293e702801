//! Chain of trust, first two links:
//! 1. every backward twin (CPU float64) against central finite differences of its forward twin;
//! 2. the whole vanilla model: parameter gradients computed on the GPU by the graph that
//!    autodiff wrote, against central finite differences of the CPU twin of the forward graph.

mod common;
use common::*;
use shaderprop::graph::autodiff::backward;
use shaderprop::graph::cpu::evaluate;
use shaderprop::graph::plan::{Plan, Resources};
use shaderprop::graph::{Graph, Op};
use shaderprop::models::{self, ModelConfig, ModelKind};
use shaderprop::ops::loss::LossKind;
use shaderprop::ops::matmul::{self, MatmulShape};
use shaderprop::ops::{self, compare, Act, StepUniform};
use shaderprop::rng::Rng;
use std::collections::HashMap;

fn fresh() -> Rng {
    fresh_rng()
}

fn randv(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.range(lo, hi)).collect()
}

/// Central differences of the scalar L(x) = Σ w ⊙ f(x) with respect to x.
fn numeric_grad(x: &[f64], w: &[f64], f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let h = 1e-6;
    let mut g = vec![0.0; x.len()];
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let lp: f64 = f(&xp).iter().zip(w).map(|(a, b)| a * b).sum();
        xp[i] = x[i] - h;
        let lm: f64 = f(&xp).iter().zip(w).map(|(a, b)| a * b).sum();
        xp[i] = x[i];
        g[i] = (lp - lm) / (2.0 * h);
    }
    g
}

fn assert_close(what: &str, analytic: &[f64], numeric: &[f64]) {
    let mut worst: f64 = 0.0;
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let err = (a - n).abs() / (1e-6 + a.abs().max(n.abs()));
        assert!(
            err < 1e-5 || (a - n).abs() < 1e-7,
            "{what}: index {i}: analytic {a}, finite differences {n}"
        );
        worst = worst.max(err);
    }
    eprintln!("{what}: worst relative error {worst:.2e}");
}

#[test]
fn matmul_backward_twins_match_finite_differences_for_every_transpose() {
    let mut rng = fresh();
    let (m, n, k) = (3, 5, 4);
    for ta in [false, true] {
        for tb in [false, true] {
            for act in [Act::Identity, Act::Sigmoid, Act::Tanh, Act::LeakyRelu(0.1)] {
                let s = MatmulShape {
                    m,
                    n,
                    k,
                    trans_a: ta,
                    trans_b: tb,
                };
                let a = randv(&mut rng, m * k, -1.0, 1.0);
                let b = randv(&mut rng, k * n, -1.0, 1.0);
                let bias = randv(&mut rng, n, -1.0, 1.0);
                let w = randv(&mut rng, m * n, -1.0, 1.0); // upstream gradient dC
                                                           // Backward the way autodiff writes it, with twins only.
                let c = matmul::forward_ref(&a, &b, Some(&bias), s, act);
                let d_pre = ops::activation::backward_ref(act, &c, &w);
                let (ra, ca) = if ta { (k, m) } else { (m, k) };
                let (rb, cb) = if tb { (n, k) } else { (k, n) };
                let d_a = if !ta {
                    matmul::forward_ref(
                        &d_pre,
                        &b,
                        None,
                        MatmulShape {
                            m: ra,
                            n: ca,
                            k: n,
                            trans_a: false,
                            trans_b: !tb,
                        },
                        Act::Identity,
                    )
                } else {
                    matmul::forward_ref(
                        &b,
                        &d_pre,
                        None,
                        MatmulShape {
                            m: ra,
                            n: ca,
                            k: n,
                            trans_a: tb,
                            trans_b: true,
                        },
                        Act::Identity,
                    )
                };
                let d_b = if !tb {
                    matmul::forward_ref(
                        &a,
                        &d_pre,
                        None,
                        MatmulShape {
                            m: rb,
                            n: cb,
                            k: m,
                            trans_a: !ta,
                            trans_b: false,
                        },
                        Act::Identity,
                    )
                } else {
                    matmul::forward_ref(
                        &d_pre,
                        &a,
                        None,
                        MatmulShape {
                            m: rb,
                            n: cb,
                            k: m,
                            trans_a: true,
                            trans_b: ta,
                        },
                        Act::Identity,
                    )
                };
                let d_bias = ops::reduce::column_sum_ref(&d_pre, m, n);
                let what = format!("matmul ta={ta} tb={tb} {act:?}");
                assert_close(
                    &format!("{what} dA"),
                    &d_a,
                    &numeric_grad(&a, &w, &|x| matmul::forward_ref(x, &b, Some(&bias), s, act)),
                );
                assert_close(
                    &format!("{what} dB"),
                    &d_b,
                    &numeric_grad(&b, &w, &|x| matmul::forward_ref(&a, x, Some(&bias), s, act)),
                );
                assert_close(
                    &format!("{what} dbias"),
                    &d_bias,
                    &numeric_grad(&bias, &w, &|x| matmul::forward_ref(&a, &b, Some(x), s, act)),
                );
            }
        }
    }
}

#[test]
fn activation_backward_twins_match_finite_differences_away_from_the_kink() {
    let mut rng = fresh();
    for act in [
        Act::Identity,
        Act::Relu,
        Act::LeakyRelu(0.2),
        Act::Sigmoid,
        Act::Tanh,
    ] {
        // Keep |x| > 1e-3 so the ±1e-6 probe never straddles ReLU's kink.
        let x: Vec<f64> = (0..50)
            .map(|_| {
                let v = rng.range(-4.0, 4.0);
                if v.abs() < 1e-3 {
                    0.5
                } else {
                    v
                }
            })
            .collect();
        let w = randv(&mut rng, 50, -1.0, 1.0);
        let y = ops::activation::forward_ref(act, &x);
        let analytic = ops::activation::backward_ref(act, &y, &w);
        assert_close(
            &format!("{act:?}"),
            &analytic,
            &numeric_grad(&x, &w, &|v| ops::activation::forward_ref(act, v)),
        );
    }
}

#[test]
fn loss_backward_twins_match_finite_differences_including_large_logits() {
    let mut rng = fresh();
    let (rows, cols) = (3, 7);
    let mut z = randv(&mut rng, rows * cols, -5.0, 5.0);
    z[0] = 300.0;
    z[1] = -300.0;
    z[2] = 40.0;
    let t = randv(&mut rng, rows * cols, 0.0, 1.0);
    let w = randv(&mut rng, rows, -1.0, 1.0);
    let bce = ops::loss::bce_backward_ref(&z, &t, &w, cols);
    assert_close(
        "bce_with_logits",
        &bce,
        &numeric_grad(&z, &w, &|v| ops::loss::bce_forward_ref(v, &t, rows, cols)),
    );
    for v in ops::loss::bce_forward_ref(&z, &t, rows, cols) {
        assert!(v.is_finite(), "BCE at ±300 must stay finite");
    }
    let y = randv(&mut rng, rows * cols, -1.0, 2.0);
    let mse = ops::loss::mse_backward_ref(&y, &t, &w, cols);
    assert_close(
        "mse",
        &mse,
        &numeric_grad(&y, &w, &|v| ops::loss::mse_forward_ref(v, &t, rows, cols)),
    );
}

#[test]
fn sum_all_backward_twin_matches_finite_differences() {
    let mut rng = fresh();
    let x = randv(&mut rng, 9, -1.0, 1.0);
    let w = vec![0.7];
    let analytic = ops::elementwise::broadcast_scaled_ref(w[0], 0.25, 9);
    assert_close(
        "sum_all",
        &analytic,
        &numeric_grad(&x, &w, &|v| vec![ops::reduce::sum_all_ref(v, 9, 0.25)]),
    );
}

fn tiny_model(
    kind_loss: LossKind,
) -> (
    Graph,
    usize,
    usize,
    Vec<shaderprop::graph::autodiff::ParamGrad>,
) {
    let cfg = ModelConfig {
        kind: ModelKind::Vanilla,
        input_dim: 12,
        image: [1, 3, 4],
        hidden: vec![7],
        latent: 3,
        loss: kind_loss,
        beta: 1.0,
        init: Default::default(),
        ..ModelConfig::dense_reference()
    };
    let batch = 5;
    let mut g = Graph::new();
    let x = g.input("x", &[batch, cfg.input_dim]);
    let built = models::build(&mut g, &cfg, x, false);
    let loss = g.sum_all(
        "loss",
        built.per_sample,
        1.0 / (batch * cfg.input_dim) as f32,
    );
    let grads = backward(&mut g, loss);
    (g, x, loss, grads)
}

fn feeds_for(g: &Graph, x: usize, rng: &mut Rng) -> HashMap<usize, Vec<f64>> {
    let mut feeds = HashMap::new();
    feeds.insert(x, randv(rng, g.nodes[x].len(), 0.0, 1.0));
    for p in g.params() {
        feeds.insert(p, randv(rng, g.nodes[p].len(), -0.8, 0.8));
    }
    feeds
}

#[test]
fn autodiff_graph_on_cpu_twins_matches_finite_differences_of_the_vanilla_model() {
    let mut rng = fresh();
    for loss_kind in [LossKind::Bce, LossKind::Mse] {
        let (g, x, loss, grads) = tiny_model(loss_kind);
        let feeds = feeds_for(&g, x, &mut rng);
        let step = StepUniform {
            step: 1,
            batch_offset: 0,
            seed: 0,
            valid_rows: 5,
        };
        let vals = evaluate(&g, &feeds, step);
        for pg in &grads {
            let p = pg.param;
            let numeric = numeric_grad(&feeds[&p], &[1.0], &|v| {
                let mut f = feeds.clone();
                f.insert(p, v.to_vec());
                vec![evaluate(&g, &f, step)[loss][0]]
            });
            assert_close(
                &format!("{loss_kind:?} {}", g.nodes[p].name),
                &vals[pg.grad],
                &numeric,
            );
        }
    }
}

#[test]
fn vanilla_model_gpu_gradients_match_finite_differences_of_the_cpu_twin_model() {
    let mut rng = fresh();
    for gpu in gpus() {
        for loss_kind in [LossKind::Bce, LossKind::Mse] {
            let (g, x, loss, grads) = tiny_model(loss_kind);
            assert_eq!(
                grads.len(),
                g.params().len(),
                "every parameter gets a gradient"
            );
            let feeds = feeds_for(&g, x, &mut rng);
            let step = StepUniform {
                step: 1,
                batch_offset: 0,
                seed: 0,
                valid_rows: 5,
            };
            let keep: Vec<usize> = grads.iter().map(|pg| pg.grad).collect();
            let mut res = Resources::new();
            let plan = Plan::compile(&g, &gpu, &mut res, &keep).unwrap();
            for (id, v) in &feeds {
                let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
                plan.write_f32(&gpu, *id, &f);
            }
            plan.run(&gpu, step);
            for pg in &grads {
                let p = pg.param;
                let got = plan.read(&gpu, &g, pg.grad).unwrap();
                let numeric = numeric_grad(&feeds[&p], &[1.0], &|v| {
                    let mut f = feeds.clone();
                    f.insert(p, v.to_vec());
                    vec![evaluate(&g, &f, step)[loss][0]]
                });
                // f32 on the GPU against float64 differences: relative 1e-3 of the tensor's scale.
                let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let e = compare(&got, &numeric, 1e-3 * scale + 1e-7, 1e-3).unwrap_or_else(|e| {
                    panic!(
                        "{} {loss_kind:?} {}: {e}",
                        gpu.info.backend, g.nodes[p].name
                    )
                });
                eprintln!(
                    "{} {loss_kind:?} {}: worst relative error {e:.2e}",
                    gpu.info.backend, g.nodes[p].name
                );
            }
            // The graph contains no op autodiff could not differentiate.
            assert!(g.nodes.iter().all(|n| !matches!(n.op, Op::Update(_))));
        }
    }
}
