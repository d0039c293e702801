//! Per-device autotuning: which matmul, convolution and streaming-kernel variant runs a shape
//! fastest on *this* adapter, found by timing the candidates once and remembered on disk.
//!
//! When a plan meets a matmul, a convolution or a streaming kernel (see [`Reads`]) whose
//! variant is left to the engine
//! (`Auto`, the default of [`CompileOptions`]), it asks the context
//! ([`Gpu::matmul_variant`], [`Gpu::conv_variant`], [`Gpu::reads_variant`]). In order:
//! 1. a variant pinned with `--variant matmul=NAME` / `conv=NAME` / `reads=NAME` (when it
//!    can compute the shape on this device);
//! 2. with tuning on (the CLI's default; `--no-tune` turns it off), the cached choice for the
//!    shape's class on this device, or, the first time, the fastest of [`matmul::TUNED`] /
//!    [`conv::TUNED`] / [`Reads::TUNED`] timed at that exact shape (a warm-up timing each,
//!    then three rounds taking turns; each candidate's fastest timing counts), written to the
//!    cache at once. A streaming kernel's texture form is timed a second time without its
//!    texture copies ([`TEXTURE_SHARED`]): where a plan's earlier dispatches have staged
//!    every input it reads, that time is set against the storage form ([`reads_choice`]);
//! 3. the fixed rule: matmul `vec4` when M, N, K are multiples of 4, else `blocked`; conv
//!    `direct`; streaming kernels read storage buffers.
//!
//! The cache is one JSON file (`$SHADERPROP_TUNE_CACHE`, else
//! `$XDG_CACHE_HOME/shaderprop/tune.json`, else `~/.cache/shaderprop/tune.json`) holding, per
//! device key (adapter name, PCI ids, backend, driver and driver version, this crate's version
//! and a fingerprint of its WGSL), each shape class's choice and the milliseconds every
//! candidate took. Entries of other devices stay in the file and are never used; a new
//! driver, a new shaderprop version or a changed kernel tunes again. A shape class groups shapes by transposes, 4-alignment and each
//! dimension rounded up to a power of two, so a model's few matmul shapes cost a few tunings
//! and later batch sizes of the same order reuse them.
//!
//! Tuning changes which kernel runs, not what it computes: every variant is tested against
//! the same float64 twin. `vec4` and `texture` share one body and sum in the same order, as
//! do conv `direct` and `texture`; `blocked` and `subgroup` may round differently in the last
//! bits, as may the texture reads of the losses and row sums (four running sums), so a run
//! that must be bitwise reproducible on another machine should pin `--variant`.
//!
//! [`Gpu::matmul_variant`]: crate::gpu::Gpu::matmul_variant
//! [`Gpu::conv_variant`]: crate::gpu::Gpu::conv_variant
//! [`Gpu::reads_variant`]: crate::gpu::Gpu::reads_variant

use crate::bench::time_pass;
use crate::gpu::Gpu;
use crate::graph::plan::{CompileOptions, Plan, Resources};
use crate::graph::{DType, Graph, NodeId, Op};
use crate::ops::conv::{self, ConvGeom};
use crate::ops::matmul::{self, MatmulShape};
use crate::ops::{Act, Reads, StepUniform};
use crate::rng::Rng;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of the cache file's layout.
const FORMAT: u32 = 1;

/// One tuned shape class: the winner and what each candidate took.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The chosen variant (its `name()`: `subgroup`, `texture`, `direct`, ...).
    pub variant: String,
    /// The exact shape timed, `m×n×k`.
    pub shape: String,
    /// Milliseconds of each candidate that could compute the shape (its fastest timed run).
    pub ms: BTreeMap<String, f64>,
}

/// The file: device key → shape class → entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CacheFile {
    pub format: u32,
    pub devices: BTreeMap<String, BTreeMap<String, Entry>>,
}

/// The tuning state of one context.
pub struct Tuner {
    /// Where the cache lives (None: in memory only).
    pub path: Option<PathBuf>,
    /// This device's key in the file.
    pub device_key: String,
    file: CacheFile,
    /// Shape classes timed by this process (a test reads it to tell reuse from tuning).
    pub tuned: usize,
}

/// The cache path when none is given: `$SHADERPROP_TUNE_CACHE`, the XDG cache folder, or
/// `~/.cache`; None when none of them is set.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SHADERPROP_TUNE_CACHE") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("shaderprop").join("tune.json"))
}

/// The key a device's choices are filed under: what identifies the hardware, the driver that
/// compiles our kernels, and the kernels themselves (this crate's version and a fingerprint
/// of their WGSL, [`crate::gpu::kernels_fingerprint`]).
pub fn device_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {:?} | vendor {:#06x} device {:#06x} | driver {} {} | shaderprop {} kernels {:016x}",
        info.name,
        info.backend,
        info.vendor,
        info.device,
        info.driver,
        info.driver_info,
        env!("CARGO_PKG_VERSION"),
        crate::gpu::kernels_fingerprint()
    )
}

/// The class a shape is tuned and cached under.
pub fn shape_class(s: &MatmulShape) -> String {
    let p = |x: usize| x.next_power_of_two();
    format!(
        "matmul{}{}{} m{} n{} k{}",
        if s.trans_a { " Aᵀ" } else { "" },
        if s.trans_b { " Bᵀ" } else { "" },
        if s.vec4_aligned() { " x4" } else { "" },
        p(s.m),
        p(s.n),
        p(s.k)
    )
}

impl Tuner {
    /// Opens (or starts) the cache at `path` for the device `info`. An unreadable or
    /// malformed file is reported once and replaced on the next write, never fatal.
    pub fn open(path: Option<PathBuf>, info: &wgpu::AdapterInfo) -> Tuner {
        let file = match &path {
            Some(p) if p.exists() => match read(p) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("warning: ignoring the tune cache {}: {e:#}", p.display());
                    CacheFile::default()
                }
            },
            _ => CacheFile::default(),
        };
        Tuner {
            path,
            device_key: device_key(info),
            file,
            tuned: 0,
        }
    }

    /// This device's cached entry for `class`.
    pub fn get(&self, class: &str) -> Option<&Entry> {
        self.file.devices.get(&self.device_key)?.get(class)
    }

    /// Files `entry` under `class` for this device and writes the cache.
    pub fn put(&mut self, class: String, entry: Entry) {
        self.file.format = FORMAT;
        self.file
            .devices
            .entry(self.device_key.clone())
            .or_default()
            .insert(class, entry);
        if let Some(p) = &self.path {
            if let Err(e) = write(p, &self.file) {
                eprintln!(
                    "warning: could not write the tune cache {}: {e:#}",
                    p.display()
                );
            }
        }
    }
}

fn read(p: &Path) -> Result<CacheFile> {
    let text = std::fs::read_to_string(p)?;
    let f: CacheFile = serde_json::from_str(&text).context("not a shaderprop tune cache")?;
    anyhow::ensure!(
        f.format == FORMAT,
        "format {} (this build writes {FORMAT})",
        f.format
    );
    Ok(f)
}

fn write(p: &Path, f: &CacheFile) -> Result<()> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsio::write_atomic(p, serde_json::to_string_pretty(f)?.as_bytes())?;
    Ok(())
}

/// Rounds of [`time_interleaved`] after the warm-up.
const ROUNDS: usize = 3;

/// Times compiled single-kernel plans against each other: a warm-up timing of each, then
/// [`ROUNDS`] rounds in which every candidate still in the race is timed once, in turn (a
/// timing is [`time_pass`] with one sample: an untimed run, then a timed one). A
/// candidate's time is its fastest run: the work is the same every run, so a machine's noise
/// (other tenants, clock changes) only adds to it, and taking turns keeps a slow spell from
/// landing on one candidate alone (timed one after another, the same kernel's time moved 1.5×
/// between tunings on this project's 2-core VM). A candidate whose warm-up took over 50 ms,
/// or over 3× the best warm-up, leaves the race after it.
fn time_interleaved(gpu: &Gpu, plans: &[(&'static str, Plan)]) -> Result<Vec<(&'static str, f64)>> {
    let candidates: Vec<_> = plans.iter().map(|(name, p)| (*name, p, true)).collect();
    time_candidates_interleaved(gpu, &candidates)
}

/// [`time_interleaved`] over (name, plan, copies) candidates: with `copies` false a plan's
/// dispatches are timed without the texture copies staged before them (which must have been
/// made once already).
fn time_candidates_interleaved(
    gpu: &Gpu,
    candidates: &[(&'static str, &Plan, bool)],
) -> Result<Vec<(&'static str, f64)>> {
    let run = |&(_, plan, copies): &(&'static str, &Plan, bool)| {
        let n = plan.dispatches.len();
        time_pass(gpu, 1, 1, &|enc, _| match copies {
            true => plan.record(enc, 0..n),
            false => plan.record_dispatches(enc, 0..n),
        })
    };
    let mut best = Vec::with_capacity(candidates.len());
    for c in candidates {
        best.push(run(c)?);
    }
    let copies: Vec<bool> = candidates.iter().map(|c| c.2).collect();
    let racing = racing_on(&best, &copies);
    for _ in 0..ROUNDS {
        for &i in &racing {
            best[i] = best[i].min(run(&candidates[i])?);
        }
    }
    Ok(candidates.iter().map(|c| c.0).zip(best).collect())
}

/// [`still_racing`] among the candidates that pay for their copies (`copies[i]`); a copy-less
/// timing (the fastest by design) always races on, and never pushes one of them out.
fn racing_on(warm: &[f64], copies: &[bool]) -> Vec<usize> {
    let real: Vec<usize> = (0..warm.len()).filter(|&i| copies[i]).collect();
    let warm_real: Vec<f64> = real.iter().map(|&i| warm[i]).collect();
    let mut racing: Vec<usize> = still_racing(&warm_real)
        .into_iter()
        .map(|k| real[k])
        .collect();
    racing.extend((0..warm.len()).filter(|&i| !copies[i]));
    racing
}

/// The candidates (indices) that race on after their warm-up timings `warm` (seconds):
/// those within 50 ms and within 3× the fastest warm-up.
fn still_racing(warm: &[f64]) -> Vec<usize> {
    let fastest = warm.iter().copied().fold(f64::INFINITY, f64::min);
    (0..warm.len())
        .filter(|&i| warm[i] <= 0.05 && warm[i] <= 3.0 * fastest)
        .collect()
}

/// The entry naming the fastest of `timed` (name, seconds).
fn fastest(shape: String, timed: Vec<(&'static str, f64)>) -> Result<Entry> {
    let (name, _) = timed
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .context("no variant can compute this shape")?;
    Ok(Entry {
        variant: name.to_string(),
        shape,
        ms: timed
            .iter()
            .map(|(n, t)| (n.to_string(), t * 1e3))
            .collect(),
    })
}

/// Times every tuned candidate that can compute `s` on `gpu` (a one-node plan, random
/// operands) and returns the entry naming the fastest.
pub fn time_candidates(gpu: &Gpu, s: MatmulShape) -> Result<Entry> {
    let mut plans = Vec::new();
    for v in matmul::TUNED {
        if !v.runs_on(gpu, &s) {
            continue;
        }
        let mut g = Graph::new();
        let a = g.input("a", &if s.trans_a { [s.k, s.m] } else { [s.m, s.k] });
        let b = g.input("b", &if s.trans_b { [s.n, s.k] } else { [s.k, s.n] });
        let c = g.matmul("c", a, b, None, s.trans_a, s.trans_b, Act::Identity);
        let opts = CompileOptions {
            matmul: v,
            ..Default::default()
        };
        let plan = Plan::compile_with(&g, gpu, &mut Resources::new(), &[c], opts)?;
        let mut rng = Rng::new(7);
        plan.write_f32(gpu, a, &rng.vec_f32(s.m * s.k, -1.0, 1.0));
        plan.write_f32(gpu, b, &rng.vec_f32(s.k * s.n, -1.0, 1.0));
        plan.set_step(gpu, StepUniform::single(s.m, 0));
        plans.push((v.name(), plan));
    }
    fastest(
        format!("{}×{}×{}", s.m, s.n, s.k),
        time_interleaved(gpu, &plans)?,
    )
}

/// `n×c_in×h×w→c_out kKsS` of a convolution.
pub fn conv_shape(g: &ConvGeom) -> String {
    format!(
        "{}×{}×{}×{}→{} k{}s{}{}",
        g.n,
        g.c_in,
        g.h,
        g.w,
        g.c_out,
        g.kh,
        g.stride,
        if g.up == 2 {
            " (input ×2 on the fly)"
        } else {
            ""
        }
    )
}

/// The class a convolution kernel is tuned and cached under: its geometry, with the batch
/// rounded up to a power of two.
pub fn conv_class(g: &ConvGeom, kernel: conv::Kernel) -> String {
    format!(
        "conv2d_{} n{} c{}→{} {}×{}→{}×{} k{}×{} s{}{}",
        kernel.name(),
        g.n.next_power_of_two(),
        g.c_in,
        g.c_out,
        g.h,
        g.w,
        g.h_out,
        g.w_out,
        g.kh,
        g.kw,
        g.stride,
        if g.up == 2 { " up2" } else { "" }
    )
}

/// A graph of the one node that runs `kernel` at `geom` (its inputs: x, w, bias, dy).
pub fn conv_graph(geom: ConvGeom, kernel: conv::Kernel) -> (Graph, Vec<NodeId>, NodeId) {
    // Where the forward reads its input upsampled on the fly, the input gradient is a
    // stride-2 convolution with the weights folded (as the model runs it).
    let folded = (kernel == conv::Kernel::BackwardInput && geom.up == 2)
        .then(|| geom.folded_input_gradient());
    let mut g = Graph::new();
    let x = g.input("x", &geom.in_shape());
    let w = g.input("w", &folded.unwrap_or(geom).weight_shape());
    let b = g.input("b", &[geom.c_out]);
    let dy = g.input("dy", &geom.out_shape());
    let out = match (kernel, folded) {
        (conv::Kernel::Forward, _) => g.conv2d("y", x, w, Some(b), geom, Act::Relu),
        (conv::Kernel::BackwardInput, Some(fold)) => {
            g.conv2d("dx", dy, w, None, fold, Act::Identity)
        }
        (conv::Kernel::BackwardInput, None) => {
            g.conv_transpose2d("dx", dy, w, None, geom, Act::Identity)
        }
        (conv::Kernel::WeightGrad, _) => g.push(
            "dw",
            Op::ConvWeightGrad { geom },
            vec![x, dy],
            vec![geom.n, geom.weight_len()],
            DType::F32,
        ),
    };
    (g, vec![x, w, b, dy], out)
}

/// Times the tuned convolution variants for `kernel` at `geom` and names the fastest.
pub fn time_conv_candidates(gpu: &Gpu, geom: ConvGeom, kernel: conv::Kernel) -> Result<Entry> {
    let mut plans = Vec::new();
    for v in conv::TUNED
        .into_iter()
        .filter(|v| v.runs_on(gpu, &geom, kernel))
    {
        let (g, inputs, out) = conv_graph(geom, kernel);
        let opts = CompileOptions {
            conv: v,
            ..Default::default()
        };
        let plan = Plan::compile_with(&g, gpu, &mut Resources::new(), &[out], opts)?;
        let mut rng = Rng::new(7);
        for id in inputs {
            plan.write_f32(gpu, id, &rng.vec_f32(g.nodes[id].len(), -1.0, 1.0));
        }
        plan.set_step(gpu, StepUniform::single(geom.n, 0));
        plans.push((v.name(), plan));
    }
    fastest(conv_shape(&geom), time_interleaved(gpu, &plans)?)
}

/// The class and shape of streaming node `id` of `g`: the storage kernel's entry and its
/// first input's shape, each dimension rounded up to a power of two.
pub fn reads_class(g: &Graph, id: NodeId) -> (String, String) {
    let storage = crate::graph::plan::kernel_call(
        g,
        id,
        CompileOptions {
            reads: Reads::Storage,
            ..Default::default()
        },
    );
    let dims = |round: bool| {
        g.shape(g.nodes[id].inputs[0])
            .iter()
            .map(|&d| if round { d.next_power_of_two() } else { d }.to_string())
            .collect::<Vec<_>>()
            .join("×")
    };
    (format!("{} {}", storage.entry, dims(true)), dims(false))
}

/// A graph of node `id` of `g` alone: its inputs become host-fed tensors of the same shapes
/// and types. Returns the graph, those inputs and the node.
pub fn one_node_graph(g: &Graph, id: NodeId) -> (Graph, Vec<NodeId>, NodeId) {
    let node = &g.nodes[id];
    let mut one = Graph::new();
    let inputs: Vec<NodeId> = node
        .inputs
        .iter()
        .enumerate()
        .map(|(k, &x)| one.input_typed(&format!("in{k}"), g.shape(x), g.nodes[x].dtype))
        .collect();
    let out = one.push(
        node.name.clone(),
        node.op,
        inputs.clone(),
        node.shape.clone(),
        node.dtype,
    );
    (one, inputs, out)
}

/// Fills `inputs` of `plan` (compiled from `g`, computing `out`) for timing: floats uniform in
/// [−1, 1), u32 inputs (a batch's sample indices) spread evenly over the largest tensor the
/// node touches, as real indices are. (Random float bits would all be out of range: clamped
/// to one address, the storage form would look cached.)
pub fn write_random_inputs(
    gpu: &Gpu,
    plan: &Plan,
    g: &Graph,
    inputs: &[NodeId],
    out: NodeId,
    rng: &mut Rng,
) {
    let span = inputs
        .iter()
        .chain([&out])
        .map(|&x| g.nodes[x].len())
        .max()
        .unwrap_or(1);
    for &x in inputs {
        let len = g.nodes[x].len();
        if g.nodes[x].dtype == DType::U32 {
            let idx: Vec<u32> = (0..len).map(|i| (i * span / len.max(1)) as u32).collect();
            plan.write_u32(gpu, x, &idx);
        } else {
            plan.write_f32(gpu, x, &rng.vec_f32(len, -1.0, 1.0));
        }
    }
}

/// The key of [`Entry::ms`] for a streaming kernel's texture form timed without its texture
/// copies: what it costs in a step where earlier dispatches have staged its inputs already.
pub const TEXTURE_SHARED: &str = "texture_shared";

/// Times the read paths of streaming node `id` of `g` in a graph of that node alone (random
/// inputs of the same shapes) and names the fastest. The texture form is timed twice: with
/// its copies (the entry's choice) and without them ([`TEXTURE_SHARED`], see
/// [`reads_choice`]).
pub fn time_reads_candidates(gpu: &Gpu, g: &Graph, id: NodeId) -> Result<Entry> {
    let (one, inputs, out) = one_node_graph(g, id);
    let mut plans = Vec::new();
    for r in Reads::TUNED {
        let opts = CompileOptions {
            reads: r,
            ..Default::default()
        };
        let plan = Plan::compile_with(&one, gpu, &mut Resources::new(), &[out], opts)?;
        write_random_inputs(gpu, &plan, &one, &inputs, out, &mut Rng::new(7));
        plan.set_step(gpu, StepUniform::single(one.shape(inputs[0])[0], 0));
        plans.push((r, plan));
    }
    let mut candidates: Vec<_> = plans.iter().map(|(r, p)| (r.name(), p, true)).collect();
    if let Some((_, tex)) = plans
        .iter()
        .find(|(r, p)| *r == Reads::Texture && p.dispatches.iter().any(|d| !d.copies.is_empty()))
    {
        // Stage the copies once, then time the dispatch alone.
        tex.run(gpu, StepUniform::single(one.shape(inputs[0])[0], 0));
        candidates.push((TEXTURE_SHARED, tex, false));
    }
    let timed = time_candidates_interleaved(gpu, &candidates)?;
    let (choices, shared): (Vec<_>, Vec<_>) = timed
        .into_iter()
        .partition(|(name, _)| *name != TEXTURE_SHARED);
    let mut entry = fastest(reads_class(g, id).1, choices)?;
    entry
        .ms
        .extend(shared.iter().map(|(n, t)| (n.to_string(), t * 1e3)));
    Ok(entry)
}

/// How a streaming kernel with tuning `entry` reads in a plan: the entry's choice, unless
/// every input its texture form reads is already staged by an earlier dispatch of the step
/// (`inputs_staged`); then its copies cost the step nothing more, and the texture form
/// timed without them ([`TEXTURE_SHARED`]) is set against the storage form. Timed alone,
/// a texture form pays for copies another dispatch has made: the dense step's decoder-bias
/// column sum took the storage form at 0.17 ms where the texture form, reading the copy of
/// dz that the d_encoder matmul before it had made, takes 0.06.
pub fn reads_choice(entry: &Entry, inputs_staged: bool) -> Option<Reads> {
    let timed = |name: &str| entry.ms.get(name).copied();
    if let (true, Some(shared), Some(storage)) = (
        inputs_staged,
        timed(TEXTURE_SHARED),
        timed(Reads::Storage.name()),
    ) {
        return Some(if shared < storage {
            Reads::Texture
        } else {
            Reads::Storage
        });
    }
    Reads::from_name(&entry.variant).filter(|r| *r != Reads::Auto)
}

#[cfg(test)]
mod tests {
    use super::{racing_on, reads_choice, still_racing, Entry, TEXTURE_SHARED};
    use crate::ops::Reads;

    #[test]
    fn a_copy_less_timing_races_on_and_pushes_no_candidate_out() {
        // Storage 0.17 ms, texture with its copy 0.2, texture without it 0.05: against the
        // 0.05 both others would be over 3× and leave; among themselves both race on.
        assert_eq!(
            racing_on(&[0.00017, 0.0002, 0.00005], &[true, true, false]),
            vec![0, 1, 2]
        );
        // The 3× rule still holds among the candidates that pay for their copies.
        assert_eq!(
            racing_on(&[0.001, 0.0031, 0.0002], &[true, true, false]),
            vec![0, 2]
        );
    }

    #[test]
    fn a_texture_form_whose_inputs_are_staged_already_is_weighed_without_its_copies() {
        let entry = |variant: &str, ms: &[(&str, f64)]| Entry {
            variant: variant.into(),
            shape: "256×784".into(),
            ms: ms.iter().map(|&(n, t)| (n.to_string(), t)).collect(),
        };
        let e = entry(
            "storage",
            &[
                ("storage", 0.198),
                ("texture", 0.201),
                (TEXTURE_SHARED, 0.06),
            ],
        );
        assert_eq!(reads_choice(&e, false), Some(Reads::Storage));
        assert_eq!(reads_choice(&e, true), Some(Reads::Texture));
        // Slower even without its copies: storage either way.
        let e = entry(
            "storage",
            &[("storage", 0.05), ("texture", 0.2), (TEXTURE_SHARED, 0.07)],
        );
        assert_eq!(reads_choice(&e, true), Some(Reads::Storage));
        // The texture form staged nothing (no shared timing): the entry's choice.
        let e = entry("texture", &[("storage", 0.3), ("texture", 0.2)]);
        assert_eq!(reads_choice(&e, true), Some(Reads::Texture));
        assert_eq!(reads_choice(&entry("auto", &[]), false), None);
    }

    #[test]
    fn candidates_over_50_ms_or_3x_the_fastest_warm_up_leave_the_race() {
        // 1 ms fastest: 2.9 ms races, 3.1 ms does not; 60 ms never does.
        assert_eq!(still_racing(&[0.0029, 0.001, 0.0031, 0.06]), vec![0, 1]);
        // All slow but close: only the 50 ms cap applies.
        assert_eq!(still_racing(&[0.04, 0.05, 0.051]), vec![0, 1]);
        assert_eq!(still_racing(&[0.002]), vec![0]);
    }
}
