//! `shaderprop bench`: the device's own ceilings, then kernels measured against them.
//!
//! Ceilings come from our own kernels (`shaders/bench.wgsl`): memory bandwidth from a large
//! vec4 copy (bytes read + written; the faster of reading a storage buffer and reading a
//! texture), arithmetic rate from long chains of independent FMAs.
//! Kernels are timed with GPU timestamp queries when the adapter has them (lavapipe does),
//! otherwise with a synchronised wall clock; one warm-up, then the median of several samples,
//! each sample being `reps` back-to-back runs of the kernel (with any texture or uniform
//! copies its variant needs), cycling through copies of its inputs so none is found cached.
//! Rows that are read against each other (one shape's variants, one step's dispatches) take
//! their samples in turns ([`time_in_turns`]), so a machine's drift bends no ratio.
//! The `load_*` rows measure what a scattered load costs through a storage buffer, a uniform
//! buffer, a sampled texture and a read-only storage texture.

use crate::cli::BenchArgs;
use crate::gpu::{dispatch, Gpu, GpuError, Shader, TexFetch};
use crate::graph::plan::{CompileOptions, Plan, Resources};
use crate::graph::Graph;
use crate::ops::conv::Variant as ConvVariant;
use crate::ops::matmul::{MatmulShape, Variant};
use crate::ops::{Act, StepUniform};
use crate::rng::Rng;
use anyhow::Result;
use std::time::Instant;

/// One row of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRow {
    pub kernel: String,
    pub shape: String,
    pub variant: String,
    pub median_ms: f64,
    pub gflops: f64,
    pub gbps: f64,
    /// Percent of the relevant ceiling (FMA rate for compute-bound, bandwidth otherwise).
    pub pct_of_ceiling: f64,
}

/// The device's measured ceilings.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ceilings {
    /// The faster of the two copies: what a kernel's GB/s is read against.
    pub bandwidth_gbps: f64,
    /// The copy that reads a storage buffer.
    pub copy_buffer_gbps: f64,
    /// The copy that reads a texture (sampled or as a storage texture, as the device's
    /// texture fronts fetch).
    pub copy_texture_gbps: f64,
    pub fma_gflops: f64,
}

/// Records one repetition of a timed workload into an encoder; the argument is the
/// repetition's index, for rotating inputs.
pub type Record<'a> = &'a dyn Fn(&mut wgpu::CommandEncoder, u32);

/// Takes timing samples: GPU timestamps where the adapter has them (an empty pass before a
/// sample's reps writes the start and an empty pass after them the end, so copies between
/// passes are timed too), else the synchronised wall clock.
struct Timer {
    query: Option<wgpu::QuerySet>,
    resolve: wgpu::Buffer,
}

impl Timer {
    fn new(gpu: &Gpu) -> Timer {
        let timestamps = gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY);
        Timer {
            query: timestamps.then(|| {
                gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("bench timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                })
            }),
            resolve: gpu.buffer(
                "bench resolve",
                16,
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
        }
    }

    /// Seconds per rep of one sample: `reps` back-to-back recordings, one submission.
    fn sample(&self, gpu: &Gpu, reps: u32, record: Record) -> Result<f64> {
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("bench"),
            });
        let mark = |enc: &mut wgpu::CommandEncoder, begin: Option<u32>, end: Option<u32>| {
            if let Some(q) = &self.query {
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("bench timestamp"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: q,
                        beginning_of_pass_write_index: begin,
                        end_of_pass_write_index: end,
                    }),
                });
            }
        };
        mark(&mut enc, Some(0), None);
        for r in 0..reps {
            record(&mut enc, r);
        }
        mark(&mut enc, None, Some(1));
        if let Some(q) = &self.query {
            enc.resolve_query_set(q, 0..2, &self.resolve, 0);
        }
        gpu.wait()?;
        let t = Instant::now();
        gpu.queue.submit([enc.finish()]);
        gpu.wait()?;
        let wall = t.elapsed().as_secs_f64();
        let secs = if self.query.is_some() {
            let ts = gpu.read_u32(&self.resolve, 4)?;
            let begin = ts[0] as u64 | (ts[1] as u64) << 32;
            let end = ts[2] as u64 | (ts[3] as u64) << 32;
            let gpu_secs =
                end.saturating_sub(begin) as f64 * gpu.queue.get_timestamp_period() as f64 * 1e-9;
            if gpu_secs > 0.0 {
                gpu_secs
            } else {
                wall
            }
        } else {
            wall
        };
        Ok(secs / reps as f64)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `record` `reps` times per sample: one untimed sample (warm-up), then the median
/// seconds per rep of `samples` samples (GPU timestamps around the reps where the adapter
/// has them, else the synchronised wall clock).
pub fn time_pass(gpu: &Gpu, reps: u32, samples: usize, record: Record) -> Result<f64> {
    assert!(samples > 0, "a median needs at least one sample");
    let timer = Timer::new(gpu);
    timer.sample(gpu, reps, record)?;
    let times = (0..samples)
        .map(|_| timer.sample(gpu, reps, record))
        .collect::<Result<Vec<_>>>()?;
    Ok(median(times))
}

/// Times workloads that are compared with each other (the variants of one shape, the
/// dispatches of one step) in turns: an untimed sample of each, then `samples` rounds in
/// which each takes one sample; each gets the median of its own. On a shared machine whose
/// speed drifts (this project's 2-core VM moved 2× within minutes), one after another a slow
/// spell could land on one workload alone and bend the ratios the table is read for; in
/// turns, every workload's samples span the same stretch of time. `work` holds (reps per
/// sample, recording) pairs; the result is seconds per rep, in their order.
pub fn time_in_turns(gpu: &Gpu, samples: usize, work: &[(u32, Record)]) -> Result<Vec<f64>> {
    assert!(samples > 0, "a median needs at least one sample");
    if work.is_empty() {
        return Ok(Vec::new());
    }
    let timer = Timer::new(gpu);
    for &(reps, record) in work {
        timer.sample(gpu, reps, record)?;
    }
    let mut times = vec![Vec::with_capacity(samples); work.len()];
    for _ in 0..samples {
        for (t, &(reps, record)) in times.iter_mut().zip(work) {
            t.push(timer.sample(gpu, reps, record)?);
        }
    }
    Ok(times.into_iter().map(median).collect())
}

/// Measures memory bandwidth and FMA rate with `shaders/bench.wgsl`.
pub fn ceilings(gpu: &Gpu, quick: bool) -> Result<Ceilings> {
    let max_bytes = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size);
    let bytes = if quick {
        4 << 20
    } else {
        (256u64 << 20).min(max_bytes / 2)
    };
    let reps = if quick { 2 } else { 5 };
    // One copy at a time, so the two never hold memory together. The sources hold values,
    // not zeros: a GPU may compress cleared memory, which would flatter the read.
    let copy_gbps = |source| -> Result<f64> {
        let copy = CopyWorkload::new(gpu, source, bytes / 16)?;
        let values: Vec<f32> = (0..copy.bytes() / 4)
            .map(|k| (k % 251) as f32 + 0.5)
            .collect();
        copy.fill(gpu, &values);
        let t = time_pass(gpu, reps, 3, &|enc, _| copy.record(enc))?;
        Ok(2.0 * copy.bytes() as f64 / t / 1e9)
    };
    let copy_buffer_gbps = copy_gbps(CopySource::Buffer)?;
    let copy_texture_gbps = copy_gbps(CopySource::Texture)?;

    let iters = if quick { 256u32 } else { 4096 };
    let threads: u32 = if gpu.is_cpu() || quick {
        1 << 14
    } else {
        1 << 22
    };
    let fma = FmaWorkload::new(gpu, "bench fma", threads, iters)?;
    let t2 = time_pass(gpu, 1, 3, &|enc, _| fma.record(enc))?;
    // 2 chains of vec4 FMAs: 2 · 4 lanes · 2 FLOPs per iteration.
    let fma_gflops = threads as f64 * iters as f64 * 16.0 / t2 / 1e9;
    Ok(Ceilings {
        bandwidth_gbps: copy_buffer_gbps.max(copy_texture_gbps),
        copy_buffer_gbps,
        copy_texture_gbps,
        fma_gflops,
    })
}

/// A bind group for `pipeline`'s group 0 from (binding, resource) pairs: shaders/bench.wgsl's
/// entry points share one list of binding numbers, and each binds only some of them.
fn bind_numbered(
    gpu: &Gpu,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    entries: &[(u32, wgpu::BindingResource)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = entries
        .iter()
        .map(|(binding, resource)| wgpu::BindGroupEntry {
            binding: *binding,
            resource: resource.clone(),
        })
        .collect();
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// What the bandwidth ceiling's copy reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopySource {
    /// A storage buffer (`copy_bandwidth`).
    Buffer,
    /// An rgba32float texture, fetched the way the device's texture fronts fetch
    /// (`copy_texture` or `copy_storage_texture`).
    Texture,
}

impl CopySource {
    /// The entry point of shaders/bench.wgsl that copies from this source on `gpu`, and the
    /// binding its source takes.
    pub fn entry(self, gpu: &Gpu) -> (&'static str, u32) {
        match (self, gpu.tex_fetch()) {
            (CopySource::Buffer, _) => ("copy_bandwidth", 1),
            (CopySource::Texture, TexFetch::Sampled) => ("copy_texture", 3),
            (CopySource::Texture, TexFetch::Storage) => ("copy_storage_texture", 4),
        }
    }
}

/// A copy of `width × height` vec4s into a storage buffer, read from a storage buffer or a
/// texture (shaders/bench.wgsl): the bandwidth ceiling's workload. Vec4 `i` comes from the
/// buffer's element `i`, or from texel (i mod width, i div width).
pub struct CopyWorkload {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
    /// The copy's destination, one vec4 per source element.
    pub dst: wgpu::Buffer,
    src_buffer: Option<wgpu::Buffer>,
    src_texture: Option<wgpu::Texture>,
    pub width: u32,
    pub height: u32,
}

impl CopyWorkload {
    /// A copy of about `vec4s` elements: a texture source takes rows of up to 4096 texels
    /// (fewer where the device's texture limit is smaller) and as many whole rows as fit.
    pub fn new(gpu: &Gpu, source: CopySource, vec4s: u64) -> Result<Self, GpuError> {
        let max_dim = gpu.limits.max_texture_dimension_2d as u64;
        let (width, height) = match source {
            CopySource::Buffer => (vec4s.max(1), 1),
            CopySource::Texture => {
                let width = vec4s.clamp(1, max_dim.min(4096));
                (width, (vec4s / width).clamp(1, max_dim))
            }
        };
        Self::with_shape(gpu, source, width as u32, height as u32)
    }

    /// A copy of a `width × height` source (a buffer source holds width · height vec4s).
    pub fn with_shape(
        gpu: &Gpu,
        source: CopySource,
        width: u32,
        height: u32,
    ) -> Result<Self, GpuError> {
        let n = width as u64 * height as u64;
        let dst = gpu.storage("bench copy dst", n * 16);
        let params = gpu.uniform("bench copy params", &[n as u32, width]);
        // Each invocation copies 4 vec4s.
        let grid = gpu.grid_1d(n.div_ceil(4), 256)?;
        let (mut src_buffer, mut src_texture) = (None, None);
        let (pipeline, bind_group) = match source {
            CopySource::Buffer => {
                let src = gpu.storage("bench copy src", n * 16);
                let pipeline = gpu.pipeline(Shader::Bench, source.entry(gpu).0, &[]);
                let bg = gpu.bind_group("bench copy", &pipeline, &[&dst, &src, &params]);
                src_buffer = Some(src);
                (pipeline, bg)
            }
            CopySource::Texture => {
                let size = wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                };
                let texture = gpu.copy_texture("bench copy src", size);
                let view = texture.create_view(&Default::default());
                let (entry, binding) = source.entry(gpu);
                let pipeline = gpu.pipeline(Shader::Bench, entry, &[]);
                let bg = bind_numbered(
                    gpu,
                    entry,
                    &pipeline,
                    &[
                        (0, dst.as_entire_binding()),
                        (2, params.as_entire_binding()),
                        (binding, wgpu::BindingResource::TextureView(&view)),
                    ],
                );
                src_texture = Some(texture);
                (pipeline, bg)
            }
        };
        Ok(CopyWorkload {
            pipeline,
            bind_group,
            grid,
            dst,
            src_buffer,
            src_texture,
            width,
            height,
        })
    }

    /// Bytes the copy reads (as many again are written).
    pub fn bytes(&self) -> u64 {
        self.width as u64 * self.height as u64 * 16
    }

    /// Writes `data` (width · height · 4 floats) into the source.
    pub fn fill(&self, gpu: &Gpu, data: &[f32]) {
        assert_eq!(
            data.len() as u64 * 4,
            self.bytes(),
            "one vec4 per source element"
        );
        if let Some(b) = &self.src_buffer {
            gpu.queue.write_buffer(b, 0, bytemuck::cast_slice(data));
        }
        if let Some(t) = &self.src_texture {
            gpu.queue.write_texture(
                t.as_image_copy(),
                bytemuck::cast_slice(data),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.width * 16),
                    rows_per_image: None,
                },
                t.size(),
            );
        }
    }

    /// Records the copy's dispatch.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder) {
        dispatch(enc, &self.pipeline, &self.bind_group, self.grid);
    }
}

/// `threads` invocations of `fma_rate` (shaders/bench.wgsl), FMA_ITERS = `iters` steps of two
/// vec4 chains each (16·iters FLOPs an invocation): the FMA ceiling's workload, and the
/// probe that finds a CPU device's workers (`gpu::workers`). Its sink fits the storage
/// binding limit; invocations past it compute but store nothing.
pub struct FmaWorkload {
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub grid: [u32; 3],
    /// The stored sums, one vec4 an invocation for the first `stored`.
    pub sink: wgpu::Buffer,
    pub stored: u32,
}

impl FmaWorkload {
    pub fn new(gpu: &Gpu, label: &str, threads: u32, iters: u32) -> Result<Self, GpuError> {
        let max_binding = gpu.limits.max_storage_buffer_binding_size;
        let stored = (threads as u64).min(max_binding / 16).max(1) as u32;
        let sink = gpu.storage(label, stored as u64 * 16);
        let params = gpu.uniform(label, &[stored]);
        let pipeline = gpu.pipeline(Shader::Bench, "fma_rate", &[("FMA_ITERS", iters as f64)]);
        let bind_group = gpu.bind_group(label, &pipeline, &[&sink, &params]);
        let grid = gpu.grid_1d(threads as u64, 256)?;
        Ok(FmaWorkload {
            pipeline,
            bind_group,
            grid,
            sink,
            stored,
        })
    }

    /// Records the workload's dispatch.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder) {
        dispatch(enc, &self.pipeline, &self.bind_group, self.grid);
    }
}

/// Scattered loads of `shaders/bench.wgsl` per invocation, and the table they read.
const LOAD_ITERS: u64 = 256;
const LOAD_TABLE: usize = 16384;

/// One `load_*` workload ready to time: its pipeline and bind group, and what they bind.
struct LoadBench {
    entry: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    /// The output buffer and the table's buffer or texture, kept alive while timed.
    _keep: (wgpu::Buffer, Option<wgpu::Buffer>, Option<wgpu::Texture>),
}

/// Builds the `entry` workload (`load_storage`, `load_uniform`, `load_texture` or
/// `load_storage_texture` of `shaders/bench.wgsl`) over `n` invocations.
fn prepare_load(gpu: &Gpu, entry: &'static str, n: u32) -> LoadBench {
    let table: Vec<f32> = (0..LOAD_TABLE).map(|i| (i % 17) as f32).collect();
    let out = gpu.storage("load out", n as u64 * 4);
    let pipeline = gpu.pipeline(Shader::Bench, entry, &[]);
    let (mut buffer, mut texture, mut view) = (None, None, None);
    let binding = match entry {
        "load_storage" => {
            buffer = Some(gpu.storage_f32("load table", &table));
            1
        }
        "load_uniform" => {
            let uniform = gpu.buffer(
                "load table",
                (LOAD_TABLE * 4) as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            );
            gpu.queue
                .write_buffer(&uniform, 0, bytemuck::cast_slice(&table));
            buffer = Some(uniform);
            2
        }
        _ => {
            let size = wgpu::Extent3d {
                width: 1024,
                height: (LOAD_TABLE / 4096) as u32,
                depth_or_array_layers: 1,
            };
            let t = gpu.copy_texture("load table", size);
            gpu.queue.write_texture(
                t.as_image_copy(),
                bytemuck::cast_slice(&table),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(1024 * 16),
                    rows_per_image: None,
                },
                size,
            );
            view = Some(t.create_view(&Default::default()));
            texture = Some(t);
            if entry == "load_storage_texture" {
                4
            } else {
                3
            }
        }
    };
    let resource = match (&buffer, &view) {
        (Some(b), _) => b.as_entire_binding(),
        (None, Some(v)) => wgpu::BindingResource::TextureView(v),
        (None, None) => unreachable!("every entry binds a table"),
    };
    let bind_group = bind_numbered(
        gpu,
        entry,
        &pipeline,
        &[(0, out.as_entire_binding()), (binding, resource)],
    );
    LoadBench {
        entry,
        pipeline,
        bind_group,
        _keep: (out, buffer, texture),
    }
}

/// What a scattered 4-byte load costs through each of `entries` (sampled in turns): GB/s of
/// values loaded, and that as a share of the copy ceiling.
fn bench_loads(
    gpu: &Gpu,
    entries: &[&'static str],
    ceil: &Ceilings,
    quick: bool,
) -> Result<Vec<BenchRow>> {
    let n: u32 = if quick { 1 << 12 } else { 1 << 16 };
    let loads: Vec<LoadBench> = entries.iter().map(|&e| prepare_load(gpu, e, n)).collect();
    let records: Vec<_> = loads
        .iter()
        .map(|l| {
            move |enc: &mut wgpu::CommandEncoder, _| {
                dispatch(enc, &l.pipeline, &l.bind_group, [n / 64, 1, 1])
            }
        })
        .collect();
    let work: Vec<(u32, Record)> = records.iter().map(|r| (3, r as Record)).collect();
    let times = time_in_turns(gpu, 3, &work)?;
    Ok(loads
        .iter()
        .zip(times)
        .map(|(l, t)| {
            let gbps = (n as u64 * LOAD_ITERS * 4) as f64 / t / 1e9;
            BenchRow {
                kernel: l.entry.into(),
                shape: format!("{LOAD_ITERS} scattered loads × {n}"),
                variant: "-".into(),
                median_ms: t * 1e3,
                gflops: 0.0,
                gbps,
                pct_of_ceiling: 100.0 * gbps / ceil.bandwidth_gbps,
            }
        })
        .collect())
}

/// Bytes of inputs the kernel benchmarks rotate through: more than a CPU's or GPU's last-level
/// cache, so no repetition finds its operands already cached by the one before.
const ROTATE_BYTES: u64 = 64 << 20;

/// Copies of the one-node plan of `g` (each with its own buffers holding fresh random
/// `inputs`), enough that `reps` repetitions cycling through them read ≥ [`ROTATE_BYTES`] of
/// distinct inputs (at most `reps` copies).
fn rotating_plans(
    gpu: &Gpu,
    g: &Graph,
    inputs: &[crate::graph::NodeId],
    out: crate::graph::NodeId,
    opts: CompileOptions,
    reps: u32,
) -> Result<Vec<Plan>> {
    let bytes: u64 = inputs.iter().map(|&i| g.nodes[i].bytes()).sum();
    let copies = ROTATE_BYTES.div_ceil(bytes.max(1)).min(reps as u64).max(1);
    let mut rng = Rng::new(1);
    (0..copies)
        .map(|_| {
            let plan = Plan::compile_with(g, gpu, &mut Resources::new(), &[out], opts)?;
            crate::tune::write_random_inputs(gpu, &plan, g, inputs, out, &mut rng);
            plan.set_step(gpu, StepUniform::default());
            Ok(plan)
        })
        .collect()
}

/// A row ready to be timed: rotating copies of a one-node plan, the repetitions a sample
/// takes, and what its row says besides the time.
pub struct Prepared {
    plans: Vec<Plan>,
    reps: u32,
    kernel: String,
    shape: String,
    variant: String,
    flops: f64,
    bytes: f64,
    /// Measured against the FMA ceiling alone (matmuls, convolutions); streaming kernels
    /// against the larger of their FMA and bandwidth shares.
    compute_bound: bool,
}

impl Prepared {
    /// Records repetition `r`, on the copy of the inputs its turn comes to.
    fn record(&self, enc: &mut wgpu::CommandEncoder, r: u32) {
        let p = &self.plans[r as usize % self.plans.len()];
        p.record(enc, 0..p.dispatches.len())
    }

    /// The table row for a median of `t` seconds per repetition.
    fn row(&self, t: f64, ceil: &Ceilings) -> BenchRow {
        let (gflops, gbps) = (self.flops / t / 1e9, self.bytes / t / 1e9);
        let share = if self.compute_bound {
            gflops / ceil.fma_gflops
        } else {
            (gflops / ceil.fma_gflops).max(gbps / ceil.bandwidth_gbps)
        };
        BenchRow {
            kernel: self.kernel.clone(),
            shape: self.shape.clone(),
            variant: self.variant.clone(),
            median_ms: t * 1e3,
            gflops,
            gbps,
            pct_of_ceiling: 100.0 * share,
        }
    }
}

/// Times `rows` (the variants of one shape) against each other in turns
/// ([`time_in_turns`], three samples each) and returns their table rows. Every row's
/// rotating copies are alive together while the group is timed: at the dense model's small
/// shapes that is a few hundred MiB (50 copies of each variant's inputs, output and
/// textures), dropped before the next shape.
pub fn time_rows(gpu: &Gpu, rows: &[Prepared], ceil: &Ceilings) -> Result<Vec<BenchRow>> {
    let records: Vec<_> = rows
        .iter()
        .map(|p| move |enc: &mut wgpu::CommandEncoder, r| p.record(enc, r))
        .collect();
    let work: Vec<(u32, Record)> = rows
        .iter()
        .zip(&records)
        .map(|(p, r)| (p.reps, r as Record))
        .collect();
    let times = time_in_turns(gpu, 3, &work)?;
    Ok(rows
        .iter()
        .zip(times)
        .map(|(p, t)| p.row(t, ceil))
        .collect())
}

/// One matmul shape in one variant, ready to time (graph of a single node, fresh random
/// operands, rotated between repetitions).
pub fn prepare_matmul(
    gpu: &Gpu,
    s: MatmulShape,
    bias: bool,
    act: Act,
    variant: Variant,
    label: &str,
) -> Result<Prepared> {
    let mut g = Graph::new();
    let a = g.input("a", &if s.trans_a { [s.k, s.m] } else { [s.m, s.k] });
    let b = g.input("b", &if s.trans_b { [s.n, s.k] } else { [s.k, s.n] });
    let bi = g.input("bias", &[s.n]);
    let c = g.matmul("c", a, b, bias.then_some(bi), s.trans_a, s.trans_b, act);
    let opts = CompileOptions {
        matmul: variant,
        ..Default::default()
    };
    let flops = s.flops() as f64;
    let reps = ((2e9 / flops) as u32).clamp(1, 50);
    let plans = rotating_plans(gpu, &g, &[a, b, bi], c, opts, reps)?;
    let bytes = plans[0].dispatches[0].call.bytes as f64;
    Ok(Prepared {
        plans,
        reps,
        kernel: format!(
            "matmul{}{}",
            if s.trans_a { "[Aᵀ]" } else { "" },
            if s.trans_b { "[Bᵀ]" } else { "" }
        ),
        shape: format!("{label}{}×{}×{}", s.m, s.n, s.k),
        variant: variant.name().to_string(),
        flops,
        bytes,
        compute_bound: true,
    })
}

/// The matmul shapes benchmarked: squares, and the dense autoencoder's forward and backward
/// products at batch 256 (784-32-784).
pub fn matmul_shapes(quick: bool) -> Vec<(String, MatmulShape, bool, Act)> {
    let sq = |n: usize| MatmulShape {
        m: n,
        n,
        k: n,
        trans_a: false,
        trans_b: false,
    };
    let mut v: Vec<(String, MatmulShape, bool, Act)> = if quick {
        vec![("".into(), sq(64), false, Act::Identity)]
    } else {
        vec![
            ("".into(), sq(256), false, Act::Identity),
            ("".into(), sq(512), false, Act::Identity),
            ("".into(), sq(1024), false, Act::Identity),
        ]
    };
    let (b, d, h) = if quick { (16, 50, 8) } else { (256, 784, 32) };
    let mm = |m, n, k, ta, tb| MatmulShape {
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
    };
    v.push((
        "AE encoder fwd ".into(),
        mm(b, h, d, false, false),
        true,
        Act::Relu,
    ));
    v.push((
        "AE decoder fwd ".into(),
        mm(b, d, h, false, false),
        true,
        Act::Identity,
    ));
    v.push((
        "AE d_W2 = hᵀ·dY ".into(),
        mm(h, d, b, true, false),
        false,
        Act::Identity,
    ));
    v.push((
        "AE d_h = dY·W2ᵀ ".into(),
        mm(b, h, d, false, true),
        false,
        Act::Identity,
    ));
    v.push((
        "AE d_W1 = xᵀ·dH ".into(),
        mm(d, h, b, true, false),
        false,
        Act::Identity,
    ));
    v
}

/// The convolution shapes benchmarked: every layer of the conv autoencoder at batch 128, and
/// a wide layer (batch 64, 64 → 64 channels, 32×32, 3×3) where arithmetic should dominate.
pub fn conv_shapes(quick: bool) -> Vec<(String, crate::ops::conv::ConvGeom)> {
    use crate::ops::conv::{ConvGeom, Padding};
    if quick {
        return vec![(
            "small ".into(),
            ConvGeom::new(2, 3, (9, 9), 5, (3, 3), 1, Padding::Same),
        )];
    }
    let b = 128;
    let layer = |name: &str, c_in, side, c_out, pad| {
        (
            format!("AE {name} "),
            ConvGeom::new(b, c_in, (side, side), c_out, (3, 3), 1, pad),
        )
    };
    // The decoder's last three read their input upsampled on the fly, as the model runs
    // them (their input-gradient rows are the stride-2 convolution with folded weights).
    let upsampled = |(label, g): (String, ConvGeom)| (label, g.reading_upsampled());
    vec![
        layer("encoder.0", 1, 28, 16, Padding::Same),
        layer("encoder.1", 16, 14, 8, Padding::Same),
        layer("encoder.2", 8, 7, 8, Padding::Same),
        layer("decoder.0", 8, 4, 8, Padding::Same),
        upsampled(layer("decoder.1", 8, 8, 8, Padding::Same)),
        upsampled(layer("decoder.2", 8, 16, 16, Padding::Valid)),
        upsampled(layer("decoder.3", 16, 28, 1, Padding::Same)),
        (
            "wide ".into(),
            ConvGeom::new(64, 64, (32, 32), 64, (3, 3), 1, Padding::Same),
        ),
    ]
}

/// The convolution kernel a bench row names (`forward`, `backward_input` or `weight_grad`).
fn kernel_of(which: &str) -> crate::ops::conv::Kernel {
    match which {
        "forward" => crate::ops::conv::Kernel::Forward,
        "backward_input" => crate::ops::conv::Kernel::BackwardInput,
        _ => crate::ops::conv::Kernel::WeightGrad,
    }
}

/// One convolution kernel (`which`: forward, backward_input or weight_grad) of `geom` in one
/// variant, ready to time.
pub fn prepare_conv(
    gpu: &Gpu,
    geom: crate::ops::conv::ConvGeom,
    which: &str,
    variant: crate::ops::conv::Variant,
    label: &str,
) -> Result<Prepared> {
    let (g, inputs, out) = crate::tune::conv_graph(geom, kernel_of(which));
    let opts = CompileOptions {
        conv: variant,
        ..Default::default()
    };
    let reps = ((1e9 / (2.0 * geom.macs() as f64)) as u32).clamp(1, 20);
    let plans = rotating_plans(gpu, &g, &inputs, out, opts, reps)?;
    let d = &plans[0].dispatches[0];
    let (flops, bytes) = (d.call.flops as f64, d.call.bytes as f64);
    Ok(Prepared {
        plans,
        reps,
        kernel: format!("conv2d_{which}"),
        shape: match kernel_of(which) {
            // The stride-2 convolution with folded weights the model runs.
            crate::ops::conv::Kernel::BackwardInput if geom.up == 2 => {
                let f = geom.folded_input_gradient();
                format!(
                    "{label}{}, as {}",
                    crate::tune::conv_shape(&geom),
                    crate::tune::conv_shape(&f)
                )
            }
            _ => format!("{label}{}", crate::tune::conv_shape(&geom)),
        },
        variant: variant.name().to_string(),
        flops,
        bytes,
        compute_bound: true,
    })
}

/// Streaming node `id` of `g` (see [`crate::ops::Reads`]) alone, reading through `reads`,
/// ready to time with its inputs rotated.
pub fn prepare_stream(
    gpu: &Gpu,
    g: &Graph,
    id: crate::graph::NodeId,
    reads: crate::ops::Reads,
    label: &str,
) -> Result<Prepared> {
    let (one, inputs, out) = crate::tune::one_node_graph(g, id);
    let opts = CompileOptions {
        reads,
        ..Default::default()
    };
    let bytes: u64 = inputs.iter().map(|&i| one.nodes[i].bytes()).sum();
    let reps = ((256e6 / bytes.max(1) as f64) as u32).clamp(1, 20);
    let plans = rotating_plans(gpu, &one, &inputs, out, opts, reps)?;
    let d = &plans[0].dispatches[0];
    let (flops, bytes, kernel) = (d.call.flops as f64, d.call.bytes as f64, d.call.entry);
    let dims = one
        .shape(inputs[0])
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>();
    Ok(Prepared {
        plans,
        reps,
        kernel: kernel.to_string(),
        shape: format!("{label}{} {}", g.nodes[id].name, dims.join("×")),
        variant: reads.name().into(),
        flops,
        bytes,
        compute_bound: false,
    })
}

/// The streaming nodes of one training step of each reference model (their read path is
/// tuned per device: [`crate::ops::Reads`]), as (label, graph, node).
pub fn stream_nodes(quick: bool) -> Vec<(String, Graph, crate::graph::NodeId)> {
    use crate::models::ModelConfig;
    let adam = crate::ops::optimizer::Optimizer::adam(1e-3);
    let models = [
        (
            "AE ",
            ModelConfig::dense_reference(),
            if quick { 8 } else { 256 },
        ),
        (
            "conv AE ",
            ModelConfig::conv_reference(),
            if quick { 2 } else { 128 },
        ),
    ];
    let mut out = Vec::new();
    for (label, cfg, batch) in models {
        let tg = crate::train::train_graph(&cfg, 4 * batch, batch, adam);
        let mut seen = std::collections::HashSet::new();
        for id in 0..tg.graph.nodes.len() {
            if !crate::graph::plan::streams(&tg.graph, id) {
                continue;
            }
            // One row per kernel and shape (the conv AE has several of each).
            let (class, _) = crate::tune::reads_class(&tg.graph, id);
            if seen.insert(class) {
                out.push((label.to_string(), tg.graph.clone(), id));
            }
        }
    }
    out
}

/// A bandwidth ceiling's row: the copy `kernel` reading `variant`, against the faster copy.
fn copy_row(kernel: &str, variant: &str, gbps: f64, ceil: &Ceilings) -> BenchRow {
    BenchRow {
        kernel: kernel.into(),
        shape: "ceiling".into(),
        variant: variant.into(),
        median_ms: f64::NAN,
        gflops: 0.0,
        gbps,
        pct_of_ceiling: 100.0 * gbps / ceil.bandwidth_gbps,
    }
}

/// The full table: ceilings, then every matmul shape and every convolution in each variant.
pub fn table(gpu: &Gpu, quick: bool, filter: Option<&str>) -> Result<(Ceilings, Vec<BenchRow>)> {
    let ceil = ceilings(gpu, quick)?;
    let mut rows = vec![
        copy_row(
            CopySource::Buffer.entry(gpu).0,
            "storage",
            ceil.copy_buffer_gbps,
            &ceil,
        ),
        copy_row(
            CopySource::Texture.entry(gpu).0,
            "texture",
            ceil.copy_texture_gbps,
            &ceil,
        ),
        BenchRow {
            kernel: "fma_rate".into(),
            shape: "ceiling".into(),
            variant: "-".into(),
            median_ms: f64::NAN,
            gflops: ceil.fma_gflops,
            gbps: 0.0,
            pct_of_ceiling: 100.0,
        },
    ];
    // The storage-texture row where the texture fronts fetch that way.
    let entries: Vec<&'static str> = [
        "load_storage",
        "load_uniform",
        "load_texture",
        "load_storage_texture",
    ]
    .into_iter()
    .filter(|&e| e != "load_storage_texture" || gpu.tex_fetch() == TexFetch::Storage)
    .filter(|&e| keep(filter, &[e]))
    .collect();
    rows.extend(bench_loads(gpu, &entries, &ceil, quick)?);
    // Each shape's variants are prepared together and timed in turns (`time_rows`).
    for (label, s, bias, act) in matmul_shapes(quick) {
        let mut group = Vec::new();
        for variant in Variant::ALL {
            if variant.runs_on(gpu, &s) && keep(filter, &["matmul", &label, variant.name()]) {
                group.push(prepare_matmul(gpu, s, bias, act, variant, &label)?);
            }
        }
        rows.extend(time_rows(gpu, &group, &ceil)?);
    }
    for (label, geom) in conv_shapes(quick) {
        for which in ["forward", "backward_input", "weight_grad"] {
            let name = format!("conv2d_{which}");
            let mut group = Vec::new();
            for variant in [
                ConvVariant::Naive,
                ConvVariant::Direct,
                ConvVariant::Texture,
                ConvVariant::Subgroup,
            ] {
                let runs = variant.runs_on(gpu, &geom, kernel_of(which));
                if runs && keep(filter, &[&name, &label, variant.name()]) {
                    group.push(prepare_conv(gpu, geom, which, variant, &label)?);
                }
            }
            rows.extend(time_rows(gpu, &group, &ceil)?);
        }
    }
    for (label, g, id) in stream_nodes(quick) {
        let storage = crate::graph::plan::kernel_call(&g, id, Default::default()).entry;
        let mut group = Vec::new();
        for reads in crate::ops::Reads::TUNED {
            if keep(filter, &[storage, &label, &g.nodes[id].name, reads.name()]) {
                group.push(prepare_stream(gpu, &g, id, reads, &label)?);
            }
        }
        rows.extend(time_rows(gpu, &group, &ceil)?);
    }
    Ok((ceil, rows))
}

/// Whether a row described by `fields` (kernel, shape label, variant) passes `--filter`:
/// some comma-separated alternative of the filter is part of some field.
fn keep(filter: Option<&str>, fields: &[&str]) -> bool {
    filter.is_none_or(|f| {
        f.split(',')
            .any(|alt| fields.iter().any(|field| field.contains(alt)))
    })
}

/// Times every dispatch of one training step of `cfg` at `batch` on its own (where a
/// step's time goes) and the whole step recorded as training records it, all in turns
/// ([`time_in_turns`]): the rows, and the whole step's median seconds. The two differ both ways: a row pays for every texture copy
/// its dispatch reads, which the step shares between dispatches, and the step adds what runs
/// between dispatches (pass breaks, binding, hand-offs to the driver's threads). What a
/// step's wall time adds to the whole step is outside the command stream (`bench train`).
pub fn profile_train_step(
    gpu: &Gpu,
    ceil: &Ceilings,
    cfg: &crate::models::ModelConfig,
    batch: usize,
) -> Result<(Vec<BenchRow>, f64)> {
    let split = crate::data::load(&crate::data::DatasetSpec::Digits, None)?;
    let trainer = crate::train::Trainer::new(
        gpu,
        cfg,
        &split.train,
        batch,
        crate::ops::optimizer::Optimizer::adam(1e-3),
        0,
    )?;
    let order: Vec<u32> = (0..split.train.n as u32).collect();
    trainer.plan.write_u32(gpu, trainer.tg.indices, &order);
    trainer.plan.set_step(gpu, StepUniform::single(batch, 0));
    // Every dispatch alone (5 reps a sample) and the whole step (3), in turns.
    let (plan, n) = (&trainer.plan, trainer.plan.dispatches.len());
    let records: Vec<_> = (0..=n)
        .map(|i| {
            let range = if i < n { i..i + 1 } else { 0..n };
            move |enc: &mut wgpu::CommandEncoder, _| plan.record(enc, range.clone())
        })
        .collect();
    let work: Vec<(u32, Record)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (if i < n { 5 } else { 3 }, r as Record))
        .collect();
    let times = time_in_turns(gpu, 3, &work)?;
    let mut rows = Vec::new();
    for (d, &t) in trainer.plan.dispatches.iter().zip(&times) {
        let gflops = d.call.flops as f64 / t / 1e9;
        let gbps = d.call.bytes as f64 / t / 1e9;
        rows.push(BenchRow {
            kernel: d.call.entry.to_string(),
            shape: format!("step: {}", trainer.tg.graph.nodes[d.node].name),
            variant: "-".into(),
            median_ms: t * 1e3,
            gflops,
            gbps,
            pct_of_ceiling: 100.0 * (gflops / ceil.fma_gflops).max(gbps / ceil.bandwidth_gbps),
        });
    }
    Ok((rows, times[n]))
}

/// A warning when the device's ceilings moved by more than 15 % between the start and the
/// end of a run: its rows' % of ceiling are then approximate.
pub fn drift_note(start: &Ceilings, end: &Ceilings) -> Option<String> {
    let moved = |a: f64, b: f64| (a / b).max(b / a) > 1.15;
    (moved(start.fma_gflops, end.fma_gflops) || moved(start.bandwidth_gbps, end.bandwidth_gbps))
        .then(|| {
            "note: the device's speed drifted during the run (the ceilings moved more than 15 %): \
             read % ceil as approximate; rows of one shape were sampled in turns and compare \
             fairly"
                .to_string()
        })
}

/// Prints the table.
pub fn print_table(gpu: &Gpu, rows: &[BenchRow]) {
    println!("device: {}", crate::gpu::describe_adapter(&gpu.info));
    println!(
        "{:<24} {:<40} {:<8} {:>10} {:>9} {:>8} {:>8}",
        "kernel", "shape", "variant", "median ms", "GFLOP/s", "GB/s", "% ceil"
    );
    let num = |v: f64, prec: usize| {
        if v.is_finite() {
            format!("{v:.prec$}")
        } else {
            "-".into()
        }
    };
    for r in rows {
        println!(
            "{:<24} {:<40} {:<8} {:>10} {:>9} {:>8} {:>7}%",
            r.kernel,
            r.shape,
            r.variant,
            num(r.median_ms, 3),
            num(r.gflops, 2),
            num(r.gbps, 2),
            num(r.pct_of_ceiling, 1)
        );
    }
}

/// The backend named by `$SHADERPROP_BENCH_BACKEND` (default vulkan), for `benches/`.
pub fn backend_from_env() -> Result<crate::gpu::BackendChoice> {
    std::env::var("SHADERPROP_BENCH_BACKEND")
        .unwrap_or_else(|_| "vulkan".into())
        .parse()
        .map_err(anyhow::Error::msg)
}

/// `shaderprop bench`.
/// What `bench train` measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainBench {
    pub model: String,
    pub batch: usize,
    pub samples_per_epoch: usize,
    /// From the start of graph building to the end of the first step on the GPU: graph,
    /// autodiff, memory plan, pipeline and bind-group creation, parameter upload, one step.
    pub first_step_s: f64,
    pub peak_bytes: u64,
    pub epoch_s: Vec<f64>,
    pub samples_per_s: f64,
    /// Host time per step spent encoding the step's commands.
    pub encode_us_per_step: f64,
    /// Host time per step inside `queue.submit` (a CPU driver may run the work there).
    pub submit_us_per_step: f64,
    /// Wall time per step over the timed epochs.
    pub wall_us_per_step: f64,
}

/// Times `epochs` whole epochs of `cfg` on `train` (no validation, no checkpoints).
pub fn bench_train(
    gpu: &Gpu,
    cfg: &crate::models::ModelConfig,
    train: &crate::data::Dataset,
    batch: usize,
    epochs: usize,
) -> Result<TrainBench> {
    let t0 = std::time::Instant::now();
    let mut trainer = crate::train::Trainer::new(
        gpu,
        cfg,
        train,
        batch,
        crate::ops::optimizer::Optimizer::adam(1e-3),
        0,
    )?;
    let order: Vec<u32> = (0..train.n as u32).collect();
    // The first step alone: what a user waits for before anything trains.
    trainer.plan.write_u32(gpu, trainer.tg.indices, &order);
    trainer.plan.run(gpu, StepUniform::single(batch, 0));
    gpu.wait()?;
    let first_step_s = t0.elapsed().as_secs_f64();
    trainer.global_step = 1;
    trainer.encode_time = std::time::Duration::ZERO;
    trainer.submit_time = std::time::Duration::ZERO;
    let bar = indicatif::ProgressBar::hidden();
    let mut epoch_s = Vec::new();
    for _ in 0..epochs {
        let t = std::time::Instant::now();
        trainer.epoch(gpu, &order, &bar)?;
        epoch_s.push(t.elapsed().as_secs_f64());
    }
    let steps = (trainer.steps_per_epoch * epochs) as f64;
    let total: f64 = epoch_s.iter().sum();
    Ok(TrainBench {
        model: cfg.describe(),
        batch,
        samples_per_epoch: trainer.steps_per_epoch * batch,
        first_step_s,
        peak_bytes: trainer.plan.peak_bytes,
        samples_per_s: steps * batch as f64 / total,
        encode_us_per_step: trainer.encode_time.as_secs_f64() * 1e6 / steps,
        submit_us_per_step: trainer.submit_time.as_secs_f64() * 1e6 / steps,
        wall_us_per_step: total * 1e6 / steps,
        epoch_s,
    })
}

fn run_train_bench(gpu: &Gpu, args: &BenchArgs) -> Result<()> {
    if args.epochs == 0 {
        anyhow::bail!("--epochs must be at least 1");
    }
    let split = crate::data::load(&args.dataset, args.data.as_deref())?;
    let t = &split.train;
    let cfg = args.model.config([t.channels, t.rows, t.cols]);
    let batch = args.model.batch();
    if batch == 0 || batch > t.n {
        anyhow::bail!("--batch-size must be between 1 and {}", t.n);
    }
    let b = bench_train(gpu, &cfg, t, batch, args.epochs)?;
    println!(
        "device: {}
model: {} on {} ({} samples per epoch, batch {})",
        crate::gpu::describe_adapter(&gpu.info),
        b.model,
        args.dataset,
        b.samples_per_epoch,
        b.batch
    );
    println!(
        "time to first step   {:.2} s (graph, plan, pipelines, upload, one step)",
        b.first_step_s
    );
    println!(
        "plan peak memory     {:.1} MiB",
        b.peak_bytes as f64 / 1048576.0
    );
    for (i, s) in b.epoch_s.iter().enumerate() {
        println!("epoch {}              {s:.2} s", i + 1);
    }
    println!("samples/s            {:.0}", b.samples_per_s);
    println!(
        "per step             {:.0} µs wall; host: {:.0} µs encoding ({:.1} %), {:.0} µs inside submit",
        b.wall_us_per_step,
        b.encode_us_per_step,
        100.0 * b.encode_us_per_step / b.wall_us_per_step,
        b.submit_us_per_step,
    );
    if gpu.is_cpu() {
        println!(
            "                     (a CPU driver runs the work inside submit: encoding is the launch overhead)"
        );
    }
    if let Some(path) = &args.json {
        crate::fsio::write_atomic(path, serde_json::to_string_pretty(&b)?.as_bytes())?;
    }
    Ok(())
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let gpu = args.device.open()?;
    if args.target == Some(crate::cli::BenchTarget::Train) {
        return run_train_bench(&gpu, args);
    }
    let (ceil, mut rows) = table(&gpu, args.quick, args.filter.as_deref())?;
    use crate::models::ModelConfig;
    let steps = [
        ("step-vanilla", ModelConfig::dense_reference(), 256),
        ("step-conv", ModelConfig::conv_reference(), 128),
    ];
    for (name, cfg, batch) in steps {
        if !keep(args.filter.as_deref(), &[name]) {
            continue;
        }
        let (step, whole) = profile_train_step(&gpu, &ceil, &cfg, batch)?;
        let total: f64 = step.iter().map(|r| r.median_ms).sum();
        rows.extend(step);
        let summary = |kernel: &str, median_ms: f64| BenchRow {
            kernel: kernel.into(),
            shape: format!("{name}: {}, batch {batch}", cfg.describe()),
            variant: "-".into(),
            median_ms,
            gflops: 0.0,
            gbps: 0.0,
            pct_of_ceiling: f64::NAN,
        };
        rows.push(summary("(sum)", total));
        rows.push(summary("(whole step)", whole * 1e3));
    }
    print_table(&gpu, &rows);
    // The ceilings again: a row's % of ceiling compares it with a measurement made minutes
    // earlier, which a shared machine's drift can bend (one shape's variants, sampled in
    // turns, compare fairly with each other whatever it does).
    let end = ceilings(&gpu, args.quick)?;
    println!(
        "ceilings at the end   {:.2} GB/s, {:.2} GFLOP/s (start: {:.2}, {:.2})",
        end.bandwidth_gbps, end.fma_gflops, ceil.bandwidth_gbps, ceil.fma_gflops
    );
    if let Some(note) = drift_note(&ceil, &end) {
        println!("{note}");
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "device": crate::gpu::describe_adapter(&gpu.info),
            "ceilings": ceil,
            "ceilings_at_end": end,
            "rows": rows,
        });
        crate::fsio::write_atomic(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{drift_note, Ceilings};

    #[test]
    fn a_drift_of_more_than_15_percent_in_either_ceiling_is_flagged() {
        let c = |bandwidth_gbps, fma_gflops| Ceilings {
            bandwidth_gbps,
            copy_buffer_gbps: bandwidth_gbps,
            copy_texture_gbps: bandwidth_gbps,
            fma_gflops,
        };
        assert!(drift_note(&c(4.0, 30.0), &c(4.4, 26.5)).is_none());
        assert!(drift_note(&c(4.0, 30.0), &c(4.0, 25.0)).is_some());
        assert!(drift_note(&c(4.0, 30.0), &c(4.0, 35.0)).is_some());
        assert!(drift_note(&c(4.0, 30.0), &c(3.3, 30.0)).is_some());
    }
}
