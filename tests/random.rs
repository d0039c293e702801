//! The WGSL Philox generator: the same bits as its CPU twin, the right distributions on a
//! million draws, and streams that differ by seed, step and stream but repeat for the same
//! ones. The statistical tests use fixed seeds, so they cannot flake; their thresholds are
//! the 0.1 % critical values.

mod common;
use common::*;
use shaderprop::graph::Graph;
use shaderprop::ops::random::{draws_ref, philox4x32_10, Distribution};
use shaderprop::ops::{compare, StepUniform};

fn gpu_draws(
    gpu: &shaderprop::gpu::Gpu,
    dist: Distribution,
    n: usize,
    seed: u32,
    step: u32,
    stream: u32,
) -> Vec<f32> {
    let mut g = Graph::new();
    let r = g.random("r", dist, stream, &[n]);
    run(
        gpu,
        &g,
        &[],
        &[r],
        StepUniform {
            step,
            batch_offset: 0,
            seed,
            valid_rows: 1,
        },
    )
    .remove(0)
}

#[test]
fn philox_matches_the_published_known_answer() {
    // Random123's known-answer tests for philox4x32_10.
    assert_eq!(
        philox4x32_10([0, 0, 0, 0], [0, 0]),
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        philox4x32_10([0xffff_ffff; 4], [0xffff_ffff; 2]),
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0]
        ),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
}

#[test]
fn gpu_draws_equal_the_cpu_twin() {
    for gpu in gpus() {
        for (n, seed, step, stream) in [
            (1, 0, 1, 0),
            (1000, 42, 7, 1),
            (70_001, 0xdead_beef, 123_456, 2),
        ] {
            for dist in [Distribution::Uniform, Distribution::Normal] {
                let got = gpu_draws(&gpu, dist, n, seed, step, stream);
                let want = draws_ref(dist, n, seed, step, stream);
                let e = compare(&got, &want, 1e-5, 1e-5)
                    .unwrap_or_else(|e| panic!("{} {dist:?} n={n}: {e}", gpu.info.backend));
                eprintln!("{} {dist:?} n={n}: max rel err {e:.2e}", gpu.info.backend);
            }
        }
    }
}

/// Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    0.5 * (1.0 + if x >= 0.0 { erf } else { -erf })
}

/// Kolmogorov–Smirnov statistic of `v` against `cdf`.
fn ks(v: &[f32], cdf: &dyn Fn(f64) -> f64) -> f64 {
    let mut s: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len() as f64;
    s.iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

fn moments(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

#[test]
fn a_million_draws_have_the_right_mean_variance_and_distribution() {
    let gpu = gpu();
    let n = 1_000_000;
    let ks_critical = 1.95 / (n as f64).sqrt(); // α = 0.001
    let u = gpu_draws(&gpu, Distribution::Uniform, n, 1234, 1, 0);
    assert!(
        u.iter().all(|&x| x > 0.0 && x < 1.0),
        "uniform draws must lie in (0, 1)"
    );
    let (m, v) = moments(&u);
    // Standard errors: mean 0.29/√n = 2.9e-4, variance ≈ 0.075/√n = 7.5e-5; allow ~4σ.
    assert!((m - 0.5).abs() < 1.2e-3, "uniform mean {m}");
    assert!((v - 1.0 / 12.0).abs() < 3e-4, "uniform variance {v}");
    let d = ks(&u, &|x| x.clamp(0.0, 1.0));
    assert!(d < ks_critical, "uniform KS {d} ≥ {ks_critical}");
    let z = gpu_draws(&gpu, Distribution::Normal, n, 1234, 1, 1);
    assert!(z.iter().all(|x| x.is_finite()));
    let (m, v) = moments(&z);
    // Standard errors: mean 1/√n = 1e-3, variance √2/√n = 1.4e-3.
    assert!(m.abs() < 4e-3, "normal mean {m}");
    assert!((v - 1.0).abs() < 6e-3, "normal variance {v}");
    let d = ks(&z, &normal_cdf);
    assert!(d < ks_critical, "normal KS {d} ≥ {ks_critical}");
    eprintln!(
        "uniform and normal: KS within {ks_critical:.2e}; normal mean {m:.2e}, variance {v:.4}"
    );
}

#[test]
fn streams_differ_by_seed_step_and_stream_and_repeat_for_the_same_ones() {
    let gpu = gpu();
    let n = 4096;
    let base = gpu_draws(&gpu, Distribution::Normal, n, 9, 3, 0);
    assert_eq!(
        base,
        gpu_draws(&gpu, Distribution::Normal, n, 9, 3, 0),
        "same seed, step, stream: same draws"
    );
    for (what, other) in [
        ("seed", gpu_draws(&gpu, Distribution::Normal, n, 10, 3, 0)),
        ("step", gpu_draws(&gpu, Distribution::Normal, n, 9, 4, 0)),
        ("stream", gpu_draws(&gpu, Distribution::Normal, n, 9, 3, 1)),
    ] {
        let same = base.iter().zip(&other).filter(|(a, b)| a == b).count();
        assert!(
            same < 4,
            "changing the {what} left {same} of {n} draws equal"
        );
        // Independent standard normals: correlation ~ N(0, 1/n), |r| < 4/√n.
        let r: f64 = base
            .iter()
            .zip(&other)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum::<f64>()
            / n as f64;
        assert!(
            r.abs() < 4.0 / (n as f64).sqrt(),
            "draws for another {what} correlate: {r}"
        );
    }
}
