//! The VAE's kernels against their twins (log σ² at ±20, μ at ±50: no NaN, no inf), the twins
//! against finite differences, and a tiny VAE's GPU gradients against finite differences of
//! its CPU twin graph (ε included: the twin draws the same Philox numbers).

mod common;
use common::*;
use shaderprop::graph::autodiff::backward;
use shaderprop::graph::cpu::evaluate;
use shaderprop::graph::plan::{Plan, Resources};
use shaderprop::graph::{DType, Graph, Op};
use shaderprop::models::{self, ModelConfig, ModelKind};
use shaderprop::ops::loss::LossKind;
use shaderprop::ops::{compare, vae, StepUniform};
use shaderprop::rng::Rng;
use std::collections::HashMap;

fn fresh() -> Rng {
    let (rng, seed) = Rng::fresh();
    eprintln!("random seed {seed}");
    rng
}

fn randv(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.range(lo, hi)).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[test]
fn reparameterisation_and_kl_kernels_match_twins_at_extremes() {
    let mut rng = fresh();
    for gpu in gpus() {
        for &(rows, cols) in &[(1, 1), (1, 20), (7, 13), (128, 20)] {
            let n = rows * cols;
            let mut mu = randv(&mut rng, n, -3.0, 3.0);
            let mut lv = randv(&mut rng, n, -4.0, 4.0);
            if n >= 4 {
                mu[0] = 50.0;
                mu[1] = -50.0;
                lv[2] = 20.0;
                lv[3] = -20.0;
            }
            let eps = randv(&mut rng, n, -3.0, 3.0);
            let d_z = randv(&mut rng, n, -1.0, 1.0);
            let d_kl = randv(&mut rng, rows, -1.0, 1.0);
            let mut g = Graph::new();
            let mun = g.input("mu", &[rows, cols]);
            let lvn = g.input("logvar", &[rows, cols]);
            let en = g.input("eps", &[rows, cols]);
            let dzn = g.input("d_z", &[rows, cols]);
            let dkn = g.input("d_kl", &[rows]);
            let z = g.push(
                "z",
                Op::Reparameterize,
                vec![mun, lvn, en],
                vec![rows, cols],
                DType::F32,
            );
            let dlv = g.push(
                "d_lv",
                Op::ReparameterizeBackwardLogvar,
                vec![lvn, en, dzn],
                vec![rows, cols],
                DType::F32,
            );
            let kl = g.kl("kl", mun, lvn);
            let dmu = g.push(
                "d_mu",
                Op::KlBackward { of_logvar: false },
                vec![mun, dkn],
                vec![rows, cols],
                DType::F32,
            );
            let dlv2 = g.push(
                "d_lv2",
                Op::KlBackward { of_logvar: true },
                vec![lvn, dkn],
                vec![rows, cols],
                DType::F32,
            );
            let feeds = [
                (mun, f32s(&mu)),
                (lvn, f32s(&lv)),
                (en, f32s(&eps)),
                (dzn, f32s(&d_z)),
                (dkn, f32s(&d_kl)),
            ];
            let out = run(
                &gpu,
                &g,
                &feeds,
                &[z, dlv, kl, dmu, dlv2],
                step(rows as u32),
            );
            for (k, o) in out.iter().enumerate() {
                assert!(
                    o.iter().all(|v| v.is_finite()),
                    "output {k} not finite at the extremes"
                );
            }
            let (mu32, lv32, e32) = (f64s(&f32s(&mu)), f64s(&f32s(&lv)), f64s(&f32s(&eps)));
            let tol = |what: &str, got: &[f32], want: &[f64]| {
                compare(got, want, 1e-5, 2e-5)
                    .unwrap_or_else(|e| panic!("{} {what} {rows}x{cols}: {e}", gpu.info.backend))
            };
            tol(
                "reparameterize",
                &out[0],
                &vae::reparameterize_ref(&mu32, &lv32, &e32),
            );
            tol(
                "reparameterize backward",
                &out[1],
                &vae::reparameterize_backward_logvar_ref(&lv32, &e32, &f64s(&f32s(&d_z))),
            );
            tol("kl", &out[2], &vae::kl_ref(&mu32, &lv32, rows, cols));
            tol(
                "kl backward mu",
                &out[3],
                &vae::kl_backward_mu_ref(&mu32, &f64s(&f32s(&d_kl)), cols),
            );
            tol(
                "kl backward logvar",
                &out[4],
                &vae::kl_backward_logvar_ref(&lv32, &f64s(&f32s(&d_kl)), cols),
            );
        }
    }
}

/// Central differences with step h_rel·max(1, |x|).
fn numeric_grad_h(x: &[f64], w: &[f64], h_rel: f64, f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = h_rel * x[i].abs().max(1.0);
            xp[i] = x[i] + h;
            let fp = f(&xp);
            xp[i] = x[i] - h;
            let fm = f(&xp);
            xp[i] = x[i];
            // Difference each output before weighting, so a huge unrelated output
            // (exp(20) in another row) cannot swamp this one in rounding.
            fp.iter()
                .zip(&fm)
                .zip(w)
                .map(|((p, m), w)| w * (p - m) / (2.0 * h))
                .sum::<f64>()
        })
        .collect()
}

fn numeric_grad(x: &[f64], w: &[f64], f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    numeric_grad_h(x, w, 1e-6, f)
}

fn close(what: &str, a: &[f64], n: &[f64]) {
    for (i, (x, y)) in a.iter().zip(n).enumerate() {
        let rel = (x - y).abs() / (1e-6 + x.abs().max(y.abs()));
        assert!(
            rel < 1e-5 || (x - y).abs() < 1e-6,
            "{what} index {i}: analytic {x}, finite differences {y} (all analytic {a:?}, numeric {n:?})"
        );
    }
}

#[test]
fn reparameterisation_and_kl_twins_match_finite_differences_including_extremes() {
    let mut rng = fresh();
    // Moderate values, several per row; then the extremes one per row (a row holding
    // exp(20) ≈ 5e8 would drown a finite difference of its neighbours in rounding).
    let moderate = (
        3,
        4,
        randv(&mut rng, 12, -2.0, 2.0),
        randv(&mut rng, 12, -3.0, 3.0),
    );
    let extremes = (
        4,
        1,
        vec![50.0, -50.0, 0.3, -0.7],
        vec![0.2, -0.4, 20.0, -20.0],
    );
    for (rows, cols, mu, lv) in [moderate, extremes] {
        let eps = randv(&mut rng, rows * cols, -2.0, 2.0);
        let w = randv(&mut rng, rows * cols, -1.0, 1.0);
        let wk = randv(&mut rng, rows, -1.0, 1.0);
        close(
            "dz/dlogvar",
            &vae::reparameterize_backward_logvar_ref(&lv, &eps, &w),
            &numeric_grad(&lv, &w, &|v| vae::reparameterize_ref(&mu, v, &eps)),
        );
        close(
            "dz/dmu",
            &w,
            &numeric_grad(&mu, &w, &|v| vae::reparameterize_ref(v, &lv, &eps)),
        );
        // KL is exactly quadratic in μ: a large step is exact and clears the rounding of
        // exp(20) in the same row.
        close(
            "dKL/dmu",
            &vae::kl_backward_mu_ref(&mu, &wk, cols),
            &numeric_grad_h(&mu, &wk, 1e-2, &|v| vae::kl_ref(v, &lv, rows, cols)),
        );
        close(
            "dKL/dlogvar",
            &vae::kl_backward_logvar_ref(&lv, &wk, cols),
            &numeric_grad(&lv, &wk, &|v| vae::kl_ref(&mu, v, rows, cols)),
        );
    }
}

#[test]
fn tiny_vae_gpu_gradients_match_finite_differences_of_the_cpu_twin() {
    let mut rng = fresh();
    let gpu = gpu();
    let cfg = ModelConfig {
        kind: ModelKind::Vae,
        input_dim: 10,
        image: [1, 2, 5],
        hidden: vec![6],
        latent: 3,
        loss: LossKind::Bce,
        beta: 0.7,
        init: shaderprop::nn::InitScheme::Torch,
        ..ModelConfig::dense_reference()
    };
    let batch = 4;
    let mut g = Graph::new();
    let x = g.input("x", &[batch, cfg.input_dim]);
    let built = models::build(&mut g, &cfg, x, false);
    let loss = g.sum_all("loss", built.per_sample, 1.0 / batch as f32);
    let grads = backward(&mut g, loss);
    assert_eq!(grads.len(), g.params().len());
    let mut feeds: HashMap<usize, Vec<f64>> = HashMap::new();
    // Values that are exact in f32, so GPU and twin see the same inputs.
    feeds.insert(
        x,
        f64s(&f32s(&randv(&mut rng, batch * cfg.input_dim, 0.0, 1.0))),
    );
    for p in g.params() {
        feeds.insert(
            p,
            f64s(&f32s(&randv(&mut rng, g.nodes[p].len(), -0.6, 0.6))),
        );
    }
    let step = StepUniform {
        step: 3,
        batch_offset: 0,
        seed: 11,
        valid_rows: batch as u32,
    };
    let keep: Vec<usize> = grads.iter().map(|p| p.grad).collect();
    let mut res = Resources::new();
    let plan = Plan::compile(&g, &gpu, &mut res, &keep).unwrap();
    for (id, v) in &feeds {
        plan.write_f32(&gpu, *id, &f32s(v));
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
        let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let e = compare(&got, &numeric, 1e-3 * scale + 1e-6, 2e-3)
            .unwrap_or_else(|e| panic!("{}: {e}", g.nodes[p].name));
        eprintln!("{}: worst relative error {e:.2e}", g.nodes[p].name);
    }
}
