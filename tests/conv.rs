//! Convolution, pooling, upsampling and noise kernels against their CPU float64 twins on fresh
//! random inputs (odd sizes, stride 2, valid/same/explicit padding, batch 1, one channel and
//! many), the twins' backward passes against central finite differences, and the whole
//! convolutional autoencoder's GPU gradients against finite differences of its CPU twin.

mod common;
use common::*;
use shaderprop::gpu::Shader;
use shaderprop::graph::autodiff::backward;
use shaderprop::graph::cpu::evaluate;
use shaderprop::graph::plan::{CompileOptions, Plan, Resources};
use shaderprop::graph::{DType, Graph, Op};
use shaderprop::models::{self, Arch, Decoder, ModelConfig, ModelKind};
use shaderprop::ops::conv::{self, ConvGeom, Padding};
use shaderprop::ops::pool::{self, Planes};
use shaderprop::ops::random::{self, Noise};
use shaderprop::ops::{compare, Act, Reads, StepUniform};
use shaderprop::rng::Rng;
use std::collections::HashMap;

fn fresh() -> Rng {
    fresh_rng()
}

/// Geometries: (n, c_in, (h, w), c_out, (kh, kw), stride, padding).
#[allow(clippy::type_complexity)]
fn geometries() -> Vec<ConvGeom> {
    let cases: [(
        usize,
        usize,
        (usize, usize),
        usize,
        (usize, usize),
        usize,
        Padding,
    ); 21] = [
        (1, 1, (5, 7), 1, (3, 3), 1, Padding::Same),
        (2, 3, (9, 6), 5, (3, 3), 1, Padding::Valid),
        (1, 4, (7, 7), 6, (3, 3), 2, Padding::Same),
        (3, 2, (8, 11), 3, (3, 3), 2, Padding::Valid),
        (2, 5, (6, 9), 4, (5, 3), 1, Padding::Explicit(2, 1)),
        (1, 9, (4, 4), 1, (1, 1), 1, Padding::Valid),
        (2, 16, (7, 7), 8, (3, 3), 1, Padding::Same),
        (1, 3, (13, 10), 2, (2, 2), 2, Padding::Same),
        (2, 1, (12, 17), 16, (3, 3), 1, Padding::Same),
        // Rows of 12 and 8: the texture kernels store them as vec4s (conv_store4.wgsl),
        // the 12-pixel row's one 16-pixel block three quarters full; the valid one's input
        // gradient (rows of 10, blocks of 8) as pairs (conv_store2.wgsl), its second block 2
        // pixels.
        (2, 3, (6, 12), 4, (3, 3), 1, Padding::Same),
        (2, 2, (5, 10), 3, (3, 3), 1, Padding::Valid),
        // The conv AE's row widths at blocks of 16 pixels (batch of one): 28 as vec4s, its
        // second block 12 pixels; 14 as pairs, one block 14 pixels; and a stride-2 layer
        // whose 15-wide output would read 33 inputs for 16 pixels, so takes blocks of 8.
        (1, 2, (3, 28), 3, (3, 3), 1, Padding::Same),
        (2, 3, (4, 14), 5, (3, 3), 1, Padding::Same),
        (1, 2, (5, 30), 3, (3, 3), 2, Padding::Same),
        // Rows 2 (mod 4) long in planes a multiple of 4 floats: the texture kernels' row
        // segments start at one of two offsets (SEG_OFF, SEG_OFF2), as on the conv AE's 14×14
        // layers; unpadded, so at other offsets than the (4, 14) case's: the forward reading
        // 14-wide rows, and the input gradient reading a 4×14 dP (decoder.2's shape).
        (2, 2, (6, 14), 3, (3, 3), 1, Padding::Valid),
        (1, 2, (6, 16), 3, (3, 3), 1, Padding::Valid),
        // A 7-wide kernel (the kernels take up to 8): 22-input segments for 16 pixels, and
        // a weight gradient accumulating 7 taps × 4 channels.
        (1, 2, (4, 16), 3, (3, 7), 1, Padding::Same),
        // Rows a multiple of 4 under a padded 3×3 kernel: the texture weight gradient walks
        // them four pixels at a time (WG_QUADS; also rows 2 (mod 4) long in planes a
        // multiple of 4 floats, as above, and unpadded), here with 16 input channels and one output
        // (batch of one, three rows), one input and 16 outputs, and part-full channel blocks
        // on rows of one texel.
        (1, 16, (3, 8), 1, (3, 3), 1, Padding::Same),
        (2, 1, (5, 12), 16, (3, 3), 1, Padding::Same),
        (2, 6, (4, 4), 5, (3, 3), 1, Padding::Same),
        // The same walk on a one-row image padded explicitly, three output channels.
        (1, 5, (1, 8), 3, (3, 3), 1, Padding::Explicit(1, 1)),
    ];
    cases
        .iter()
        .map(|&(n, ci, hw, co, k, s, p)| ConvGeom::new(n, ci, hw, co, k, s, p))
        .collect()
}

#[test]
fn conv_geometry_follows_keras_padding_rules() {
    let g = ConvGeom::new(1, 1, (7, 7), 1, (3, 3), 2, Padding::Same);
    assert_eq!((g.h_out, g.w_out, g.pad_h), (4, 4, 1));
    let g = ConvGeom::new(1, 1, (28, 28), 1, (3, 3), 2, Padding::Same);
    assert_eq!(
        (g.h_out, g.pad_h),
        (14, 0),
        "even input: the extra row goes at the bottom"
    );
    let g = ConvGeom::new(1, 1, (16, 16), 1, (3, 3), 1, Padding::Valid);
    assert_eq!((g.h_out, g.pad_h), (14, 0));
    let g = ConvGeom::new(1, 1, (6, 9), 1, (5, 3), 1, Padding::Explicit(2, 1));
    assert_eq!((g.h_out, g.w_out), (6, 9));
    let t = ConvGeom::transposed_same(2, 8, (4, 4), 8, 3, 2);
    assert_eq!((t.h, t.w, t.h_out, t.w_out), (8, 8, 4, 4));
    // The conv autoencoder's decoder lands on 28 and 12, and says why it cannot on 10.
    for (side, ok) in [(28, true), (12, true), (16, true), (10, false), (7, false)] {
        let mut cfg = tiny_conv(Decoder::Upsample);
        cfg.image = [1, side, side];
        let r = models::conv::check(&cfg);
        assert_eq!(r.is_ok(), ok, "{side}: {r:?}");
        if let Err(e) = r {
            assert!(
                e.contains(&format!("cannot decode back to {side} pixels")),
                "{e}"
            );
        }
    }
}

/// Runs `outs` of `g` with every conv variant in `variants` that runs on `gpu` at `geom`,
/// fed `feeds`, and compares each output with its twin `want` (named `names`).
#[allow(clippy::too_many_arguments)]
fn check_variants(
    gpu: &shaderprop::gpu::Gpu,
    g: &Graph,
    feeds: &[(shaderprop::graph::NodeId, Vec<f32>)],
    outs: &[shaderprop::graph::NodeId],
    want: &[Vec<f64>],
    names: &[&str],
    geom: &ConvGeom,
    scale: f64,
    variants: &[conv::Variant],
) -> Vec<(conv::Variant, f64)> {
    let mut worst = Vec::new();
    for &variant in variants {
        if !variant.runs_on(gpu, geom, conv::Kernel::Forward) {
            continue;
        }
        let opts = CompileOptions {
            conv: variant,
            ..Default::default()
        };
        let got = run_with(gpu, g, feeds, outs, step(geom.n as u32), opts);
        for (name, (got, want)) in names.iter().zip(got.iter().zip(want)) {
            let atol = 1e-4 * scale * (geom.c_in * geom.kh * geom.kw) as f64;
            let e = compare(got, want, atol, 1e-4).unwrap_or_else(|e| {
                panic!("{} {variant:?} {name} {geom:?}: {e}", gpu.info.backend)
            });
            worst.push((variant, e));
        }
    }
    worst
}

#[test]
fn conv_kernels_match_their_twins_on_fresh_inputs() {
    let mut rng = fresh();
    let (mut quad_cases, mut px16_cases, mut pair_kernels, mut adapters) = (0, 0, 0, 0);
    // Four-pixel weight-gradient walks on x rows 2 (mod 4) long, on dP rows so, unpadded.
    let mut quad_kinds = [
        ("x pairs", 0),
        ("dP pairs", 0),
        ("unpadded", 0),
        ("kernel-row slots", 0),
    ];
    let (mut sg_cases, mut sg_adapters) = (0, 0);
    for gpu in gpus() {
        adapters += 1;
        let probe = geometries()[0];
        let has_sg = conv::Variant::Subgroup.runs_on(&gpu, &probe, conv::Kernel::Forward);
        sg_adapters += has_sg as usize;
        for (case, geom) in geometries().into_iter().enumerate() {
            let act = [Act::Relu, Act::Identity, Act::Sigmoid, Act::Tanh][case % 4];
            // Extremes: one case with large magnitudes.
            let scale = if case == 4 { 100.0 } else { 1.0 };
            let x = randv(
                &mut rng,
                geom.n * geom.c_in * geom.h * geom.w,
                -scale,
                scale,
            );
            let w = randv(&mut rng, geom.weight_len(), -1.0, 1.0);
            let b = randv(&mut rng, geom.c_out, -1.0, 1.0);
            let bt = randv(&mut rng, geom.c_in, -1.0, 1.0);
            let dy = randv(
                &mut rng,
                geom.n * geom.c_out * geom.h_out * geom.w_out,
                -1.0,
                1.0,
            );

            let mut g = Graph::new();
            let xn = g.input("x", &geom.in_shape());
            let wn = g.input("w", &geom.weight_shape());
            let bn = g.input("b", &[geom.c_out]);
            let btn = g.input("bt", &[geom.c_in]);
            let dyn_ = g.input("dy", &geom.out_shape());
            let y = g.conv2d("y", xn, wn, Some(bn), geom, act);
            let y_nobias = g.conv2d("y_nobias", xn, wn, None, geom, Act::Identity);
            let dx = g.conv_transpose2d("dx", dyn_, wn, None, geom, Act::Identity);
            let yt = g.conv_transpose2d("yt", dyn_, wn, Some(btn), geom, act);
            let dw = g.push(
                "dw",
                Op::ConvWeightGrad { geom },
                vec![xn, dyn_],
                vec![geom.n, geom.weight_len()],
                DType::F32,
            );
            let want = [
                conv::forward_ref(&x, &w, Some(&b), &geom, act),
                conv::forward_ref(&x, &w, None, &geom, Act::Identity),
                conv::backward_input_ref(&dy, &w, &geom),
                conv::transpose_ref(&dy, &w, Some(&bt), &geom, act),
                conv::weight_grad_ref(&x, &dy, &geom),
            ];
            let names = [
                "forward",
                "forward (no bias)",
                "backward_input",
                "transpose",
                "weight_grad",
            ];
            // Which texture kernels store vec4s: rows a multiple of 4 long, blocks of 8 or 16.
            // Pairs where rows have even length (not a multiple of 4).
            let store = |w: usize| match (w >= 8, w % 4, w % 2) {
                (true, 0, _) => Shader::ConvTexV4,
                (true, _, 0) => Shader::ConvTexV2,
                _ => Shader::ConvTex,
            };
            let wgrad = conv::weight_grad_call(&geom, conv::Variant::Texture);
            if wgrad.constants.contains(&("WG_QUADS", 1.0)) {
                quad_cases += 1;
                let kinds = [
                    ("QUAD_PAIRS_X", 1.0),
                    ("QUAD_PAIRS_DP", 1.0),
                    ("QUAD_PAD", 0.0),
                    ("KY_SLOTS", 1.0),
                ];
                for (count, constant) in quad_kinds.iter_mut().zip(kinds) {
                    count.1 += wgrad.constants.contains(&constant) as usize;
                }
            }
            let fwd = conv::forward_call(&geom, true, act, conv::Variant::Texture);
            let bwd = conv::backward_input_call(&geom, false, act, conv::Variant::Texture);
            assert_eq!(fwd.shader, store(geom.w_out), "{geom:?}");
            if fwd.constants.contains(&("PX", 16.0)) {
                px16_cases += 1;
            }
            assert_eq!(bwd.shader, store(geom.w), "{geom:?}");
            for c in [&fwd, &bwd] {
                let second = c.constants.iter().find(|(k, _)| *k == "SEG_OFF2");
                if second.is_some_and(|&(_, v)| v < 4.0) {
                    pair_kernels += 1;
                }
            }
            // The subgroup variant shares taps where the adapter and kernel size allow;
            // with wider kernels it is the texture kernel.
            let sg_fwd = conv::forward_call(&geom, true, act, conv::Variant::Subgroup);
            let shares = conv::Variant::Subgroup.runs_on(&gpu, &geom, conv::Kernel::Forward);
            let sg_shader = |s: Shader| match s {
                Shader::ConvTexV4 => Shader::ConvTexSgV4,
                Shader::ConvTexV2 => Shader::ConvTexSgV2,
                _ => Shader::ConvTexSg,
            };
            let want_sg = match geom.kh <= 3 && geom.kw <= 3 {
                true => sg_shader(fwd.shader),
                false => fwd.shader,
            };
            assert_eq!(sg_fwd.shader, want_sg, "{geom:?}");
            sg_cases += shares as usize;
            // The engine's direct kernels and the naive reference kernels, against one twin.
            let feeds = [
                (xn, f32s(&x)),
                (wn, f32s(&w)),
                (bn, f32s(&b)),
                (btn, f32s(&bt)),
                (dyn_, f32s(&dy)),
            ];
            let variants = [
                conv::Variant::Direct,
                conv::Variant::Naive,
                conv::Variant::Texture,
                conv::Variant::Subgroup,
            ];
            let outs = [y, y_nobias, dx, yt, dw];
            let worst = check_variants(
                &gpu, &g, &feeds, &outs, &want, &names, &geom, scale, &variants,
            );
            assert_eq!(
                worst.len(),
                names.len() * (3 + shares as usize),
                "variants run {geom:?}"
            );
            for (variant, e) in worst {
                eprintln!(
                    "{} {variant:?} case {case}: worst {e:.2e}",
                    gpu.info.backend
                );
            }
        }
    }
    // The texture variant's weight gradient takes the four-pixel walk on the nine cases
    // whose rows allow it (so the twin comparisons above ran it on every adapter): x's rows
    // 2 (mod 4) long in the (4, 14) and (6, 14) cases, dP's in the (4, 14) and (6, 16) ones,
    // and unpadded in the last two; the (5, 12) case's one input channel puts its three
    // kernel rows in the channel slots.
    assert_eq!(quad_cases, 9 * adapters, "WG_QUADS cases");
    let kinds: Vec<usize> = quad_kinds.iter().map(|&(_, c)| c).collect();
    assert_eq!(kinds, [2, 2, 2, 1].map(|c| c * adapters), "{quad_kinds:?}");
    // Forwards on 16-pixel blocks: rows of 17, 12 (three times), 28, 14 (twice) and 16.
    assert_eq!(px16_cases, 8 * adapters, "PX = 16 cases");
    // Segments at one of two offsets: the (4, 14) case's forward and input gradient, the
    // (6, 14) case's forward and the (6, 16) case's input gradient.
    assert_eq!(pair_kernels, 4 * adapters, "SEG_OFF2 kernels");
    // The subgroup kernels ran on every case up to 3×3 (all but the 5×3 and 3×7 ones) on
    // each adapter with subgroups, and lavapipe has them.
    assert!(sg_adapters > 0, "no adapter ran the subgroup kernels");
    assert_eq!(sg_cases, 19 * sg_adapters, "subgroup cases");
}

/// Central differences of L(v) = Σ r ⊙ f(v) with respect to v.
fn numeric_grad(v: &[f64], r: &[f64], f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    central_diff(v, r, 1e-6, f)
}

fn assert_close(what: &str, analytic: &[f64], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len(), "{what}: lengths");
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!(
            (a - n).abs() <= 1e-6 + 1e-6 * a.abs().max(n.abs()),
            "{what}: index {i}: analytic {a}, finite differences {n}"
        );
    }
}

#[test]
fn conv_backward_twins_match_finite_differences() {
    let mut rng = fresh();
    for geom in geometries().into_iter().take(6) {
        let x = randv(&mut rng, geom.n * geom.c_in * geom.h * geom.w, -1.0, 1.0);
        let w = randv(&mut rng, geom.weight_len(), -1.0, 1.0);
        let b = randv(&mut rng, geom.c_out, -1.0, 1.0);
        let r = randv(
            &mut rng,
            geom.n * geom.c_out * geom.h_out * geom.w_out,
            -1.0,
            1.0,
        );
        let fwd = |x: &[f64], w: &[f64], b: &[f64]| {
            conv::forward_ref(x, w, Some(b), &geom, Act::Identity)
        };
        // dL/dx = convᵀ(r), dL/dw = Σ_n weight_grad(x, r), dL/db = Σ over pixels of r.
        assert_close(
            &format!("conv dx {geom:?}"),
            &conv::backward_input_ref(&r, &w, &geom),
            &numeric_grad(&x, &r, &|v| fwd(v, &w, &b)),
        );
        let nw = geom.weight_len();
        let part = conv::weight_grad_ref(&x, &r, &geom);
        let dw: Vec<f64> = (0..nw)
            .map(|i| (0..geom.n).map(|n| part[n * nw + i]).sum())
            .collect();
        assert_close(
            &format!("conv dw {geom:?}"),
            &dw,
            &numeric_grad(&w, &r, &|v| fwd(&x, v, &b)),
        );
        let plane = geom.h_out * geom.w_out;
        let db: Vec<f64> = (0..geom.c_out)
            .map(|c| {
                r.iter()
                    .enumerate()
                    .filter(|(i, _)| (i / plane) % geom.c_out == c)
                    .map(|(_, v)| v)
                    .sum()
            })
            .collect();
        assert_close(
            &format!("conv db {geom:?}"),
            &db,
            &numeric_grad(&b, &r, &|v| fwd(&x, &w, v)),
        );
        // The transposed convolution: its input gradient is a convolution, its weight
        // gradient the weight-gradient kernel with the roles exchanged.
        let xt = randv(
            &mut rng,
            geom.n * geom.c_out * geom.h_out * geom.w_out,
            -1.0,
            1.0,
        );
        let rt = randv(&mut rng, geom.n * geom.c_in * geom.h * geom.w, -1.0, 1.0);
        let tfwd = |x: &[f64], w: &[f64]| conv::transpose_ref(x, w, None, &geom, Act::Identity);
        assert_close(
            &format!("transpose dx {geom:?}"),
            &conv::forward_ref(&rt, &w, None, &geom, Act::Identity),
            &numeric_grad(&xt, &rt, &|v| tfwd(v, &w)),
        );
        let part = conv::weight_grad_ref(&rt, &xt, &geom);
        let dwt: Vec<f64> = (0..nw)
            .map(|i| (0..geom.n).map(|n| part[n * nw + i]).sum())
            .collect();
        assert_close(
            &format!("transpose dw {geom:?}"),
            &dwt,
            &numeric_grad(&w, &rt, &|v| tfwd(&xt, v)),
        );
    }
}

/// Convolutions that read their input upsampled 2× on the fly (`ConvGeom::reading_upsampled`,
/// the conv decoder's `upsample+conv2d`): virtual (upsampled) sizes; source rows of 14 (two
/// segment offsets), 7, 4 (the weight gradient's four-pixel walk, one output channel; and one
/// input channel) and 6; padding 1, 0 and 2 (segments starting at odd and even columns); a 5×3
/// kernel; batch 1.
/// The forwards of the 3×3 ones run at the source's resolution (`PARITY`), at 16, 8 and 4
/// output pixels a row (rows of 28; 14, 8 and 12; 4, padded 2 above and none on the left).
fn upsampled_geometries() -> Vec<ConvGeom> {
    [
        (1, 2, (28, 28), 3, (3, 3), Padding::Same),
        (2, 3, (8, 14), 5, (3, 3), Padding::Same),
        (2, 16, (6, 8), 1, (3, 3), Padding::Same),
        (2, 3, (16, 16), 5, (3, 3), Padding::Valid),
        (1, 5, (4, 12), 4, (3, 3), Padding::Explicit(1, 1)),
        (1, 2, (6, 10), 2, (5, 3), Padding::Explicit(2, 1)),
        (2, 3, (6, 6), 2, (3, 3), Padding::Explicit(2, 0)),
        (1, 1, (8, 8), 2, (3, 3), Padding::Same),
    ]
    .into_iter()
    .map(|(n, ci, hw, co, k, p)| ConvGeom::new(n, ci, hw, co, k, 1, p).reading_upsampled())
    .collect()
}

#[test]
fn convolutions_of_an_upsampled_input_match_their_twins_and_finite_differences() {
    let mut rng = fresh();
    for geom in upsampled_geometries() {
        let x = randv(&mut rng, geom.in_len(), -1.0, 1.0);
        let w = randv(&mut rng, geom.weight_len(), -1.0, 1.0);
        let b = randv(&mut rng, geom.c_out, -1.0, 1.0);
        let r = randv(
            &mut rng,
            geom.n * geom.c_out * geom.h_out * geom.w_out,
            -1.0,
            1.0,
        );
        // The twins against the two steps they fuse: upsample, then the plain convolution.
        let (s_h, s_w) = (geom.h / 2, geom.w / 2);
        let up = pool::upsample_ref(&x, &Planes::upsample(geom.n * geom.c_in, s_h, s_w));
        let plain = geom.plain();
        let fused = conv::forward_ref(&x, &w, Some(&b), &geom, Act::Tanh);
        let two_steps = conv::forward_ref(&up, &w, Some(&b), &plain, Act::Tanh);
        assert_eq!(fused, two_steps, "forward {geom:?}");
        assert_eq!(
            conv::weight_grad_ref(&x, &r, &geom),
            conv::weight_grad_ref(&up, &r, &plain),
            "weight gradient {geom:?}"
        );
        // The input gradient of the tensor read: finite differences of the fused forward.
        let fwd = |x: &[f64], w: &[f64]| conv::forward_ref(x, w, None, &geom, Act::Identity);
        assert_close(
            &format!("upsampled conv dx {geom:?}"),
            &conv::backward_input_ref(&r, &w, &geom),
            &numeric_grad(&x, &r, &|v| fwd(v, &w)),
        );
        // The same input gradient as one stride-2 convolution with the folded weights.
        let folded = conv::fold_upsampled_weights_ref(&w, &geom);
        assert_close(
            &format!("folded input gradient {geom:?}"),
            &conv::forward_ref(
                &r,
                &folded,
                None,
                &geom.folded_input_gradient(),
                Act::Identity,
            ),
            &conv::backward_input_ref(&r, &w, &geom),
        );
        let nw = geom.weight_len();
        let part = conv::weight_grad_ref(&x, &r, &geom);
        let dw: Vec<f64> = (0..nw)
            .map(|i| (0..geom.n).map(|n| part[n * nw + i]).sum())
            .collect();
        assert_close(
            &format!("upsampled conv dw {geom:?}"),
            &dw,
            &numeric_grad(&w, &r, &|v| fwd(&x, v)),
        );
    }
    // The kernels, every variant, against the twins.
    let mut quad_cases = 0;
    let mut parity_px = Vec::new();
    for gpu in gpus() {
        for (case, geom) in upsampled_geometries().into_iter().enumerate() {
            let act = [Act::Relu, Act::Identity, Act::Tanh][case % 3];
            let fwd = conv::forward_call(&geom, true, act, conv::Variant::Texture);
            if fwd.constants.contains(&("PARITY", 1.0)) {
                let px = fwd.constants.iter().find(|(k, _)| *k == "PX").map(|c| c.1);
                parity_px.push(px.expect("PX") as usize);
            }
            let x = randv(&mut rng, geom.in_len(), -1.0, 1.0);
            let w = randv(&mut rng, geom.weight_len(), -1.0, 1.0);
            let b = randv(&mut rng, geom.c_out, -1.0, 1.0);
            let dy = randv(
                &mut rng,
                geom.n * geom.c_out * geom.h_out * geom.w_out,
                -1.0,
                1.0,
            );
            let mut g = Graph::new();
            let xn = g.input("x", &geom.in_shape());
            let wn = g.input("w", &geom.weight_shape());
            let bn = g.input("b", &[geom.c_out]);
            let dyn_ = g.input("dy", &geom.out_shape());
            let y = g.conv2d("y", xn, wn, Some(bn), geom, act);
            let dw = g.push(
                "dw",
                Op::ConvWeightGrad { geom },
                vec![xn, dyn_],
                vec![geom.n, geom.weight_len()],
                DType::F32,
            );
            // The input gradient: the folded weights, then the stride-2 convolution.
            let fold = geom.folded_input_gradient();
            let wf = g.push(
                "wf",
                Op::FoldUpsampledWeights { geom },
                vec![wn],
                fold.weight_shape(),
                DType::F32,
            );
            let dx = g.conv2d("dx", dyn_, wf, None, fold, Act::Identity);
            let want = [
                conv::forward_ref(&x, &w, Some(&b), &geom, act),
                conv::weight_grad_ref(&x, &dy, &geom),
                conv::fold_upsampled_weights_ref(&w, &geom),
                conv::backward_input_ref(&dy, &w, &geom),
            ];
            let wgrad = conv::weight_grad_call(&geom, conv::Variant::Texture);
            if wgrad.constants.contains(&("WG_QUADS", 1.0)) {
                assert!(!wgrad.constants.contains(&("KY_SLOTS", 1.0)), "{geom:?}");
                quad_cases += 1;
            }
            let feeds = [
                (xn, f32s(&x)),
                (wn, f32s(&w)),
                (bn, f32s(&b)),
                (dyn_, f32s(&dy)),
            ];
            let variants = [
                conv::Variant::Naive,
                conv::Variant::Direct,
                conv::Variant::Texture,
                conv::Variant::Subgroup,
            ];
            let names = ["forward", "weight_grad", "folded weights", "input gradient"];
            let worst = check_variants(
                &gpu,
                &g,
                &feeds,
                &[y, dw, wf, dx],
                &want,
                &names,
                &geom,
                1.0,
                &variants,
            );
            assert!(worst.len() >= 4 * 3, "variants run {geom:?}");
        }
    }
    // The weight gradients of the cases with even source rows and equal padding ≤ 1 (28×28,
    // 6×8, 16×16 valid, 4×12, and 8×8 with one input channel, which keeps its channel slot
    // rather than KY_SLOTS) walk four pixels a texel and each source row once for the two
    // output rows that read it, on each adapter.
    assert_eq!(quad_cases, 5 * gpus().len(), "WG_QUADS cases");
    // Every 3×3 case's forward ran at the source's resolution, at each block width.
    let per_adapter = parity_px.len() / gpus().len();
    assert_eq!(per_adapter, 7, "parity forwards {parity_px:?}");
    assert_eq!(&parity_px[..7], [16, 8, 8, 8, 8, 4, 8], "parity blocks");
}

#[test]
fn pool_and_upsample_kernels_match_twins_and_finite_differences() {
    let mut rng = fresh();
    // (planes, h, w): odd sides (cut windows), a single pixel, one plane, many; even widths
    // that are not a multiple of 4 (one window an invocation in the texture backward) and
    // that are (two); small planes (under 32 pixels on the small side) and past 65,535
    // planes the kernels take their flat (1-D grid) form instead of the `_grid` one.
    let shapes = [
        (1, 1, 1),
        (1, 7, 7),
        (6, 5, 8),
        (2, 28, 28),
        (3, 3, 1),
        (3, 7, 6),
        (2, 14, 14),
        (65_537, 3, 2),
    ];
    for gpu in gpus() {
        for (case, &(planes, h, w)) in shapes.iter().enumerate() {
            // Case 1 draws from {0, 1}: ties everywhere, the first maximum must win on both sides.
            let x: Vec<f64> = if case == 1 {
                (0..planes * h * w).map(|_| rng.below(2) as f64).collect()
            } else {
                randv(&mut rng, planes * h * w, -3.0, 3.0)
            };
            let p = Planes::pool(planes, h, w);
            let u = Planes::upsample(planes, h, w);
            let dy_pool = randv(&mut rng, p.small_len(), -1.0, 1.0);
            let dy_up = randv(&mut rng, u.big_len(), -1.0, 1.0);

            let mut g = Graph::new();
            let xn = g.input("x", &[planes, 1, h, w]);
            let dpn = g.input("dy_pool", &[planes, 1, p.small.0, p.small.1]);
            let dun = g.input("dy_up", &[planes, 1, 2 * h, 2 * w]);
            let y = g.max_pool2x2("pool", xn);
            let dx = g.push(
                "dx",
                Op::MaxPoolBackward(Act::Identity),
                vec![xn, dpn],
                vec![planes, 1, h, w],
                DType::F32,
            );
            // The pool backward with a fused tanh epilogue (x read as the tanh layer's output).
            let dxa = g.push(
                "dx_act",
                Op::MaxPoolBackward(Act::Tanh),
                vec![xn, dpn],
                vec![planes, 1, h, w],
                DType::F32,
            );
            let up = g.upsample2x("up", xn);
            let dux = g.push(
                "d_up",
                Op::UpsampleBackward(Act::Identity),
                vec![dun],
                vec![planes, 1, h, w],
                DType::F32,
            );
            // The upsampling's backward with a fused tanh epilogue (x as the tanh's output).
            let duxa = g.push(
                "d_up_act",
                Op::UpsampleBackward(Act::Tanh),
                vec![dun, xn],
                vec![planes, 1, h, w],
                DType::F32,
            );
            // Both read paths: the texture one (max_pool_forward_tex, upsample_backward_tex)
            // reads pairs that straddle two texels where the width is odd, and walks each
            // plane in workgroups of the device's choice (0), of 64 (more than a plane's
            // pixels, except at 28×28: 14×14 = 196 windows) and of 5 (no divisor of any row).
            for (reads, row_wg) in [
                (Reads::Storage, 0),
                (Reads::Texture, 0),
                (Reads::Texture, 64),
                (Reads::Texture, 5),
            ] {
                let opts = CompileOptions {
                    reads,
                    row_wg,
                    ..Default::default()
                };
                let mut res = Resources::new();
                let outs = [y, dx, dxa, up, dux, duxa];
                let plan = Plan::compile_with(&g, &gpu, &mut res, &outs, opts).unwrap();
                let count = |suffix: &str| {
                    plan.dispatches
                        .iter()
                        .filter(|d| d.call.entry.contains(suffix))
                        .count()
                };
                // Grid forms: all six where a small-side plane fills half an 8×8 workgroup
                // (32 pixels: the pool's windows, the upsampling's input), else the flat
                // form. Texture forms: the pool's forward, both upsampling backwards, and
                // where the width is even both pool backwards and the upsampling; the pool's
                // three take two windows an invocation (`_tex2`) where the width is a
                // multiple of 4.
                let flat = planes > shaderprop::ops::MAX_GRID_LAYERS;
                let even = w % 2 == 0;
                let pool_grid = (p.small.0 * p.small.1 >= 32) as usize;
                let up_grid = (h * w >= 32) as usize;
                let (tex, grid) = match (flat, reads) {
                    (true, _) => (0, 0),
                    (false, Reads::Texture) if even => (6, 0),
                    (false, Reads::Texture) => (3, 2 * pool_grid + up_grid),
                    (false, _) => (0, 3 * pool_grid + 3 * up_grid),
                };
                assert_eq!(count("_tex"), tex, "{planes} planes, {reads:?}");
                assert_eq!(count("_grid"), grid, "{planes} planes, {reads:?}");
                let pairs = !flat && reads == Reads::Texture && w % 4 == 0;
                assert_eq!(
                    count("_tex2"),
                    3 * pairs as usize,
                    "{planes} planes, {reads:?}"
                );
                plan.write_f32(&gpu, xn, &f32s(&x));
                plan.write_f32(&gpu, dpn, &f32s(&dy_pool));
                plan.write_f32(&gpu, dun, &f32s(&dy_up));
                plan.run(&gpu, step(planes as u32));
                let read = |id| plan.read(&gpu, &g, id).unwrap();
                let checks = [
                    ("max_pool", read(y), pool::forward_ref(&x, &p)),
                    (
                        "max_pool_backward",
                        read(dx),
                        pool::backward_ref(&x, &dy_pool, &p, Act::Identity),
                    ),
                    (
                        "max_pool_backward+tanh",
                        read(dxa),
                        pool::backward_ref(&x, &dy_pool, &p, Act::Tanh),
                    ),
                    ("upsample", read(up), pool::upsample_ref(&x, &u)),
                    (
                        "upsample_backward",
                        read(dux),
                        pool::upsample_backward_ref(&dy_up, &u),
                    ),
                    (
                        "upsample_backward+tanh",
                        read(duxa),
                        pool::upsample_backward_act_ref(&dy_up, &x, &u, Act::Tanh),
                    ),
                ];
                for (name, got, want) in checks {
                    compare(&got, &want, 1e-5, 1e-5).unwrap_or_else(|e| {
                        panic!(
                            "{} {reads:?} walk {row_wg} {name} {planes}×{h}×{w}: {e}",
                            gpu.info.backend
                        )
                    });
                }
            }
            let flat = planes > shaderprop::ops::MAX_GRID_LAYERS;
            if flat {
                continue; // the float64 twins' own gradients are checked on the small shapes
            }
            if case != 1 {
                // Away from ties the max is differentiable: routing to the winner is its gradient.
                assert_close(
                    "max pool dx",
                    &pool::backward_ref(&x, &dy_pool, &p, Act::Identity),
                    &numeric_grad(&x, &dy_pool, &|v| pool::forward_ref(v, &p)),
                );
                // The fused form is the gradient of pool(tanh(x)) with respect to x.
                let t: Vec<f64> = x.iter().map(|v| v.tanh()).collect();
                assert_close(
                    "max pool with fused tanh dx",
                    &pool::backward_ref(&t, &dy_pool, &p, Act::Tanh),
                    &numeric_grad(&x, &dy_pool, &|v| {
                        let a: Vec<f64> = v.iter().map(|z| z.tanh()).collect();
                        pool::forward_ref(&a, &p)
                    }),
                );
            }
            assert_close(
                "upsample dx",
                &pool::upsample_backward_ref(&dy_up, &u),
                &numeric_grad(&x, &dy_up, &|v| pool::upsample_ref(v, &u)),
            );
            // The fused form is the gradient of upsample(tanh(x)) with respect to x.
            let t: Vec<f64> = x.iter().map(|v| v.tanh()).collect();
            assert_close(
                "upsample with fused tanh dx",
                &pool::upsample_backward_act_ref(&dy_up, &t, &u, Act::Tanh),
                &numeric_grad(&x, &dy_up, &|v| {
                    let a: Vec<f64> = v.iter().map(|z| z.tanh()).collect();
                    pool::upsample_ref(&a, &u)
                }),
            );
        }
    }
}

#[test]
fn noise_kernels_match_twins_and_change_every_step() {
    let mut rng = fresh();
    for gpu in gpus() {
        let n = 5000;
        let x = randv(&mut rng, n, 0.0, 1.0);
        for noise in [Noise::Gaussian(0.5), Noise::Mask(0.3)] {
            let mut g = Graph::new();
            let xn = g.input("x", &[n]);
            let y = g.noise("noisy", xn, noise, 3);
            let mut res = Resources::new();
            let plan = Plan::compile(&g, &gpu, &mut res, &[y]).unwrap();
            plan.write_f32(&gpu, xn, &f32s(&x));
            let mut previous: Option<Vec<f32>> = None;
            for (seed, t) in [(7u32, 1u32), (7, 2), (8, 1)] {
                plan.run(
                    &gpu,
                    StepUniform {
                        step: t,
                        batch_offset: 0,
                        seed,
                        valid_rows: 1,
                    },
                );
                let got = plan.read(&gpu, &g, y).unwrap();
                let want = random::noise_ref(noise, &x, seed, t, 3);
                compare(&got, &want, 1e-5, 1e-5)
                    .unwrap_or_else(|e| panic!("{} {noise}: {e}", gpu.info.backend));
                assert!(
                    got.iter().all(|v| (0.0..=1.0).contains(v)),
                    "{noise} leaves [0, 1]"
                );
                if let Some(prev) = &previous {
                    // Independent draws: gaussian noise changes nearly every value, a 30 %
                    // mask changes where it drops about 2·0.3·0.7 = 42 % of them.
                    let differ = prev.iter().zip(&got).filter(|(a, b)| a != b).count();
                    assert!(
                        differ > n / 4,
                        "{noise}: the draw did not change with seed/step"
                    );
                }
                previous = Some(got.clone());
                match noise {
                    Noise::Mask(p) => {
                        let dropped = got.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
                        assert!((dropped - p as f64).abs() < 0.03, "mask dropped {dropped}");
                    }
                    Noise::Gaussian(_) => {
                        let mean_change: f64 = got
                            .iter()
                            .zip(&x)
                            .map(|(a, b)| (*a as f64 - b).abs())
                            .sum::<f64>()
                            / n as f64;
                        assert!(mean_change > 0.2, "gaussian noise too weak: {mean_change}");
                    }
                }
            }
        }
    }
}

/// A small convolutional autoencoder (12×12 images: 12 → 6 → 3 → 2, decoder 2 → 4 → 8 →
/// valid 6 → 12), with every kind of layer the real one has.
fn tiny_conv(decoder: Decoder) -> ModelConfig {
    let mut cfg = ModelConfig {
        kind: ModelKind::Conv,
        input_dim: 144,
        image: [1, 12, 12],
        arch: Arch::Conv,
        channels: vec![3, 2, 2],
        decoder,
        ..ModelConfig::dense_reference()
    };
    cfg.latent = models::conv::code_shape(&cfg).iter().product();
    cfg
}

#[test]
fn conv_autoencoder_gpu_gradients_match_finite_differences_of_its_cpu_twin() {
    let mut rng = fresh();
    let batch = 2;
    // The conv autoencoder with both decoders, and the VAE on the conv network (its code
    // flattened into dense μ and log σ² heads, z mapped back by a dense layer).
    let mut vae = tiny_conv(Decoder::Upsample);
    vae.kind = ModelKind::Vae;
    vae.latent = 3;
    for cfg in [
        tiny_conv(Decoder::Upsample),
        tiny_conv(Decoder::Transpose),
        vae,
    ] {
        let decoder = (cfg.kind, cfg.decoder);
        models::conv::check(&cfg).unwrap();
        let mut g = Graph::new();
        let x = g.input("x", &[batch, cfg.input_dim]);
        let built = models::build(&mut g, &cfg, x, false);
        let code = if cfg.kind == ModelKind::Vae {
            vec![batch, 3]
        } else {
            vec![batch, 2, 2, 2]
        };
        assert_eq!(g.shape(built.latent), code);
        let loss = g.sum_all(
            "loss",
            built.per_sample,
            1.0 / (batch * cfg.input_dim) as f32,
        );
        let grads = backward(&mut g, loss);
        assert_eq!(
            grads.len(),
            g.params().len(),
            "every parameter gets a gradient"
        );
        let mut feeds = random_feeds(&g, x, &mut rng);
        // Weights of ±0.8 over the flattened code can put log σ² near 20, and exp(20) in the
        // KL term makes the loss ~1e9: central differences with h = 1e-6 then measure f64
        // rounding, not the slope. Keep the log σ² head small so the loss stays O(1).
        for (id, v) in feeds.iter_mut() {
            if g.nodes[*id].name.starts_with("logvar.") {
                v.iter_mut().for_each(|w| *w *= 0.1);
            }
        }
        let st = step(batch as u32);
        eprintln!("{decoder:?}");
        for gpu in gpus() {
            check_gpu_grads_against_fd(&gpu, &g, &feeds, &grads, loss, st, 2e-3, 1e-7);
        }
    }
}

#[test]
fn conv_recipe_gradients_at_full_size_match_the_cpu_twin() {
    let mut rng = fresh();
    let gpu = gpu();
    let cfg = ModelConfig::conv_reference();
    let batch = 64;
    let mut g = Graph::new();
    let x = g.input("x", &[batch, cfg.input_dim]);
    let built = models::build(&mut g, &cfg, x, false);
    let loss = g.sum_all(
        "loss",
        built.per_sample,
        1.0 / (batch * cfg.input_dim) as f32,
    );
    let grads = backward(&mut g, loss);
    let mut feeds = HashMap::new();
    feeds.insert(x, randv(&mut rng, g.nodes[x].len(), 0.0, 1.0));
    for p in g.params() {
        let n = &g.nodes[p];
        let limit = (6.0 / (n.len() / n.shape.last().unwrap() + n.shape.last().unwrap()) as f64)
            .sqrt()
            .min(0.5);
        feeds.insert(p, randv(&mut rng, n.len(), -limit, limit));
    }
    let st = StepUniform {
        step: 1,
        batch_offset: 0,
        seed: 0,
        valid_rows: batch as u32,
    };
    let keep: Vec<usize> = grads.iter().map(|pg| pg.grad).collect();
    let mut res = Resources::new();
    let plan = Plan::compile(&g, &gpu, &mut res, &keep).unwrap();
    for (id, v) in &feeds {
        plan.write_f32(&gpu, *id, &f32s(v));
    }
    plan.run(&gpu, st);
    let want = evaluate(&g, &feeds, st);
    for pg in &grads {
        let got = plan.read(&gpu, &g, pg.grad).unwrap();
        let w = &want[pg.grad];
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let e = compare(&got, w, 1e-3 * scale + 1e-9, 1e-3)
            .unwrap_or_else(|e| panic!("{}: {e}", g.nodes[pg.param].name));
        eprintln!("{}: worst {e:.2e}", g.nodes[pg.param].name);
    }
}

/// The texture fronts read their copies as read-only storage textures on lavapipe (Vulkan)
/// and as sampled textures on llvmpipe (GL: GLSL takes no image as a function parameter), so
/// the twin tests, which run on both backends, check both fetch paths. The sampled fallback
/// also runs where storage reads exist: a matmul, a convolution, its weight gradient (single
/// values, `texel_f`, on rows of 7; whole texels, `WG_QUADS`, on rows of 8) and an
/// activation gradient through texture fronts, against the CPU evaluator.
#[test]
fn texture_fronts_fetch_as_storage_textures_on_vulkan_and_sampled_on_gl() {
    use shaderprop::gpu::TexFetch;
    let mut rng = fresh();
    for gpu in gpus() {
        let want = match gpu.info.backend {
            wgpu::Backend::Gl => TexFetch::Sampled,
            _ => TexFetch::Storage,
        };
        assert_eq!(gpu.tex_fetch(), want, "{}", gpu.info.name);
        gpu.force_tex_fetch(TexFetch::Sampled);
        let geom = ConvGeom::new(2, 3, (5, 7), 4, (3, 3), 1, Padding::Same);
        let mut g = Graph::new();
        let a = g.input("a", &[4, 8]);
        let b = g.input("b", &[8, 12]);
        let x = g.input("x", &geom.in_shape());
        let w = g.input("w", &geom.weight_shape());
        let dy = g.input("dy", &geom.out_shape());
        let c = g.matmul("c", a, b, None, false, false, Act::Identity);
        let y = g.conv2d("y", x, w, None, geom, Act::Tanh);
        let dw = g.push(
            "dw",
            Op::ConvWeightGrad { geom },
            vec![x, dy],
            vec![geom.n, geom.weight_len()],
            DType::F32,
        );
        let dpre = g.push(
            "dpre",
            Op::ActivationBackward(Act::Tanh),
            vec![y, dy],
            geom.out_shape().to_vec(),
            DType::F32,
        );
        let quads = ConvGeom::new(2, 3, (5, 8), 4, (3, 3), 1, Padding::Same);
        let xq = g.input("xq", &quads.in_shape());
        let dyq = g.input("dyq", &quads.out_shape());
        let dwq = g.push(
            "dwq",
            Op::ConvWeightGrad { geom: quads },
            vec![xq, dyq],
            vec![quads.n, quads.weight_len()],
            DType::F32,
        );
        let feeds: HashMap<usize, Vec<f64>> = [a, b, x, w, dy, xq, dyq]
            .iter()
            .map(|&id| (id, randv(&mut rng, g.nodes[id].len(), -1.0, 1.0)))
            .collect();
        let opts = CompileOptions {
            matmul: shaderprop::ops::matmul::Variant::Texture,
            conv: conv::Variant::Texture,
            reads: shaderprop::ops::Reads::Texture,
            ..Default::default()
        };
        let mut res = Resources::new();
        let plan = Plan::compile_with(&g, &gpu, &mut res, &[c, y, dw, dpre, dwq], opts).unwrap();
        let entries: Vec<&str> = plan.dispatches.iter().map(|d| d.call.entry).collect();
        for e in ["matmul_tex", "conv2d_forward_tex", "conv2d_weight_grad_tex"] {
            assert!(entries.contains(&e), "{e} not in {entries:?}");
        }
        let walks: Vec<bool> = plan
            .dispatches
            .iter()
            .filter(|d| d.call.entry == "conv2d_weight_grad_tex")
            .map(|d| d.call.constants.contains(&("WG_QUADS", 1.0)))
            .collect();
        assert_eq!(
            walks,
            [false, true],
            "per-pixel walk for dw, four-pixel for dwq"
        );
        for (&id, v) in &feeds {
            plan.write_f32(&gpu, id, &f32s(v));
        }
        plan.run(&gpu, StepUniform::single(2, 0));
        let want = evaluate(&g, &feeds, StepUniform::single(2, 0));
        for (id, name) in [
            (c, "matmul"),
            (y, "conv"),
            (dw, "weight grad"),
            (dpre, "tanh'"),
            (dwq, "weight grad, four pixels a step"),
        ] {
            let got = plan.read(&gpu, &g, id).unwrap();
            let err = compare(&got, &want[id], 1e-5, 1e-4)
                .unwrap_or_else(|e| panic!("{} sampled {name}: {e}", gpu.info.backend));
            eprintln!("{} sampled {name}: {err:.2e}", gpu.info.backend);
        }

        // B staged in strips (`subgroup_strips`, an array texture) through the sampled front,
        // where subgroups run: lavapipe's Vulkan (GL has none).
        let strips = shaderprop::ops::matmul::Variant::SubgroupStrips;
        let shape = shaderprop::ops::matmul::MatmulShape {
            m: 4,
            n: 64,
            k: 8,
            trans_a: false,
            trans_b: false,
        };
        let vulkan = gpu.info.backend == wgpu::Backend::Vulkan;
        assert_eq!(strips.runs_on(&gpu, &shape), vulkan, "{}", gpu.info.name);
        if vulkan {
            let mut g = Graph::new();
            let a = g.input("a", &[4, 8]);
            let b = g.input("b", &[8, 64]);
            let c = g.matmul("c", a, b, None, false, false, Act::Identity);
            let feeds: HashMap<usize, Vec<f64>> = [a, b]
                .iter()
                .map(|&id| (id, randv(&mut rng, g.nodes[id].len(), -1.0, 1.0)))
                .collect();
            let opts = CompileOptions {
                matmul: strips,
                ..Default::default()
            };
            let plan = Plan::compile_with(&g, &gpu, &mut Resources::new(), &[c], opts).unwrap();
            assert_eq!(plan.dispatches[0].call.entry, "matmul_tex_sg_strips");
            for (&id, v) in &feeds {
                plan.write_f32(&gpu, id, &f32s(v));
            }
            plan.run(&gpu, StepUniform::single(4, 0));
            let want = evaluate(&g, &feeds, StepUniform::single(4, 0));
            let got = plan.read(&gpu, &g, c).unwrap();
            let err = compare(&got, &want[c], 1e-5, 1e-4)
                .unwrap_or_else(|e| panic!("sampled strips matmul: {e}"));
            eprintln!("sampled strips matmul: {err:.2e}");
        }
    }
}
