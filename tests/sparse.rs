//! The sparse autoencoder's penalties: kernels against their float64 twins (including codes
//! whose batch mean sits near 0 and near 1), the twins' gradients against central finite
//! differences, and the whole sparse model's GPU gradients against finite differences of its
//! CPU twin, for both penalties.

mod common;
use common::*;
use shaderprop::graph::autodiff::backward;

use shaderprop::graph::{DType, Graph, Op};
use shaderprop::models::{self, ModelConfig, ModelKind};
use shaderprop::ops::compare;
use shaderprop::ops::sparsity::{self, Sparsity};
use shaderprop::rng::Rng;

fn fresh() -> Rng {
    fresh_rng()
}

fn numeric_grad(v: &[f64], r: &[f64], h: f64, f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    central_diff(v, r, h, f)
}

fn assert_close(what: &str, analytic: &[f64], numeric: &[f64], rtol: f64) {
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!(
            (a - n).abs() <= 1e-7 + rtol * a.abs().max(n.abs()),
            "{what}: index {i}: analytic {a}, finite differences {n}"
        );
    }
}

#[test]
fn sparsity_kernels_match_twins_on_fresh_inputs_and_extreme_means() {
    let mut rng = fresh();
    for gpu in gpus() {
        // (rows, cols, valid rows, code range): ordinary, batch of one, padded rows, means
        // near 0 and near 1.
        let cases = [
            (37, 13, 37, -2.0, 2.0),
            (1, 5, 1, 0.0, 1.0),
            (16, 32, 11, 0.0, 1.0),
            (8, 6, 8, 1e-5, 3e-4),
            (8, 6, 8, 1.0 - 3e-4, 1.0 - 1e-5),
        ];
        for (rows, cols, valid, lo, hi) in cases {
            let z = randv(&mut rng, rows * cols, lo, hi);
            let d_p = randv(&mut rng, rows, -1.0, 1.0);
            let d_rho = randv(&mut rng, cols, -1.0, 1.0);
            let d_pen = vec![0.7];
            let (scale, rho, beta) = (0.3f32, 0.05f32, 3.0f32);
            let mut g = Graph::new();
            let zn = g.input("z", &[rows, cols]);
            let dpn = g.input("d_p", &[rows]);
            let drn = g.input("d_rho", &[cols]);
            let dkn = g.input("d_pen", &[1]);
            let mut node =
                |name: &str, op, inputs, shape| g.push(name, op, inputs, shape, DType::F32);
            let l1 = node("l1", Op::L1Penalty { scale }, vec![zn], vec![rows]);
            let l1b = node(
                "l1b",
                Op::L1PenaltyBackward { scale },
                vec![zn, dpn],
                vec![rows, cols],
            );
            let nz = node("nz", Op::NearZero, vec![zn], vec![rows]);
            let mean = node("mean", Op::CodeMean, vec![zn], vec![cols]);
            let meanb = node("meanb", Op::CodeMeanBackward, vec![drn], vec![rows, cols]);
            let kl = node("kl", Op::KlSparsity { rho, beta }, vec![mean], vec![1]);
            let klb = node(
                "klb",
                Op::KlSparsityBackward { rho, beta },
                vec![mean, dkn],
                vec![cols],
            );
            let outs = run(
                &gpu,
                &g,
                &[
                    (zn, f32s(&z)),
                    (dpn, f32s(&d_p)),
                    (drn, f32s(&d_rho)),
                    (dkn, f32s(&d_pen)),
                ],
                &[l1, l1b, nz, mean, meanb, kl, klb],
                step(valid as u32),
            );
            let want_mean = sparsity::code_mean_ref(&z, rows, cols, valid);
            // The KL twins take the GPU's ρ̂ so that f32 rounding of ρ̂ near 0 is not blamed on them.
            let gpu_mean = f64s(&outs[3]);
            let want = [
                sparsity::l1_ref(&z, cols, scale as f64),
                sparsity::l1_backward_ref(&z, &d_p, cols, scale as f64),
                sparsity::near_zero_ref(&z, cols, sparsity::NEAR_ZERO as f64),
                want_mean,
                sparsity::code_mean_backward_ref(&d_rho, rows, valid),
                vec![sparsity::kl_ref(&gpu_mean, rho as f64, beta as f64)],
                sparsity::kl_backward_ref(&gpu_mean, 0.7, rho as f64, beta as f64),
            ];
            for (k, (got, want)) in outs.iter().zip(&want).enumerate() {
                let e = compare(got, want, 1e-5, 1e-4).unwrap_or_else(|e| {
                    panic!(
                        "{} output {k} ({rows}×{cols}, [{lo}, {hi}]): {e}",
                        gpu.info.backend
                    )
                });
                assert!(got.iter().all(|v| v.is_finite()));
                eprintln!("{} output {k}: worst {e:.2e}", gpu.info.backend);
            }
        }
    }
}

#[test]
fn sparsity_twins_match_finite_differences_near_0_and_1() {
    let mut rng = fresh();
    let (rows, cols) = (6, 5);
    // L1 away from the kink at 0.
    let z: Vec<f64> = randv(&mut rng, rows * cols, 0.1, 2.0)
        .into_iter()
        .enumerate()
        .map(|(i, v)| if i % 3 == 0 { -v } else { v })
        .collect();
    let r = randv(&mut rng, rows, -1.0, 1.0);
    assert_close(
        "l1",
        &sparsity::l1_backward_ref(&z, &r, cols, 0.4),
        &numeric_grad(&z, &r, 1e-6, &|v| sparsity::l1_ref(v, cols, 0.4)),
        1e-6,
    );
    // The batch mean over 4 valid rows of 6.
    let rc = randv(&mut rng, cols, -1.0, 1.0);
    assert_close(
        "code_mean",
        &sparsity::code_mean_backward_ref(&rc, rows, 4),
        &numeric_grad(&z, &rc, 1e-6, &|v| {
            sparsity::code_mean_ref(v, rows, cols, 4)
        }),
        1e-6,
    );
    // KL(ρ‖ρ̂) with ρ̂ near 0, ordinary, and near 1.
    for (lo, hi) in [(1e-4, 5e-4), (0.02, 0.9), (1.0 - 5e-4, 1.0 - 1e-4)] {
        let q = randv(&mut rng, cols, lo, hi);
        // The step: 1e-4 of the range's distance from 0 or 1. Central differences err by
        // ~h²·f‴/6 (f‴ ≈ 2βρ/ρ̂³ near 0); at 1e-3 that reached 1.6e-7 for a ρ̂ of ~0.05, where
        // the gradient (~3e-3) leaves little room (seed 1796683459547703986).
        let h = 1e-4 * lo.min(1.0 - hi);
        assert_close(
            &format!("kl sparsity, ρ̂ in [{lo}, {hi}]"),
            &sparsity::kl_backward_ref(&q, 1.0, 0.05, 3.0),
            &numeric_grad(&q, &[1.0], h, &|v| vec![sparsity::kl_ref(v, 0.05, 3.0)]),
            1e-5,
        );
    }
}

fn tiny_sparse(s: Sparsity) -> ModelConfig {
    ModelConfig {
        kind: ModelKind::Sparse,
        input_dim: 12,
        image: [1, 3, 4],
        hidden: vec![7],
        latent: 4,
        sparsity: Some(s),
        ..ModelConfig::dense_reference()
    }
}

#[test]
fn sparse_model_gpu_gradients_match_finite_differences_for_both_penalties() {
    let mut rng = fresh();
    let batch = 5;
    for s in [
        Sparsity::L1(0.05),
        Sparsity::Kl {
            rho: 0.05,
            beta: 3.0,
        },
    ] {
        let cfg = tiny_sparse(s);
        let mut g = Graph::new();
        let x = g.input("x", &[batch, cfg.input_dim]);
        let built = models::build(&mut g, &cfg, x, false);
        let loss =
            shaderprop::train::training_loss(&mut g, &built, 1.0 / (batch * cfg.input_dim) as f32);
        let grads = backward(&mut g, loss);
        assert_eq!(grads.len(), g.params().len());
        let feeds = random_feeds(&g, x, &mut rng);
        let st = step(batch as u32);
        for gpu in gpus() {
            check_gpu_grads_against_fd(&gpu, &g, &feeds, &grads, loss, st, 2e-3, 1e-7);
        }
    }
}
