//! Autotuning: the cache is written on first use, reused by the next context, ignored for
//! another adapter, survives a corrupt file, and `--variant` (force_variants) beats it. And a
//! CPU device's compute workers pinned one to a core (src/gpu/workers.rs).

mod common;

use common::{f64s, gpu, gpus};
use shaderprop::gpu::workers;
use shaderprop::graph::plan::{Plan, Resources};
use shaderprop::graph::{Graph, NodeId};
use shaderprop::ops::matmul::{self, MatmulShape, Variant};
use shaderprop::ops::{compare, Act, StepUniform};
use shaderprop::rng::Rng;
use shaderprop::tune::{self, CacheFile};
use std::path::{Path, PathBuf};

/// An aligned shape (every tuned variant competes) and one that only `blocked` can compute.
const ALIGNED: MatmulShape = MatmulShape {
    m: 64,
    n: 48,
    k: 40,
    trans_a: false,
    trans_b: true,
};
const ODD: MatmulShape = MatmulShape {
    m: 30,
    n: 21,
    k: 10,
    trans_a: true,
    trans_b: false,
};

fn cache_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shaderprop-tune-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("nested").join("tune.json")
}

fn read(p: &Path) -> CacheFile {
    serde_json::from_str(&std::fs::read_to_string(p).expect("cache file written"))
        .expect("cache is JSON")
}

/// A graph with one matmul of each shape.
fn graph() -> (Graph, Vec<(NodeId, NodeId, NodeId, MatmulShape)>) {
    let mut g = Graph::new();
    let mut mms = Vec::new();
    for (i, s) in [ALIGNED, ODD].into_iter().enumerate() {
        let a = g.input(
            &format!("a{i}"),
            &if s.trans_a { [s.k, s.m] } else { [s.m, s.k] },
        );
        let b = g.input(
            &format!("b{i}"),
            &if s.trans_b { [s.n, s.k] } else { [s.k, s.n] },
        );
        let c = g.matmul(
            &format!("c{i}"),
            a,
            b,
            None,
            s.trans_a,
            s.trans_b,
            Act::Identity,
        );
        mms.push((a, b, c, s));
    }
    (g, mms)
}

/// Compiles the graph on `gpu`, checks both products against the float64 twin, and returns
/// the entry point each matmul ran.
fn compile_and_check(gpu: &shaderprop::gpu::Gpu) -> Vec<&'static str> {
    let (g, mms) = graph();
    let keep: Vec<NodeId> = mms.iter().map(|m| m.2).collect();
    let mut res = Resources::new();
    let plan = Plan::compile(&g, gpu, &mut res, &keep).expect("compile");
    let mut rng = Rng::new(3);
    let mut feeds = Vec::new();
    for &(a, b, _, s) in &mms {
        let av = rng.vec_f32(s.m * s.k, -1.0, 1.0);
        let bv = rng.vec_f32(s.k * s.n, -1.0, 1.0);
        plan.write_f32(gpu, a, &av);
        plan.write_f32(gpu, b, &bv);
        feeds.push((av, bv));
    }
    plan.run(gpu, StepUniform::single(1, 0));
    for (&(_, _, c, s), (av, bv)) in mms.iter().zip(&feeds) {
        let want = matmul::forward_ref(&f64s(av), &f64s(bv), None, s, Act::Identity);
        let got = plan.read(gpu, &g, c).unwrap();
        compare(&got, &want, 1e-4, 1e-4).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
    plan.dispatches.iter().map(|d| d.call.entry).collect()
}

#[test]
fn the_tune_cache_is_written_reused_and_ignored_for_another_adapter() {
    let path = cache_path("cache");

    // First context: nothing cached, both shape classes are timed and written.
    let first = gpu();
    first.enable_tuning(Some(path.clone()));
    let entries = compile_and_check(&first);
    assert_eq!(first.tunings_run(), 2, "both classes tuned on first use");
    let file = read(&path);
    let key = tune::device_key(&first.info);
    // Filed under the kernels' fingerprint too: a changed kernel is timed again.
    assert!(
        key.ends_with(&format!(
            "kernels {:016x}",
            shaderprop::gpu::kernels_fingerprint()
        )),
        "{key}"
    );
    let mine = file
        .devices
        .get(&key)
        .expect("entries under this device's key");
    let aligned = &mine[&tune::shape_class(&ALIGNED)];
    let names: Vec<&str> = matmul::TUNED.iter().map(|v| v.name()).collect();
    assert!(names.contains(&aligned.variant.as_str()));
    let candidates = matmul::TUNED
        .iter()
        .filter(|v| v.runs_on(&first, &ALIGNED))
        .count();
    assert!(candidates >= 3, "vec4, texture and blocked run anywhere");
    assert_eq!(
        aligned.ms.len(),
        candidates,
        "every candidate that runs here is timed: {aligned:?}"
    );
    assert!(aligned.ms.values().all(|t| t.is_finite() && *t > 0.0));
    let fastest = aligned
        .ms
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(n, _)| n.clone())
        .unwrap();
    assert_eq!(aligned.variant, fastest, "the fastest candidate is chosen");
    let odd = &mine[&tune::shape_class(&ODD)];
    assert_eq!(odd.variant, "blocked", "only blocked computes a 30×21×10");
    let entry_of = |v: Variant| match v {
        Variant::Vec4 => "matmul_vec4",
        Variant::Texture => "matmul_tex",
        Variant::Subgroup | Variant::Subgroup32 => "matmul_tex_sg",
        Variant::SubgroupPipe => "matmul_tex_sg_pipe",
        Variant::SubgroupStrips => "matmul_tex_sg_strips",
        _ => "matmul",
    };
    assert_eq!(
        entries[0],
        entry_of(Variant::from_name(&aligned.variant).unwrap())
    );

    // Second context, same device: the cache decides, nothing is timed. To tell reuse
    // from a re-tune that happens to agree, file a choice for the aligned class that differs
    // from the one tuned (any variant computes it correctly).
    let planted = if aligned.variant == "blocked" {
        "texture"
    } else {
        "blocked"
    };
    let mut edited = file.clone();
    edited
        .devices
        .get_mut(&key)
        .unwrap()
        .get_mut(&tune::shape_class(&ALIGNED))
        .unwrap()
        .variant = planted.into();
    std::fs::write(&path, serde_json::to_string(&edited).unwrap()).unwrap();
    let second = gpu();
    second.enable_tuning(Some(path.clone()));
    let entries = compile_and_check(&second);
    assert_eq!(second.tunings_run(), 0, "every choice came from the cache");
    assert_eq!(entries[0], entry_of(Variant::from_name(planted).unwrap()));

    // Another adapter's entries (same file, other key) are ignored: this device tunes anew
    // and the other entries stay as they were.
    let mut moved = CacheFile {
        format: edited.format,
        ..Default::default()
    };
    let other =
        "another adapter | Vulkan | vendor 0x10de device 0x2330 | driver x 1 | shaderprop 0";
    moved
        .devices
        .insert(other.into(), edited.devices[&key].clone());
    std::fs::write(&path, serde_json::to_string(&moved).unwrap()).unwrap();
    let third = gpu();
    third.enable_tuning(Some(path.clone()));
    compile_and_check(&third);
    assert_eq!(
        third.tunings_run(),
        2,
        "another adapter's choices are not used"
    );
    let after = read(&path);
    assert_eq!(after.devices.len(), 2);
    assert_eq!(after.devices[other], edited.devices[&key]);
    assert_eq!(after.devices[&key].len(), 2);
}

#[test]
fn a_corrupt_cache_is_replaced_and_a_pinned_variant_beats_the_tuner() {
    let path = cache_path("corrupt");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{ not json").unwrap();
    let g = gpu();
    g.enable_tuning(Some(path.clone()));
    compile_and_check(&g);
    assert_eq!(g.tunings_run(), 2);
    assert_eq!(read(&path).devices.len(), 1, "rewritten as a valid cache");

    // Pinned: the texture variant for the aligned product, whatever the cache says; the odd
    // shape, which it cannot compute, falls back to the cache's choice.
    let pinned = gpu();
    pinned.enable_tuning(Some(path.clone()));
    pinned.force_variants(Variant::Texture, Default::default(), Default::default());
    let entries = compile_and_check(&pinned);
    assert_eq!(entries, ["matmul_tex", "matmul"]);
    assert_eq!(pinned.tunings_run(), 0);

    // Tuning off: the fixed rule.
    let off = gpu();
    assert_eq!(compile_and_check(&off), ["matmul_vec4", "matmul"]);
    assert_eq!(off.tunings_run(), 0);
}

#[test]
fn a_class_choice_that_cannot_run_at_a_shape_falls_back_to_the_same_kernel_with_b_as_it_lies() {
    // 16×64×8 and 16×48×8 share a shape class; `subgroup_strips` needs N a multiple of 64.
    let strips = MatmulShape {
        m: 16,
        n: 64,
        k: 8,
        trans_a: false,
        trans_b: false,
    };
    let narrow = MatmulShape { n: 48, ..strips };
    assert_eq!(tune::shape_class(&strips), tune::shape_class(&narrow));
    let path = cache_path("fallback");
    let first = gpu();
    assert!(
        Variant::SubgroupStrips.runs_on(&first, &strips),
        "the test device (lavapipe) runs the subgroup kernels"
    );
    assert!(!Variant::SubgroupStrips.runs_on(&first, &narrow));
    first.enable_tuning(Some(path.clone()));
    first.matmul_variant(&strips).unwrap();
    assert_eq!(first.tunings_run(), 1);
    let mut file = read(&path);
    for class in file.devices.values_mut() {
        class.get_mut(&tune::shape_class(&strips)).unwrap().variant = "subgroup_strips".into();
    }
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let second = gpu();
    second.enable_tuning(Some(path));
    assert_eq!(
        second.matmul_variant(&strips).unwrap(),
        Variant::SubgroupStrips
    );
    assert_eq!(
        second.matmul_variant(&narrow).unwrap(),
        Variant::SubgroupPipe
    );
    assert_eq!(second.tunings_run(), 0);
}

/// The bench times rows read against each other in turns, not one after another: the
/// warm-up sample of each, then rounds of one sample each (each sample `reps` recordings).
#[test]
fn bench_samples_compared_workloads_in_turns() {
    let gpu = gpu();
    let log = std::cell::RefCell::new(Vec::new());
    let records: Vec<_> = (0..3usize)
        .map(|i| {
            let log = &log;
            move |_: &mut wgpu::CommandEncoder, r: u32| log.borrow_mut().push((i, r))
        })
        .collect();
    let reps = [2u32, 1, 3];
    let work: Vec<(u32, shaderprop::bench::Record)> = reps
        .iter()
        .zip(&records)
        .map(|(&n, r)| (n, r as shaderprop::bench::Record))
        .collect();
    let times = shaderprop::bench::time_in_turns(&gpu, 4, &work).unwrap();
    assert_eq!(times.len(), 3);
    assert!(times.iter().all(|t| t.is_finite() && *t > 0.0), "{times:?}");
    let one_round: Vec<(usize, u32)> = reps
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| (0..n).map(move |r| (i, r)))
        .collect();
    // Warm-up round + 4 timed rounds, each in the workloads' order.
    assert_eq!(*log.borrow(), one_round.repeat(5));
}

/// On a CPU device, where this process may use two or more CPUs, the driver's compute worker
/// threads are pinned one to a core: at least two, on distinct CPUs (round-robin past as many
/// as there are CPUs), each a thread of this process allowed exactly its CPU, and each running
/// the next kernels (its CPU clock moves across a dispatch). With SHADERPROP_PIN_WORKERS=0,
/// one worker (LP_NUM_THREADS=1), on one CPU or on a GPU, none.
#[test]
fn a_cpu_devices_compute_workers_are_pinned_one_to_a_core() {
    let cpus = workers::allowed_cpus(0);
    let env = |k: &str| std::env::var(k).ok();
    let off = env("SHADERPROP_PIN_WORKERS").as_deref() == Some("0")
        || env("LP_NUM_THREADS").is_some_and(|n| n.trim().parse::<u32>().is_ok_and(|n| n < 2));
    for gpu in gpus() {
        let pinned = gpu.pinned_workers().to_vec();
        let backend = gpu.info.backend;
        if !gpu.is_cpu() || cpus.len() < 2 || off {
            assert!(pinned.is_empty(), "{backend}: {pinned:?}");
            continue;
        }
        assert!(pinned.len() >= 2, "{backend}: {pinned:?} on CPUs {cpus:?}");
        for (i, &(tid, cpu)) in pinned.iter().enumerate() {
            assert_eq!(cpu, cpus[i % cpus.len()], "{backend}: {pinned:?}");
            assert!(
                workers::threads().contains(&tid),
                "{backend}: thread {tid} gone"
            );
            assert_eq!(workers::allowed_cpus(tid), [cpu], "{backend}: thread {tid}");
        }
        let before: Vec<_> = pinned.iter().map(|w| workers::cpu_time_ns(w.0)).collect();
        shaderprop::bench::ceilings(&gpu, true).expect("ceilings");
        for (&(tid, _), t0) in pinned.iter().zip(before) {
            let (t0, t1) = (
                t0.expect("clock"),
                workers::cpu_time_ns(tid).expect("clock"),
            );
            assert!(
                t1 > t0,
                "{backend}: thread {tid} ran no dispatch ({t0} → {t1} ns)"
            );
        }
    }
}

/// A streaming kernel whose texture form would read only copies an earlier dispatch of the
/// step has staged is weighed by its time without those copies (`tune::TEXTURE_SHARED`),
/// not by its entry's choice, which was timed paying for them. z [64, 40] feeds a column sum
/// then a row sum. The cache is tuned once and then edited: the column sum's class set to
/// `texture` (so it stages z) or `storage` (so nothing is staged), the row sum's to
/// `storage` with its shared texture timing faster or slower than storage. The row sum
/// takes its texture form exactly when z is staged and the shared timing is faster; both
/// sums match their float64 twins either way.
#[test]
fn a_streaming_kernel_reading_copies_staged_earlier_is_weighed_without_them() {
    use shaderprop::graph::{DType, Op};
    use shaderprop::ops::reduce;
    let path = cache_path("shared");
    let (rows, cols) = (64, 40);
    let mut g = Graph::new();
    let z = g.input("z", &[rows, cols]);
    let c = g.push("c", Op::ColumnSum, vec![z], vec![cols], DType::F32);
    let r = g.push("r", Op::RowSum, vec![z], vec![rows], DType::F32);
    let zv = Rng::new(11).vec_f32(rows * cols, -1.0, 1.0);
    let run = |gpu: &shaderprop::gpu::Gpu| {
        let plan = Plan::compile(&g, gpu, &mut Resources::new(), &[c, r]).expect("compile");
        plan.write_f32(gpu, z, &zv);
        plan.run(gpu, StepUniform::single(rows, 0));
        let got_c = plan.read(gpu, &g, c).unwrap();
        let got_r = plan.read(gpu, &g, r).unwrap();
        compare(
            &got_c,
            &reduce::column_sum_ref(&f64s(&zv), rows, cols),
            1e-5,
            1e-5,
        )
        .unwrap();
        compare(
            &got_r,
            &reduce::row_sum_ref(&f64s(&zv), rows, cols),
            1e-5,
            1e-5,
        )
        .unwrap();
        let entries: Vec<&str> = plan.dispatches.iter().map(|d| d.call.entry).collect();
        entries
    };
    let first = gpu();
    first.enable_tuning(Some(path.clone()));
    run(&first);
    let tuned = read(&path);
    let key = tune::device_key(&first.info);
    let (c_class, r_class) = (tune::reads_class(&g, c).0, tune::reads_class(&g, r).0);
    let shared = tuned.devices[&key][&r_class]
        .ms
        .get(tune::TEXTURE_SHARED)
        .copied();
    assert!(
        shared.is_some_and(|t| t.is_finite() && t > 0.0),
        "the row sum's texture form is timed without its copies too: {:?}",
        tuned.devices[&key][&r_class]
    );
    for (column_sum_reads, shared_ms, want) in [
        ("texture", 0.5, "row_sum_tex"),
        ("texture", 1.5, "row_sum"),
        ("storage", 0.5, "row_sum"),
    ] {
        let mut edited = tuned.clone();
        let mine = edited.devices.get_mut(&key).unwrap();
        mine.get_mut(&c_class).unwrap().variant = column_sum_reads.into();
        let e = mine.get_mut(&r_class).unwrap();
        e.variant = "storage".into();
        e.ms = [
            ("storage".to_string(), 1.0),
            ("texture".to_string(), 2.0),
            (tune::TEXTURE_SHARED.to_string(), shared_ms),
        ]
        .into_iter()
        .collect();
        std::fs::write(&path, serde_json::to_string(&edited).unwrap()).unwrap();
        let ctx = gpu();
        ctx.enable_tuning(Some(path.clone()));
        let entries = run(&ctx);
        assert_eq!(ctx.tunings_run(), 0, "every choice came from the cache");
        assert_eq!(
            entries[1], want,
            "column sum reads {column_sum_reads}, shared texture row sum {shared_ms} ms \
             against storage 1 ms: {entries:?}"
        );
    }
}
