//! Every kernel against its CPU float64 twin, on fresh random inputs, on every test backend
//! (Vulkan/lavapipe and GL/llvmpipe in CI). Each prints its worst relative error.

mod common;
use common::*;
use shaderprop::graph::{DType, Graph, Op};
use shaderprop::ops::loss::LossKind;
use shaderprop::ops::matmul::{self, MatmulShape, Variant};
use shaderprop::ops::{self, compare, Act, StepUniform};
use shaderprop::rng::Rng;

const ACTS: [Act; 5] = [
    Act::Identity,
    Act::Relu,
    Act::LeakyRelu(0.1),
    Act::Sigmoid,
    Act::Tanh,
];

fn fresh() -> Rng {
    fresh_rng()
}

#[test]
fn matmul_matches_twin_for_every_transpose_bias_activation_and_odd_shape() {
    let mut rng = fresh();
    // (m, n, k): a single element, a batch of one, sizes that are not multiples of the tile.
    let shapes = [
        (1, 1, 1),
        (1, 7, 13),
        (37, 29, 71),
        (65, 130, 3),
        (3, 64, 200),
        (4, 4, 4),
        (12, 20, 36),
        (36, 44, 8),
        // 600 texels of A: two whole 256-texel rows and a partial one for the texture variant.
        (40, 36, 60),
        // The subgroup kernel's workgroup shapes (`matmul::sg_cols`): 8 block rows of 8
        // columns, the second workgroup row and the last column partial; 2 rows of 32.
        (132, 24, 16),
        (20, 200, 8),
        // `subgroup_strips` (N a multiple of 64): one row, two strips; six strips with a
        // partial block row; four strips under two workgroup rows (the second partial); six
        // strips in one workgroup 256 columns wide (columns past N clamped, not stored).
        (4, 64, 8),
        (36, 192, 12),
        (132, 128, 20),
        (4, 192, 8),
    ];
    for gpu in gpus() {
        let mut case = 0;
        for &(m, n, k) in &shapes {
            for ta in [false, true] {
                for tb in [false, true] {
                    for variant in Variant::ALL {
                        if !variant.runs_on(
                            &gpu,
                            &MatmulShape {
                                m,
                                n,
                                k,
                                trans_a: ta,
                                trans_b: tb,
                            },
                        ) {
                            continue;
                        }
                        let act = ACTS[case % ACTS.len()];
                        let has_bias = case % 2 == 0;
                        case += 1;
                        let s = MatmulShape {
                            m,
                            n,
                            k,
                            trans_a: ta,
                            trans_b: tb,
                        };
                        let a = rng.vec_f32(m * k, -1.0, 1.0);
                        let b = rng.vec_f32(k * n, -1.0, 1.0);
                        let bias = rng.vec_f32(n, -1.0, 1.0);
                        let mut g = Graph::new();
                        let an = g.input("a", &if ta { [k, m] } else { [m, k] });
                        let bn = g.input("b", &if tb { [n, k] } else { [k, n] });
                        let biasn = g.input("bias", &[n]);
                        let c = g.matmul("c", an, bn, has_bias.then_some(biasn), ta, tb, act);
                        let mut res = shaderprop::graph::plan::Resources::new();
                        let opts = shaderprop::graph::plan::CompileOptions {
                            matmul: variant,
                            ..Default::default()
                        };
                        let plan = shaderprop::graph::plan::Plan::compile_with(
                            &g,
                            &gpu,
                            &mut res,
                            &[c],
                            opts,
                        )
                        .unwrap();
                        plan.write_f32(&gpu, an, &a);
                        plan.write_f32(&gpu, bn, &b);
                        plan.write_f32(&gpu, biasn, &bias);
                        plan.run(&gpu, step(1));
                        let got = plan.read(&gpu, &g, c).unwrap();
                        let want = matmul::forward_ref(
                            &f64s(&a),
                            &f64s(&b),
                            has_bias.then_some(&f64s(&bias)[..]),
                            s,
                            act,
                        );
                        let tol = 1e-5 * (k as f64).sqrt();
                        match compare(&got, &want, tol, 1e-4) {
                            Ok(e) => eprintln!("{} matmul {s:?} {variant:?} bias={has_bias} {act:?}: max rel err {e:.2e}", gpu.info.backend),
                            Err(e) => panic!("{} matmul {s:?} {variant:?} bias={has_bias} {act:?}: {e}", gpu.info.backend),
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn activations_forward_and_backward_match_twins_at_kinks_and_extremes() {
    let mut rng = fresh();
    // 1000: the four-at-a-time variants (and the texture-read gradient with Reads::Texture);
    // 1001 and 5: the scalar ones.
    for (gpu, reads) in gpus()
        .iter()
        .flat_map(|g| ops::Reads::TUNED.map(|r| (g, r)))
    {
        for (act, n) in ACTS.iter().flat_map(|&a| [(a, 1000), (a, 1001), (a, 5)]) {
            let mut x = rng.vec_f32(n, -6.0, 6.0);
            // The kink and the extremes on purpose.
            x[0] = 0.0;
            x[1] = 300.0;
            x[2] = -300.0;
            x[3] = -0.0;
            let d_y = rng.vec_f32(n, -1.0, 1.0);
            let mut g = Graph::new();
            let xn = g.input("x", &[n]);
            let dyn_ = g.input("d_y", &[n]);
            let y = g.activation("y", xn, act);
            let dx = g.push(
                "d_x",
                Op::ActivationBackward(act),
                vec![y, dyn_],
                vec![n],
                DType::F32,
            );
            let opts = shaderprop::graph::plan::CompileOptions {
                reads,
                ..Default::default()
            };
            let out = run_with(
                gpu,
                &g,
                &[(xn, x.clone()), (dyn_, d_y.clone())],
                &[y, dx],
                step(1),
                opts,
            );
            for v in out.iter().flatten() {
                assert!(v.is_finite(), "{act:?}: non-finite output");
            }
            let want_y = ops::activation::forward_ref(act, &f64s(&x));
            // Backward is a function of the output, so compare against the twin on the GPU's y.
            let want_dx = ops::activation::backward_ref(act, &f64s(&out[0]), &f64s(&d_y));
            let ey = compare(&out[0], &want_y, 1e-6, 1e-5)
                .unwrap_or_else(|e| panic!("{act:?} forward: {e}"));
            let ed = compare(&out[1], &want_dx, 1e-6, 1e-5)
                .unwrap_or_else(|e| panic!("{act:?} {reads:?} backward: {e}"));
            if act == Act::Relu {
                assert_eq!(out[1][0], 0.0, "relu'(0) must be 0");
            }
            eprintln!(
                "{} {act:?} {reads:?} n={n}: forward {ey:.2e}, backward {ed:.2e}",
                gpu.info.backend
            );
        }
    }
}

#[test]
fn reductions_match_twins_and_sum_all_masks_invalid_rows() {
    let mut rng = fresh();
    for gpu in gpus() {
        // Each read path; rows of 300, 4 and 1,000 values take the texture form there
        // (whole texels), the others stay on storage loads.
        for reads in ops::Reads::TUNED {
            for &(rows, cols) in &[(1, 1), (1, 300), (257, 3), (100, 33), (3, 4), (7, 1000)] {
                let x = rng.vec_f32(rows * cols, -1.0, 1.0);
                let mut g = Graph::new();
                let xn = g.input("x", &[rows, cols]);
                let cs = g.push("cs", Op::ColumnSum, vec![xn], vec![cols], DType::F32);
                let rs = g.push("rs", Op::RowSum, vec![xn], vec![rows], DType::F32);
                let sa = g.sum_all("s", xn, 0.5);
                let valid = (rows as u32).div_ceil(2);
                let opts = shaderprop::graph::plan::CompileOptions {
                    reads,
                    ..Default::default()
                };
                let out = run_with(
                    &gpu,
                    &g,
                    &[(xn, x.clone())],
                    &[cs, rs, sa],
                    step(valid),
                    opts,
                );
                // Absolute tolerance grows with the terms summed: a sum of 1,000 values of
                // either sign can land near zero, where a 1e-5 bound failed one run in tens
                // on f32 rounding alone (the texture form adds in another order). 1e-6 per
                // term is still far below one value's weight (~0.5).
                let e1 = compare(
                    &out[0],
                    &ops::reduce::column_sum_ref(&f64s(&x), rows, cols),
                    1e-6 * rows.max(10) as f64,
                    1e-4,
                )
                .unwrap_or_else(|e| panic!("column_sum {rows}x{cols} {reads:?}: {e}"));
                let e2 = compare(
                    &out[1],
                    &ops::reduce::row_sum_ref(&f64s(&x), rows, cols),
                    1e-6 * cols.max(10) as f64,
                    1e-4,
                )
                .unwrap_or_else(|e| panic!("row_sum {rows}x{cols} {reads:?}: {e}"));
                let want = ops::reduce::sum_all_ref(&f64s(&x), valid as usize * cols, 0.5);
                let e3 = compare(&out[2], &[want], 1e-4, 1e-4).unwrap();
                eprintln!(
                    "{} reductions {rows}x{cols} {reads:?}: column_sum {e1:.2e}, row_sum {e2:.2e}, sum_all {e3:.2e}",
                    gpu.info.backend
                );
            }
        }
    }
}

#[test]
fn accumulate_adds_into_its_state_across_steps() {
    let gpu = gpu();
    let mut rng = fresh();
    let x = rng.vec_f32(37, 0.0, 1.0);
    let mut g = Graph::new();
    let xn = g.input("x", &[37]);
    let acc = g.state("acc", &[1]);
    g.accumulate("acc+=", acc, xn, 2.0);
    let mut res = shaderprop::graph::plan::Resources::new();
    let plan = shaderprop::graph::plan::Plan::compile(&g, &gpu, &mut res, &[]).unwrap();
    plan.write_f32(&gpu, xn, &x);
    plan.run(&gpu, step(37));
    plan.run(&gpu, step(37));
    let got = plan.read(&gpu, &g, acc).unwrap();
    let want = 2.0 * ops::reduce::sum_all_ref(&f64s(&x), 37, 2.0);
    compare(&got, &[want], 1e-4, 1e-5).unwrap();
}

#[test]
fn elementwise_kernels_match_twins() {
    let mut rng = fresh();
    for gpu in gpus() {
        let n = 70_001; // more than one row of 256-wide workgroups, not a multiple of it
        let a = rng.vec_f32(n, -1.0, 1.0);
        let b = rng.vec_f32(n, -1.0, 1.0);
        let s = rng.vec_f32(1, -2.0, 2.0);
        let mut g = Graph::new();
        let an = g.input("a", &[n]);
        let bn = g.input("b", &[n]);
        let sn = g.input("s", &[1]);
        let add = g.push("add", Op::Add, vec![an, bn], vec![n], DType::F32);
        let fill = g.push("fill", Op::Fill(-3.5), vec![], vec![n], DType::F32);
        let bc = g.push(
            "bc",
            Op::BroadcastScaled { scale: 0.25 },
            vec![sn],
            vec![n],
            DType::F32,
        );
        let out = run(
            &gpu,
            &g,
            &[(an, a.clone()), (bn, b.clone()), (sn, s.clone())],
            &[add, fill, bc],
            step(1),
        );
        compare(
            &out[0],
            &ops::elementwise::add_ref(&f64s(&a), &f64s(&b)),
            1e-7,
            1e-6,
        )
        .unwrap();
        compare(&out[1], &vec![-3.5; n], 0.0, 0.0).unwrap();
        compare(
            &out[2],
            &ops::elementwise::broadcast_scaled_ref(s[0] as f64, 0.25, n),
            1e-7,
            1e-6,
        )
        .unwrap();
    }
}

#[test]
fn losses_and_gradients_match_twins_including_logits_at_300() {
    let mut rng = fresh();
    for (gpu, reads) in gpus()
        .iter()
        .flat_map(|g| ops::Reads::TUNED.map(|r| (g, r)))
    {
        // The texture gradients walk each row in workgroups of the device's choice (0), of
        // 64 (GPUs) and of 5 (a stride that divides none of the rows).
        let walks: &[u32] = if reads == ops::Reads::Texture {
            &[0, 64, 5]
        } else {
            &[0]
        };
        for (kind, &row_wg) in [LossKind::Bce, LossKind::Mse]
            .iter()
            .flat_map(|k| walks.iter().map(move |w| (*k, w)))
        {
            // Rows of 784, 4 and 68 values: whole texels, so the texture path applies.
            for &(rows, cols) in &[(1, 1), (1, 784), (5, 67), (33, 130), (1, 4), (9, 68)] {
                let mut z = rng.vec_f32(rows * cols, -8.0, 8.0);
                let t = rng.vec_f32(rows * cols, 0.0, 1.0);
                if rows * cols > 4 {
                    z[0] = 300.0;
                    z[1] = -300.0;
                    z[2] = 0.0;
                }
                let dl = rng.vec_f32(rows, -1.0, 1.0);
                let mut g = Graph::new();
                let zn = g.input("z", &[rows, cols]);
                let tn = g.input("t", &[rows, cols]);
                let dln = g.input("d_loss", &[rows]);
                let l = g.loss("loss", kind, zn, tn);
                let dz = g.push(
                    "d_z",
                    Op::LossBackward(kind),
                    vec![zn, tn, dln],
                    vec![rows, cols],
                    DType::F32,
                );
                let opts = shaderprop::graph::plan::CompileOptions {
                    reads,
                    row_wg,
                    ..Default::default()
                };
                let out = run_with(
                    gpu,
                    &g,
                    &[(zn, z.clone()), (tn, t.clone()), (dln, dl.clone())],
                    &[l, dz],
                    step(rows as u32),
                    opts,
                );
                let (zf, tf, df) = (f64s(&z), f64s(&t), f64s(&dl));
                let (wl, wd) = match kind {
                    LossKind::Bce => (
                        ops::loss::bce_forward_ref(&zf, &tf, rows, cols),
                        ops::loss::bce_backward_ref(&zf, &tf, &df, cols),
                    ),
                    LossKind::Mse => (
                        ops::loss::mse_forward_ref(&zf, &tf, rows, cols),
                        ops::loss::mse_backward_ref(&zf, &tf, &df, cols),
                    ),
                };
                let e1 = compare(&out[0], &wl, 1e-3, 1e-5)
                    .unwrap_or_else(|e| panic!("{kind:?} {reads:?} forward {rows}x{cols}: {e}"));
                let e2 = compare(&out[1], &wd, 1e-6, 1e-5).unwrap_or_else(|e| {
                    panic!("{kind:?} {reads:?} walk {row_wg} backward {rows}x{cols}: {e}")
                });
                eprintln!(
                    "{} {kind:?} {reads:?} {rows}x{cols}: loss {e1:.2e}, grad {e2:.2e}",
                    gpu.info.backend
                );
            }
        }
    }
}

#[test]
fn staged_copies_are_shared_until_an_in_place_update_writes_the_tensor() {
    use shaderprop::graph::plan::{CompileOptions, Plan, Resources};
    let mut rng = fresh();
    for gpu in gpus() {
        let (rows, cols) = (3, 8);
        let n = rows * cols;
        let z0 = rng.vec_f32(n, -2.0, 2.0);
        let t = rng.vec_f32(n, 0.0, 1.0);
        let grad = rng.vec_f32(n, -1.0, 1.0);
        let mut g = Graph::new();
        let z = g.input("z", &[rows, cols]);
        let tn = g.input("t", &[rows, cols]);
        let gr = g.input("g", &[rows, cols]);
        let vel = g.input("velocity", &[rows, cols]);
        let before = g.loss("before", LossKind::Bce, z, tn);
        let sgd = ops::optimizer::Optimizer::sgd(0.5);
        g.push(
            "update",
            Op::Update(sgd),
            vec![z, gr, vel],
            vec![],
            DType::F32,
        );
        let after = g.loss("after", LossKind::Bce, z, tn);
        let opts = CompileOptions {
            reads: ops::Reads::Texture,
            ..Default::default()
        };
        let plan =
            Plan::compile_with(&g, &gpu, &mut Resources::new(), &[before, after], opts).unwrap();
        // 'before' copies z and t; the update reuses z's copy (not yet written) and copies
        // g and the velocity; 'after' must copy z again (the update wrote it), not t.
        let entries: Vec<&str> = plan.dispatches.iter().map(|d| d.call.entry).collect();
        assert_eq!(
            entries,
            [
                "bce_with_logits_forward_tex",
                "sgd_momentum_update_tex",
                "bce_with_logits_forward_tex"
            ]
        );
        let copies: Vec<usize> = plan.dispatches.iter().map(|d| d.copies.len()).collect();
        assert_eq!(copies, [2, 2, 1], "copies per dispatch");
        let shared: Vec<&[String]> = plan.dispatches.iter().map(|d| &d.shared[..]).collect();
        assert_eq!(
            shared,
            [
                &[][..],
                &["'z' (copied for 'before')".to_string()][..],
                &["'t' (copied for 'before')".to_string()][..],
            ],
            "copies reused"
        );
        plan.write_f32(&gpu, z, &z0);
        plan.write_f32(&gpu, tn, &t);
        plan.write_f32(&gpu, gr, &grad);
        plan.write_f32(&gpu, vel, &vec![0.0; n]);
        plan.run(&gpu, step(rows as u32));
        // Velocity starts at zero: u = g, z' = z − 0.5·g.
        let z1: Vec<f64> = z0
            .iter()
            .zip(&grad)
            .map(|(&z, &g)| z as f64 - 0.5 * g as f64)
            .collect();
        let tf = f64s(&t);
        let want_before = ops::loss::bce_forward_ref(&f64s(&z0), &tf, rows, cols);
        let want_after = ops::loss::bce_forward_ref(&z1, &tf, rows, cols);
        compare(
            &plan.read(&gpu, &g, before).unwrap(),
            &want_before,
            1e-5,
            1e-5,
        )
        .unwrap();
        compare(
            &plan.read(&gpu, &g, after).unwrap(),
            &want_after,
            1e-5,
            1e-5,
        )
        .unwrap();
    }
}

#[test]
fn one_adam_step_and_one_sgd_step_equal_their_twins() {
    let mut rng = fresh();
    // 1,031 parameters take the scalar storage kernels; 1,032 (whole texels) the vec4 ones,
    // or the texture path when it is asked for (each asserted below).
    for (gpu, n, reads) in gpus().iter().flat_map(|g| {
        [1031, 1032]
            .into_iter()
            .flat_map(move |n| ops::Reads::TUNED.map(|r| (g, n, r)))
    }) {
        let p0 = rng.vec_f32(n, -1.0, 1.0);
        let grad = rng.vec_f32(n, -1.0, 1.0);
        let m0 = rng.vec_f32(n, -0.1, 0.1);
        let v0 = rng.vec_f32(n, 0.0, 0.01);
        for (opt, t) in [
            (ops::optimizer::Optimizer::adam(1e-3), 1u32),
            (ops::optimizer::Optimizer::adam(1e-2), 17),
            // The edges of one_minus_pow's series: β₁ just over 0.5 (ln β₁ by the atanh
            // series at |u| = 0.29) and t·ln β₂ = −0.45 (the expm1 series near its limit).
            (
                ops::optimizer::Optimizer::Adam {
                    lr: 1e-2,
                    beta1: 0.55,
                    beta2: 0.64,
                    eps: 1e-7,
                },
                1,
            ),
            // β₁ ≤ 0.5: one_minus_pow's plain-log branch.
            (
                ops::optimizer::Optimizer::Adam {
                    lr: 1e-2,
                    beta1: 0.3,
                    beta2: 0.999,
                    eps: 1e-7,
                },
                2,
            ),
            (ops::optimizer::Optimizer::sgd(0.1), 3),
        ] {
            let mut g = Graph::new();
            let p = g.input("p", &[n]);
            let gr = g.input("g", &[n]);
            let mut inputs = vec![p, gr];
            let s0 = g.input("s0", &[n]);
            inputs.push(s0);
            let s1 = g.input("s1", &[n]);
            if opt.state_names().len() == 2 {
                inputs.push(s1);
            }
            g.push("update", Op::Update(opt), inputs, vec![], DType::F32);
            let st = StepUniform {
                step: t,
                batch_offset: 0,
                seed: 0,
                valid_rows: 1,
            };
            let opts = shaderprop::graph::plan::CompileOptions {
                reads,
                ..Default::default()
            };
            let entry = shaderprop::graph::plan::kernel_call(&g, g.nodes.len() - 1, opts).entry;
            let base = match opt {
                ops::optimizer::Optimizer::Adam { .. } => "adam_update",
                ops::optimizer::Optimizer::Sgd { .. } => "sgd_momentum_update",
            };
            let want = match (n % 4, reads) {
                (0, ops::Reads::Texture) => format!("{base}_tex"),
                (0, _) => format!("{base}_vec4"),
                _ => base.to_string(),
            };
            assert_eq!(entry, want, "{n} parameters reading {reads:?}");
            let out = run_with(
                gpu,
                &g,
                &[
                    (p, p0.clone()),
                    (gr, grad.clone()),
                    (s0, m0.clone()),
                    (s1, v0.clone()),
                ],
                &[p, s0, s1],
                st,
                opts,
            );
            let (mut pp, mut mm, mut vv) = (f64s(&p0), f64s(&m0), f64s(&v0));
            match opt {
                ops::optimizer::Optimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    ops::optimizer::adam_ref(
                        &mut pp,
                        &mut mm,
                        &mut vv,
                        &f64s(&grad),
                        t,
                        lr as f64,
                        beta1 as f64,
                        beta2 as f64,
                        eps as f64,
                    );
                    compare(&out[2], &vv, 1e-7, 1e-5).unwrap();
                }
                ops::optimizer::Optimizer::Sgd { lr, momentum } => {
                    ops::optimizer::sgd_ref(
                        &mut pp,
                        &mut mm,
                        &f64s(&grad),
                        lr as f64,
                        momentum as f64,
                    );
                }
            }
            // The parameters to 1e-6 + 1e-5 of their size. The bias corrections 1 − β^t once
            // took β^t from `pow`, which lavapipe computes from log2 β, and seed
            // 1796673367341515176 put an update of 0.067 (t = 17) 2e-6 off; the kernel's
            // one_minus_pow (optimizer.wgsl) keeps them to float precision.
            let e = (0..n)
                .map(|i| {
                    let (got, want) = (out[0][i] as f64, pp[i]);
                    let err = (got - want).abs();
                    let bound = 1e-6 + 1e-5 * want.abs();
                    assert!(
                        err <= bound,
                        "{opt:?} n={n} {reads:?} param {i}: got {got}, want {want} (|err| \
                         {err:.2e} > {bound:.2e})"
                    );
                    err / bound
                })
                .fold(0.0, f64::max);
            compare(&out[1], &mm, 1e-7, 1e-5).unwrap();
            eprintln!(
                "{} {opt:?} t={t} n={n} {reads:?}: param error {e:.2} of its bound",
                gpu.info.backend
            );
        }
    }
}

#[test]
fn gather_builds_the_batch_from_bytes_and_shuffled_indices() {
    let mut rng = fresh();
    // 13-byte samples straddle u32 words (one value per invocation); 12, 4 and 100 take the
    // four-per-invocation form, with batches of 7 and of one, walking each row in workgroups
    // of the device's choice (0), of 64 and of 3 (100 values: 25 quads, no multiple of 3 or 8).
    for (gpu, (cols, rows, row_wg)) in gpus().iter().flat_map(|g| {
        [
            (13, 7, 0),
            (12, 7, 0),
            (4, 1, 0),
            (100, 3, 0),
            (100, 3, 64),
            (100, 3, 3),
        ]
        .map(|s| (g, s))
    }) {
        let n = 50;
        let data: Vec<u8> = (0..n * cols).map(|_| rng.below(256) as u8).collect();
        let mut idx: Vec<u32> = (0..n as u32).collect();
        rng.shuffle(&mut idx);
        let mut g = Graph::new();
        let d = g.input_typed("data", &[n, cols], DType::U8);
        let i = g.input_typed("idx", &[n], DType::U32);
        let b = g.gather("batch", d, i, rows);
        let mut res = shaderprop::graph::plan::Resources::new();
        let opts = shaderprop::graph::plan::CompileOptions {
            row_wg,
            ..Default::default()
        };
        let plan =
            shaderprop::graph::plan::Plan::compile_with(&g, gpu, &mut res, &[b], opts).unwrap();
        plan.write_u32(gpu, d, &shaderprop::graph::plan::pack_bytes(&data));
        plan.write_u32(gpu, i, &idx);
        // The last batch runs past the end of idx: rows repeat the last index.
        for offset in [0u32, 21, 46, 49] {
            plan.run(
                gpu,
                StepUniform {
                    step: 1,
                    batch_offset: offset,
                    seed: 0,
                    valid_rows: rows as u32,
                },
            );
            let got = plan.read(gpu, &g, b).unwrap();
            compare(
                &got,
                &ops::gather::forward_ref(&data, &idx, offset as usize, rows, cols),
                1e-7,
                1e-6,
            )
            .unwrap_or_else(|e| panic!("{cols}x{rows} walk {row_wg} offset {offset}: {e}"));
        }
    }
}

/// The FMA ceiling's kernel (`fma_rate`, shaders/bench.wgsl, 32 steps a loop iteration) takes
/// the steps `bench` credits it with: each invocation i runs two chains of FMA_ITERS steps
/// x ← x·a + b (a = 0.999999, b = 1e-7) from x₀ = (s, s + 1e-4, s + 2e-4, s + 3e-4) and
/// x₀ + 5e-4, s = i·1e-9, and stores their sum. Against a float64 twin of the recurrence for
/// 32, 256 and 1024 steps, to 2e-8 + 1e-5 of the value: one step more or fewer in each chain
/// moves a sum by ~2e-7, while float rounding at these magnitudes (ulps of ~1e-10) stays
/// under 1e-8 over 1024 steps.
#[test]
fn the_fma_ceiling_kernel_takes_the_steps_it_is_credited_with() {
    use shaderprop::bench::FmaWorkload;
    for gpu in gpus() {
        for iters in [32u32, 256, 1024] {
            let n = 1000u32;
            let fma = FmaWorkload::new(&gpu, "fma", n, iters).unwrap();
            assert_eq!(fma.stored, n);
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            fma.record(&mut enc);
            gpu.queue.submit([enc.finish()]);
            let got = gpu.read_f32(&fma.sink, 0, n as usize * 4).unwrap();
            let (a, b) = (0.999999f32 as f64, 1e-7f32 as f64);
            let chain = |x0: f64| (0..iters).fold(x0, |x, _| x * a + b);
            for i in 0..n as usize {
                let s = i as f32 * 1e-9;
                for c in 0..4 {
                    let x0 = s + [0.0, 1e-4, 2e-4, 3e-4][c];
                    let want = chain(x0 as f64) + chain((x0 + 5e-4) as f64);
                    let v = got[4 * i + c] as f64;
                    assert!(
                        (v - want).abs() <= 2e-8 + 1e-5 * want.abs(),
                        "{} FMA_ITERS {iters}: invocation {i} lane {c}: got {v}, want {want}",
                        gpu.info.backend
                    );
                }
            }
        }
    }
}

/// The bandwidth ceiling's copies (`copy_bandwidth`, `copy_texture`, `copy_storage_texture`
/// in shaders/bench.wgsl) against their float64 twin, dst[i] = source element i (texel
/// (i mod W, i div W)), on fresh random values with extremes: from a storage buffer and from
/// a texture in each way this adapter fetches textures. Shapes: one texel; a width that is
/// not a multiple of a workgroup's 256 and a total that ends partway through a workgroup's
/// 4·256; a column (W = 1); a total past one workgroup's 1024 by one; three rows of 1100.
/// A copy that drops an invocation's 2nd–4th element (or its last store), swaps the texel's
/// row and column, or lets workgroups overlap fails it.
#[test]
fn the_bandwidth_ceilings_copies_move_every_element_to_its_place() {
    use shaderprop::bench::{CopySource, CopyWorkload};
    use shaderprop::gpu::TexFetch;
    let mut rng = fresh();
    for gpu in gpus() {
        let fetches = match gpu.tex_fetch() {
            TexFetch::Storage => vec![TexFetch::Storage, TexFetch::Sampled],
            TexFetch::Sampled => vec![TexFetch::Sampled],
        };
        for (width, height) in [(1u32, 1u32), (300, 5), (1, 37), (1025, 1), (1100, 3)] {
            let n = (width * height) as usize;
            let mut data = f32s(&randv(&mut rng, 4 * n, -1e3, 1e3));
            let extremes = [f32::MAX, -f32::MAX, f32::MIN_POSITIVE, -0.0, 0.0, 1.0];
            for (k, &e) in extremes.iter().enumerate() {
                let at = k * 4 * n / extremes.len();
                data[at] = e;
            }
            let twin: Vec<f64> = (0..n)
                .flat_map(|i| {
                    let (x, y) = (i % width as usize, i / width as usize);
                    (0..4).map(move |c| (y * width as usize + x) * 4 + c)
                })
                .map(|j| data[j] as f64)
                .collect();
            let mut runs = vec![(CopySource::Buffer, None)];
            runs.extend(fetches.iter().map(|&f| (CopySource::Texture, Some(f))));
            for (source, fetch) in runs {
                if let Some(f) = fetch {
                    gpu.force_tex_fetch(f);
                }
                let copy = CopyWorkload::with_shape(&gpu, source, width, height).unwrap();
                copy.fill(&gpu, &data);
                let mut enc = gpu.device.create_command_encoder(&Default::default());
                copy.record(&mut enc);
                gpu.queue.submit([enc.finish()]);
                let got = gpu.read_f32(&copy.dst, 0, 4 * n).unwrap();
                for (i, (&g, &w)) in got.iter().zip(&twin).enumerate() {
                    assert!(
                        g as f64 == w && g.is_sign_negative() == (w as f32).is_sign_negative(),
                        "{} {source:?} {fetch:?} {width}×{height}: float {i} (vec4 {}) is {g}, \
                         want {w}",
                        gpu.info.backend,
                        i / 4
                    );
                }
            }
            gpu.force_tex_fetch(fetches[0]);
        }
    }
}
