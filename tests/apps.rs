//! The applications' own kernels and numbers: PCA's kernels against their float64 twins, the
//! whole GPU PCA against its twin, float gather, ROC AUC, percentiles and the .npy writer.

mod common;
use common::*;
use shaderprop::apps::{percentile, roc_auc, write_npy};
use shaderprop::data::Dataset;
use shaderprop::graph::{DType, Graph};
use shaderprop::ops::{compare, gather, pca};
use shaderprop::rng::Rng;

fn float_set(values: Vec<f32>, n: usize, d: usize) -> Dataset {
    Dataset {
        name: "random".into(),
        images: Vec::new(),
        labels: None,
        n,
        channels: 1,
        rows: 1,
        cols: d,
        values: Some(values),
    }
}

#[test]
fn pca_kernels_match_their_twins_on_fresh_inputs() {
    let mut rng = fresh_rng();
    for gpu in gpus() {
        // d not a multiple of the workgroup, one column, a square case, and nearly parallel
        // columns (what converged subspace iteration hands Gram–Schmidt).
        for (case, &(d, k)) in [(300, 7), (1, 1), (37, 37), (513, 5), (784, 128), (300, 270)]
            .iter()
            .enumerate()
        {
            let mut y = randv(&mut rng, d * k, -1.0, 1.0);
            if case == 3 {
                for i in 0..d {
                    for j in 1..k {
                        y[i * k + j] = y[i * k] + 1e-3 * y[i * k + j];
                    }
                }
            }
            let acc0 = randv(&mut rng, d * k, -1.0, 1.0);
            let mut g = Graph::new();
            let q = g.state("q", &[d, k]);
            let yn = g.input("y", &[d, k]);
            let acc = g.state("acc", &[d * k]);
            g.orthonormalize("orth", q, yn);
            g.add_in_place("add", acc, yn);
            let out = run(
                &gpu,
                &g,
                &[(yn, f32s(&y)), (acc, f32s(&acc0))],
                &[q, acc],
                step(1),
            );
            let want_q = pca::orthonormalize_ref(&y, d, k);
            let want_acc = pca::add_in_place_ref(&acc0, &y);
            // Nearly parallel columns lose digits in f32 (condition ~1e3); their orthonormality
            // is what matters and is checked below.
            let tol = if case == 3 { 5e-2 } else { 1e-4 };
            compare(&out[0], &want_q, tol, tol)
                .unwrap_or_else(|e| panic!("{} orthonormalize {d}×{k}: {e}", gpu.info.backend));
            compare(&out[1], &want_acc, 1e-6, 1e-6)
                .unwrap_or_else(|e| panic!("{} add_in_place: {e}", gpu.info.backend));
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = (0..d)
                        .map(|i| out[0][i * k + a] as f64 * out[0][i * k + b] as f64)
                        .sum();
                    let want = (a == b) as u8 as f64;
                    assert!(
                        (dot - want).abs() < 1e-4,
                        "{} {d}×{k}: qᵀq[{a},{b}] = {dot}",
                        gpu.info.backend
                    );
                }
            }
        }
    }
}

#[test]
fn gpu_pca_matches_its_twin_and_recovers_a_planted_subspace() {
    let gpu = gpu();
    let mut rng = fresh_rng();
    // 1,234 samples (not a multiple of the 500-row batch) of 24 features: 3 strong directions
    // with decreasing variance plus small noise, around a non-zero mean.
    let (n, d, k) = (1234, 24, 3);
    let basis = randv(&mut rng, 3 * d, -1.0, 1.0);
    let mean = randv(&mut rng, d, -2.0, 2.0);
    let mut x = vec![0.0; n * d];
    for r in 0..n {
        let c = [rng.normal() * 3.0, rng.normal() * 2.0, rng.normal()];
        for j in 0..d {
            x[r * d + j] = mean[j]
                + (0..3).map(|t| c[t] * basis[t * d + j]).sum::<f64>()
                + 0.01 * rng.normal();
        }
    }
    let set = float_set(f32s(&x), n, d);
    let mut p = shaderprop::pca::Pca::fit(&gpu, &set, k, 7).unwrap();
    let (codes, errs) = p.score(&gpu, &set).unwrap();
    assert_eq!(codes.len(), n * k);
    let q0: Vec<f64> = {
        let mut r = Rng::new(7);
        (0..d * k).map(|_| r.normal() as f32 as f64).collect()
    };
    let (_, want) = shaderprop::pca::fit_score_ref(&x, n, d, k, &q0, 300);
    // The residual is the noise: 0.01² per feature.
    let noise = 1e-4 * d as f64;
    for (i, (&g, &w)) in errs.iter().zip(&want).enumerate() {
        assert!(
            (g as f64 - w).abs() < 0.05 * w + 0.1 * noise,
            "sample {i}: GPU error {g}, twin {w}"
        );
    }
    assert!(p.explained() > 0.999, "explained {}", p.explained());
    assert!(
        p.variances[0] > p.variances[1] && p.variances[1] > p.variances[2],
        "components not ordered: {:?}",
        p.variances
    );
    // Fewer components than the structure: the error grows.
    let mut p1 = shaderprop::pca::Pca::fit(&gpu, &set, 1, 7).unwrap();
    let (_, e1) = p1.score(&gpu, &set).unwrap();
    assert!(e1.iter().sum::<f32>() > 100.0 * errs.iter().sum::<f32>());
}

#[test]
fn float_gather_matches_its_twin() {
    let mut rng = fresh_rng();
    // 13 floats a row: one per invocation; 12 and 100: four per invocation (100: 25 quads,
    // several passes of the row walk).
    for (gpu, cols) in gpus().iter().flat_map(|g| [13, 12, 100].map(|c| (g, c))) {
        let (n, rows) = (37, 8);
        // Values exactly representable in f32, so the copy must be exact.
        let data = f64s(&f32s(&randv(&mut rng, n * cols, -5.0, 5.0)));
        let idx: Vec<u32> = (0..n as u32).rev().collect();
        let mut g = Graph::new();
        let dn = g.input("data", &[n, cols]);
        let ix = g.input_typed("idx", &[n], DType::U32);
        let x = g.gather("x", dn, ix, rows);
        let mut res = shaderprop::graph::plan::Resources::new();
        let plan = shaderprop::graph::plan::Plan::compile(&g, gpu, &mut res, &[x]).unwrap();
        plan.write_f32(gpu, dn, &f32s(&data));
        plan.write_u32(gpu, ix, &idx);
        // The last batch: offset 32, rows past the end repeat the last index.
        let mut st = step(rows as u32);
        st.batch_offset = 32;
        plan.run(gpu, st);
        let got = plan.read(gpu, &g, x).unwrap();
        let want = gather::forward_f32_ref(&data, &idx, 32, rows, cols);
        compare(&got, &want, 0.0, 0.0).unwrap_or_else(|e| panic!("{}: {e}", gpu.info.backend));
    }
}

#[test]
fn roc_auc_equals_the_pairwise_count_and_handles_ties() {
    let mut rng = fresh_rng();
    let n = 200;
    let scores: Vec<f64> = (0..n).map(|_| (rng.below(20)) as f64).collect();
    let pos: Vec<bool> = (0..n)
        .map(|i| rng.uniform() < 0.3 + 0.002 * i as f64)
        .collect();
    let mut wins = 0.0;
    let mut pairs = 0.0;
    for i in 0..n {
        for j in 0..n {
            if pos[i] && !pos[j] {
                pairs += 1.0;
                wins += if scores[i] > scores[j] {
                    1.0
                } else if scores[i] == scores[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    let auc = roc_auc(&scores, &pos).unwrap();
    assert!(
        (auc - wins / pairs).abs() < 1e-12,
        "{auc} vs {}",
        wins / pairs
    );
    assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    assert_eq!(roc_auc(&[1.0, 2.0], &[false, true]), Some(1.0));
    assert_eq!(roc_auc(&[1.0, 2.0], &[true, false]), Some(0.0));
}

#[test]
fn percentile_interpolates_between_ranks() {
    let v: Vec<f64> = (0..=10).map(|i| i as f64).collect();
    assert_eq!(percentile(&v, 50.0), 5.0);
    assert_eq!(percentile(&v, 95.0), 9.5);
    assert_eq!(percentile(&v, 100.0), 10.0);
    assert_eq!(percentile(&[3.0, f64::NAN], 50.0), 3.0);
    assert!(percentile(&[], 50.0).is_nan());
}

#[test]
fn npy_files_have_numpys_header_and_little_endian_floats() {
    let dir = std::env::temp_dir().join(format!("shaderprop-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("a.npy");
    let v: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
    write_npy(&p, &v, 2, 3).unwrap();
    let b = std::fs::read(&p).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "header not aligned to 64");
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)"));
    assert!(header.ends_with('\n'));
    let data: Vec<f32> = b[10 + hlen..]
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(data, v);
    let _ = std::fs::remove_dir_all(&dir);
}
