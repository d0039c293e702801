//! The memory plan and executor: a graph compiled once into buffers, pipelines, bind groups
//! and uniforms, kept as a flat list of dispatches.
//!
//! # Memory plan
//! Leaves (inputs, parameters, optimizer state) live in [`Resources`], by name, for the life
//! of a run; plans built from different graphs (training, evaluation) share them. Every other
//! tensor lives only from the dispatch that writes it to the last dispatch that reads it.
//! Walking the nodes in order, a tensor whose last reader has run gives its buffer back, and
//! the next tensor takes the smallest free buffer that fits (or grows the largest free one).
//! A dispatch never gets a buffer freed by its own inputs, so no kernel reads and writes the
//! same memory. The peak is known before the first step.
//!
//! # One step
//! [`Plan::run`] writes the 16-byte per-step uniform, records every dispatch into one compute
//! pass, and submits once. Nothing is created per step.

use super::cpu::{pool_planes, upsample_planes};
use super::{Graph, NodeId, Op};
use crate::gpu::{Gpu, GpuError};
use crate::ops::{
    activation, conv, elementwise, gather, loss, matmul, optimizer, pool, reduce, sparsity, Bind,
    KernelCall, StepUniform, Workgroups,
};
use std::collections::HashMap;

/// Persistent named tensors: the data set, parameters, optimizer state, accumulators.
#[derive(Default)]
pub struct Resources {
    tensors: HashMap<String, wgpu::Buffer>,
}

impl Resources {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffer named `name`, created (zeroed) at `bytes` if new; an error if it exists with
    /// another size (two graphs disagree about a tensor's shape).
    pub fn get_or_create(
        &mut self,
        gpu: &Gpu,
        name: &str,
        bytes: u64,
    ) -> Result<wgpu::Buffer, GpuError> {
        check_binding_size(gpu, name, bytes)?;
        if let Some(b) = self.tensors.get(name) {
            if b.size() != crate::gpu::buffer_size(bytes) {
                return Err(GpuError::Limit(format!(
                    "tensor '{name}' exists with {} bytes but a graph wants {bytes}",
                    b.size()
                )));
            }
            return Ok(b.clone());
        }
        let b = gpu.storage(name, bytes);
        self.tensors.insert(name.to_string(), b.clone());
        Ok(b)
    }

    /// The buffer named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&wgpu::Buffer> {
        self.tensors.get(name)
    }

    /// Names of every tensor held.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.tensors.values().map(|b| b.size()).sum()
    }
}

fn check_binding_size(gpu: &Gpu, name: &str, bytes: u64) -> Result<(), GpuError> {
    let max = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size);
    if bytes > max {
        return Err(GpuError::Limit(format!(
            "tensor '{name}' needs {bytes} bytes, more than this device binds in one buffer ({max} bytes). \
             Hint: use a smaller --batch-size or a smaller data set."
        )));
    }
    Ok(())
}

/// Where a node's output lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A persistent tensor in [`Resources`].
    Persistent(String),
    /// A reusable transient buffer.
    Slot(usize),
    /// In-place nodes own nothing.
    None,
}

/// One tensor's stay in a transient buffer.
#[derive(Clone, Debug)]
pub struct Lifetime {
    pub node: NodeId,
    pub slot: usize,
    /// Dispatch index of the writer and of the last reader.
    pub first: usize,
    pub last: usize,
    pub bytes: u64,
}

/// One recorded dispatch.
pub struct Dispatch {
    pub node: NodeId,
    pub call: KernelCall,
    pub workgroups: [u32; 3],
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    /// Inputs copied into textures or uniform buffers just before this dispatch (a tensor
    /// staged by an earlier dispatch of the step is bound from there, not copied again).
    pub copies: Vec<Staging>,
    /// Inputs read from a copy an earlier dispatch of the step made, described for
    /// `explain` ("'z' (copied for 'bce_per_sample')").
    pub shared: Vec<String>,
}

/// A copy of an input, staged before the dispatch that reads it (texture and uniform
/// variants): a command between compute passes.
pub struct Staging {
    src: wgpu::Buffer,
    src_label: String,
    dst: StagedInto,
}

enum StagedInto {
    /// The buffer's first `texels` texels (16 bytes each) into an rgba32float texture
    /// `width` texels wide, in buffer order (row r holds texels r·width ..).
    Texture {
        texture: wgpu::Texture,
        width: u32,
        texels: u32,
    },
    /// The buffer's first `bytes` into a [`UNIFORM_STAGE_BYTES`] uniform buffer.
    Uniform { buffer: wgpu::Buffer, bytes: u64 },
    /// A row-major matrix of 16-byte texels, `row_texels` wide, into the layers of an array
    /// texture `strip` texels wide: layer s holds texel columns s·strip.. of every row
    /// ([`Bind::Strips`]); one copy per layer.
    Strips {
        texture: wgpu::Texture,
        row_texels: u32,
        strip: u32,
    },
}

/// How a tensor is staged: a texture (its texels and log2 width), strips (texels a row,
/// texels a strip) or a uniform buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum StageAs {
    Texture(u32, u32),
    Strips(u32, u32),
    Uniform,
}

/// A staged copy's identity: the tensor and how it is staged.
type StageKey = (NodeId, StageAs);

/// What a dispatch binds for a staged input.
#[derive(Clone)]
enum StagedBinding {
    View(wgpu::TextureView),
    Buffer(wgpu::Buffer),
}

/// Size of the uniform buffers inputs are staged into (WGSL declares them as
/// `array<vec4<f32>, 4096>`): 64 KiB, the smallest `max_uniform_buffer_binding_size` WebGPU
/// allows.
pub const UNIFORM_STAGE_BYTES: u64 = 65536;

impl Staging {
    /// An rgba32float texture holding a copy of the first `texels` texels (4 floats each) of
    /// `src`, folded at `2^logw` texels a row (allocated 64 bytes wider: see below).
    fn texture(gpu: &Gpu, label: &str, src: &wgpu::Buffer, texels: u32, logw: u32) -> Staging {
        let width = 1u32 << logw;
        // Allocated 64 bytes wider than the fold (kernels never read the margin): rows of
        // 2^logw texels would lie a power of two apart, and a kernel walking down a column
        // of a matrix whose row is one texture row (B at 1024 columns: 4 KiB) would hit one
        // L1 set of a CPU device with every load.
        let pad = 64 / 16;
        let allocated = if width + pad <= crate::ops::matmul::TEX_MAX_DIM as u32 {
            width + pad
        } else {
            width
        };
        let texture = gpu.copy_texture(
            label,
            wgpu::Extent3d {
                width: allocated,
                height: texels.div_ceil(width).max(1),
                depth_or_array_layers: 1,
            },
        );
        Staging {
            src: src.clone(),
            src_label: label.to_string(),
            dst: StagedInto::Texture {
                texture,
                width,
                texels,
            },
        }
    }

    /// A 64 KiB uniform buffer holding a copy of the first `bytes` (≤ 64 KiB) of `src`.
    fn uniform(gpu: &Gpu, label: &str, src: &wgpu::Buffer, bytes: u64) -> Staging {
        let buffer = gpu.buffer(
            label,
            UNIFORM_STAGE_BYTES,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        Staging {
            src: src.clone(),
            src_label: label.to_string(),
            dst: StagedInto::Uniform { buffer, bytes },
        }
    }

    /// A [`Bind::Strips`] copy of `src` (`texels` texels, rows of `row_texels`) into an array
    /// texture of `row_texels / strip` layers, each `strip` texels wide.
    fn strips(
        gpu: &Gpu,
        label: &str,
        src: &wgpu::Buffer,
        texels: u32,
        row_texels: u32,
        strip: u32,
    ) -> Staging {
        let texture = gpu.copy_texture(
            label,
            wgpu::Extent3d {
                width: strip,
                height: texels / row_texels,
                depth_or_array_layers: row_texels / strip,
            },
        );
        Staging {
            src: src.clone(),
            src_label: label.to_string(),
            dst: StagedInto::Strips {
                texture,
                row_texels,
                strip,
            },
        }
    }

    /// What is copied where, for `explain`.
    pub fn describe(&self) -> String {
        let kind = match &self.dst {
            StagedInto::Texture { .. } => "texture".to_string(),
            StagedInto::Uniform { .. } => "uniform buffer".to_string(),
            StagedInto::Strips {
                row_texels, strip, ..
            } => format!(
                "texture of {} strips ({} columns each)",
                row_texels / strip,
                4 * strip
            ),
        };
        format!("{} into a {} B {kind}", self.src_label, self.bytes())
    }

    /// Bytes of the texture or uniform buffer.
    pub fn bytes(&self) -> u64 {
        match &self.dst {
            StagedInto::Texture { texture, .. } => {
                let s = texture.size();
                s.width as u64 * s.height as u64 * 16
            }
            StagedInto::Strips { texture, .. } => {
                let s = texture.size();
                s.width as u64 * s.height as u64 * s.depth_or_array_layers as u64 * 16
            }
            StagedInto::Uniform { .. } => UNIFORM_STAGE_BYTES,
        }
    }

    /// Records the copy (a texture: the whole rows in one command, the partial last row in
    /// another).
    fn record(&self, enc: &mut wgpu::CommandEncoder) {
        let (texture, width, texels) = match &self.dst {
            StagedInto::Uniform { buffer, bytes } => {
                enc.copy_buffer_to_buffer(&self.src, 0, buffer, 0, *bytes);
                return;
            }
            StagedInto::Strips {
                texture,
                row_texels,
                strip,
            } => {
                let size = texture.size();
                for layer in 0..size.depth_or_array_layers {
                    enc.copy_buffer_to_texture(
                        wgpu::TexelCopyBufferInfo {
                            buffer: &self.src,
                            layout: wgpu::TexelCopyBufferLayout {
                                offset: layer as u64 * *strip as u64 * 16,
                                bytes_per_row: Some(row_texels * 16),
                                rows_per_image: None,
                            },
                        },
                        wgpu::TexelCopyTextureInfo {
                            texture,
                            mip_level: 0,
                            origin: wgpu::Origin3d {
                                x: 0,
                                y: 0,
                                z: layer,
                            },
                            aspect: wgpu::TextureAspect::All,
                        },
                        wgpu::Extent3d {
                            width: *strip,
                            height: size.height,
                            depth_or_array_layers: 1,
                        },
                    );
                }
                return;
            }
            StagedInto::Texture {
                texture,
                width,
                texels,
            } => (texture, *width, *texels),
        };
        let rows = texels / width;
        let rest = texels % width;
        let mut copy = |offset: u64, y: u32, w: u32, height: u32| {
            enc.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer: &self.src,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset,
                        bytes_per_row: Some(width * 16),
                        rows_per_image: None,
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x: 0, y, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width: w,
                    height,
                    depth_or_array_layers: 1,
                },
            );
        };
        if rows > 0 {
            copy(0, 0, width, rows);
        }
        if rest > 0 {
            copy(rows as u64 * width as u64 * 16, rows, rest, 1);
        }
    }
}

/// A compiled graph.
pub struct Plan {
    pub dispatches: Vec<Dispatch>,
    pub storage: Vec<Storage>,
    pub lifetimes: Vec<Lifetime>,
    pub slot_bytes: Vec<u64>,
    /// Bytes of the transient slots, the persistent tensors this graph uses and the staged
    /// copies (textures, uniform buffers) of texture variants.
    pub peak_bytes: u64,
    /// What the peak would be if no transient buffer were reused.
    pub peak_without_reuse: u64,
    /// Bytes of the persistent tensors this graph uses.
    pub persistent_bytes: u64,
    buffers: Vec<Option<wgpu::Buffer>>,
    step_buffer: wgpu::Buffer,
}

/// How kernels are chosen at compile time.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions {
    pub matmul: matmul::Variant,
    pub conv: conv::Variant,
    /// How the streaming kernels read (see [`crate::ops::Reads`]).
    pub reads: crate::ops::Reads,
    /// The device's largest subgroup size (set by the plan from the adapter).
    pub subgroup_size: u32,
    /// Workgroup width of the kernels that walk one row a workgroup: 0 lets the plan choose
    /// for the adapter ([`row_workgroup`]); tests pin others.
    pub row_wg: u32,
    /// Deliberately break a kernel: every dispatch of this entry point has its output
    /// multiplied by the factor (a teaching aid for `gradcheck`).
    pub break_kernel: Option<(&'static str, f32)>,
}

impl CompileOptions {
    /// Width of the row-walking workgroups: the plan's choice, or 64.
    pub fn row_wg(&self) -> u32 {
        if self.row_wg == 0 {
            64
        } else {
            self.row_wg
        }
    }
}

/// Workgroup width for the kernels that walk one row (or plane) a workgroup: the batch
/// gather, the loss gradients, the texture forms of pooling and upsampling. 64 on GPUs; on CPU
/// devices one subgroup, the invocations one SIMD register holds, so a row is one loop rather
/// than many small chunks of invocations (lavapipe runs a workgroup's invocations a
/// register's worth at a time, at a cost per chunk).
pub fn row_workgroup(gpu: &Gpu) -> u32 {
    if gpu.is_cpu() {
        gpu.info.subgroup_max_size.clamp(1, 64)
    } else {
        64
    }
}

/// The staged copy binding `b` of node `id` reads (texture and uniform variants), or None
/// for a binding that reads a buffer as it is.
fn stage_key(g: &Graph, id: NodeId, b: &Bind) -> Option<StageKey> {
    let inputs = &g.nodes[id].inputs;
    Some(match *b {
        Bind::Texture { input, logw } => {
            let x = inputs[input];
            let texels = g.nodes[x].len().div_ceil(4) as u32;
            (x, StageAs::Texture(texels, logw))
        }
        Bind::Strips {
            input,
            row_texels,
            strip,
        } => (inputs[input], StageAs::Strips(row_texels, strip)),
        Bind::Uniform { input } => (inputs[input], StageAs::Uniform),
        _ => return None,
    })
}

/// Whether every copy the texture form of streaming node `id` reads is staged already
/// (`staged` says so of a copy's key): then that form adds no copy to the step. False where
/// the texture form stages nothing (it falls back to storage).
fn texture_inputs_staged(
    g: &Graph,
    id: NodeId,
    opts: CompileOptions,
    staged: impl Fn(&StageKey) -> bool,
) -> bool {
    let tex = kernel_call(
        g,
        id,
        CompileOptions {
            reads: crate::ops::Reads::Texture,
            ..opts
        },
    );
    let keys: Vec<StageKey> = tex
        .bindings
        .iter()
        .filter_map(|b| stage_key(g, id, b))
        .collect();
    !keys.is_empty() && keys.iter().all(staged)
}

/// Whether node `id` runs a streaming kernel with a texture form for its shape (see
/// [`crate::ops::Reads`]).
pub fn streams(g: &Graph, id: NodeId) -> bool {
    if g.nodes[id].op.is_leaf() {
        return false;
    }
    let textured = kernel_call(
        g,
        id,
        CompileOptions {
            reads: crate::ops::Reads::Texture,
            ..Default::default()
        },
    );
    textured.shader.storage_front().is_some()
}

/// The product a matmul node computes (None for other nodes).
pub fn matmul_shape(g: &Graph, id: NodeId) -> Option<matmul::MatmulShape> {
    let Op::MatMul {
        trans_a, trans_b, ..
    } = g.nodes[id].op
    else {
        return None;
    };
    let sa = g.matrix_view(g.nodes[id].inputs[0]);
    let (m, k) = if trans_a {
        (sa[1], sa[0])
    } else {
        (sa[0], sa[1])
    };
    Some(matmul::MatmulShape {
        m,
        n: g.row_len(id),
        k,
        trans_a,
        trans_b,
    })
}

/// The geometry of a convolution node and which of the three kernels computes it.
pub fn conv_kind(g: &Graph, id: NodeId) -> Option<(conv::ConvGeom, conv::Kernel)> {
    match g.nodes[id].op {
        Op::Conv2d { geom, .. } => Some((geom, conv::Kernel::Forward)),
        Op::ConvTranspose2d { geom, .. } => Some((geom, conv::Kernel::BackwardInput)),
        Op::ConvWeightGrad { geom } => Some((geom, conv::Kernel::WeightGrad)),
        _ => None,
    }
}

/// The kernel call of a (non-leaf) node.
pub fn kernel_call(g: &Graph, id: NodeId, opts: CompileOptions) -> KernelCall {
    let n = &g.nodes[id];
    let shape_of = |k: usize| g.shape(n.inputs[k]);
    match n.op {
        Op::Gather => gather::call(
            n.shape[0],
            n.shape[1],
            g.nodes[n.inputs[1]].len(),
            g.nodes[n.inputs[0]].dtype == crate::graph::DType::F32,
            opts.row_wg(),
        ),
        Op::MatMul { act, .. } => {
            let s = matmul_shape(g, id).expect("a matmul node");
            matmul::call(s, n.inputs.len() == 3, act, opts.matmul, opts.subgroup_size)
        }
        Op::Activation(act) => activation::forward_call(act, n.len()),
        Op::ActivationBackward(act) => activation::backward_call(act, n.len(), opts.reads),
        Op::ColumnSum => reduce::column_sum_call(shape_of(0)[0], shape_of(0)[1], opts.reads),
        Op::SumAll { scale } => {
            let x = n.inputs[0];
            reduce::sum_all_call(g.nodes[x].len(), g.row_len(x), scale, false)
        }
        Op::Accumulate { scale } => {
            let x = n.inputs[1];
            reduce::sum_all_call(g.nodes[x].len(), g.row_len(x), scale, true)
        }
        Op::BroadcastScaled { scale } => elementwise::broadcast_scaled_call(n.len(), scale),
        Op::Add => elementwise::add_call(n.len()),
        Op::AddScaled { alpha } => elementwise::add_scaled_call(n.len(), alpha),
        Op::Scale { alpha } => elementwise::scale_call(n.len(), alpha),
        Op::Reparameterize => {
            crate::ops::vae::reparameterize_call(n.shape[0], n.len() / n.shape[0])
        }
        Op::ReparameterizeBackwardLogvar => {
            crate::ops::vae::reparameterize_backward_logvar_call(n.shape[0], n.len() / n.shape[0])
        }
        Op::Kl => crate::ops::vae::kl_call(shape_of(0)[0], g.row_len(n.inputs[0])),
        Op::KlBackward { of_logvar } => {
            crate::ops::vae::kl_backward_call(of_logvar, n.shape[0], n.len() / n.shape[0])
        }
        Op::Fill(v) => elementwise::fill_call(n.len(), v),
        Op::Random { dist, stream } => crate::ops::random::call(dist, n.len(), stream),
        Op::Loss(kind) => {
            loss::forward_call(kind, shape_of(0)[0], g.row_len(n.inputs[0]), opts.reads)
        }
        Op::LossBackward(kind) => loss::backward_call(
            kind,
            shape_of(0)[0],
            g.row_len(n.inputs[0]),
            opts.reads,
            opts.row_wg(),
        ),
        Op::Conv2d { geom, act } => conv::forward_call(&geom, n.inputs.len() == 3, act, opts.conv),
        Op::ConvTranspose2d { geom, act } => {
            conv::backward_input_call(&geom, n.inputs.len() == 3, act, opts.conv)
        }
        Op::ConvWeightGrad { geom } => conv::weight_grad_call(&geom, opts.conv),
        Op::FoldUpsampledWeights { geom } => conv::fold_call(&geom),
        Op::RowSum => {
            reduce::row_sum_call(n.len(), g.nodes[n.inputs[0]].len() / n.len(), opts.reads)
        }
        Op::MaxPool => pool::forward_call(&pool_planes(shape_of(0)), opts.reads, opts.row_wg()),
        Op::MaxPoolBackward(act) => {
            pool::backward_call(&pool_planes(&n.shape), act, opts.reads, opts.row_wg())
        }
        Op::Upsample => {
            pool::upsample_call(&upsample_planes(shape_of(0)), opts.reads, opts.row_wg())
        }
        Op::UpsampleBackward(act) => {
            let p = upsample_planes(&n.shape);
            pool::upsample_backward_call(&p, act, opts.reads, opts.row_wg())
        }
        Op::Noise { noise, stream } => crate::ops::random::noise_call(noise, n.len(), stream),
        Op::L1Penalty { scale } => sparsity::l1_call(shape_of(0)[0], g.row_len(n.inputs[0]), scale),
        Op::L1PenaltyBackward { scale } => {
            sparsity::l1_backward_call(n.shape[0], g.row_len(n.inputs[0]), scale)
        }
        Op::NearZero => sparsity::near_zero_call(shape_of(0)[0], g.row_len(n.inputs[0])),
        Op::CodeMean => sparsity::code_mean_call(shape_of(0)[0], n.len()),
        Op::CodeMeanBackward => sparsity::code_mean_backward_call(n.shape[0], n.len() / n.shape[0]),
        Op::KlSparsity { rho, beta } => sparsity::kl_call(g.nodes[n.inputs[0]].len(), rho, beta),
        Op::KlSparsityBackward { rho, beta } => sparsity::kl_backward_call(n.len(), rho, beta),
        Op::Update(opt) => optimizer::call(opt, g.nodes[n.inputs[0]].len(), opts.reads),
        Op::AddInPlace => crate::ops::pca::add_in_place_call(g.nodes[n.inputs[0]].len()),
        Op::GramSchmidt(step) => {
            let [d, k] = g.matrix_view(n.inputs[0]);
            crate::ops::pca::gs_call(step, d, k)
        }
        Op::Input | Op::Param(_) | Op::State => unreachable!("leaves have no kernel"),
    }
}

impl Plan {
    /// Compiles `graph`: allocates (or finds) every buffer, creates every pipeline, uniform and
    /// bind group, and orders the dispatches. Nodes in `keep` stay readable after a step.
    pub fn compile(
        graph: &Graph,
        gpu: &Gpu,
        res: &mut Resources,
        keep: &[NodeId],
    ) -> Result<Plan, GpuError> {
        Self::compile_with(graph, gpu, res, keep, CompileOptions::default())
    }

    /// [`Plan::compile`] with explicit kernel choices.
    pub fn compile_with(
        graph: &Graph,
        gpu: &Gpu,
        res: &mut Resources,
        keep: &[NodeId],
        opts: CompileOptions,
    ) -> Result<Plan, GpuError> {
        let nodes = &graph.nodes;
        let count = nodes.len();
        // Last reader of each node (in node order, which is dispatch order).
        let mut last_use: Vec<usize> = (0..count).collect();
        for (i, n) in nodes.iter().enumerate() {
            for &j in &n.inputs {
                last_use[j] = last_use[j].max(i);
            }
        }
        for &k in keep {
            last_use[k] = usize::MAX;
        }

        let mut storage = vec![Storage::None; count];
        let mut slot_bytes: Vec<u64> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut live: Vec<(usize, usize)> = Vec::new(); // (last_use, slot)
        let mut lifetimes = Vec::new();
        let mut persistent_bytes = 0;
        let mut transient_total = 0;
        for (i, n) in nodes.iter().enumerate() {
            if n.op.is_leaf() {
                persistent_bytes += n.bytes();
                storage[i] = Storage::Persistent(n.name.clone());
                continue;
            }
            // Buffers whose last reader ran before this node are free again.
            live.retain(|&(last, slot)| {
                if last < i {
                    free.push(slot);
                    false
                } else {
                    true
                }
            });
            if n.op.is_in_place() {
                continue;
            }
            let need = n.bytes();
            check_binding_size(gpu, &n.name, need)?;
            transient_total += need;
            let fit = free
                .iter()
                .enumerate()
                .filter(|(_, &s)| slot_bytes[s] >= need)
                .min_by_key(|(_, &s)| slot_bytes[s])
                .map(|(k, _)| k);
            let slot = if let Some(k) = fit {
                free.swap_remove(k)
            } else if let Some((k, _)) = free.iter().enumerate().max_by_key(|(_, &s)| slot_bytes[s])
            {
                let s = free.swap_remove(k);
                slot_bytes[s] = need;
                s
            } else {
                slot_bytes.push(need);
                slot_bytes.len() - 1
            };
            live.push((last_use[i], slot));
            storage[i] = Storage::Slot(slot);
            lifetimes.push(Lifetime {
                node: i,
                slot,
                first: i,
                last: last_use[i].min(count - 1),
                bytes: need,
            });
        }

        // Buffers.
        let slots: Vec<wgpu::Buffer> = slot_bytes
            .iter()
            .enumerate()
            .map(|(s, &b)| gpu.storage(&format!("slot {s}"), b))
            .collect();
        let mut buffers: Vec<Option<wgpu::Buffer>> = vec![None; count];
        for (i, n) in nodes.iter().enumerate() {
            buffers[i] = match &storage[i] {
                Storage::Persistent(name) => Some(res.get_or_create(gpu, name, n.bytes())?),
                Storage::Slot(s) => Some(slots[*s].clone()),
                Storage::None => None,
            };
        }
        let step_buffer = gpu.uniform("step", &[0; 4]);

        // Pipelines, uniforms and bind groups (and textures of texture variants), once.
        let mut dispatches = Vec::new();
        let mut texture_bytes = 0;
        // Each staged copy and the node whose dispatch made it.
        let mut staged: HashMap<StageKey, (StagedBinding, String)> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if n.op.is_leaf() {
                continue;
            }
            // Variants left to the engine are the context's to choose (forced, tuned or
            // the fixed rule: see `crate::tune`).
            let mut node_opts = opts;
            node_opts.subgroup_size = gpu.info.subgroup_max_size;
            if opts.row_wg == 0 {
                node_opts.row_wg = row_workgroup(gpu);
            }
            if let (Some(s), matmul::Variant::Auto) = (matmul_shape(graph, i), opts.matmul) {
                node_opts.matmul = gpu.matmul_variant(&s)?;
            }
            if let (Some((geom, which)), conv::Variant::Auto) = (conv_kind(graph, i), opts.conv) {
                node_opts.conv = gpu.conv_variant(&geom, which)?;
            }
            if opts.reads == crate::ops::Reads::Auto && streams(graph, i) {
                let staged_already =
                    texture_inputs_staged(graph, i, node_opts, |k| staged.contains_key(k));
                node_opts.reads = gpu.reads_variant(graph, i, staged_already)?;
            }
            let call = kernel_call(graph, i, node_opts);
            let pipeline = gpu.pipeline(call.shader, call.entry, &call.constants);
            let params = gpu.uniform(&format!("{} params", n.name), &call.params);
            // Staged inputs (texture and uniform variants), in binding order. A tensor
            // already staged the same way by an earlier dispatch is not copied again: plan
            // tensors are written once per step, except by in-place nodes, which drop the
            // copies of what they write (below).
            let mut copies = Vec::new();
            let mut shared = Vec::new();
            let mut staged_binds = Vec::new();
            for b in &call.bindings {
                let Some(key) = stage_key(graph, i, b) else {
                    continue;
                };
                let (x, how) = key;
                if let Some((bound, by)) = staged.get(&key) {
                    staged_binds.push(bound.clone());
                    shared.push(format!("'{}' (copied for '{by}')", nodes[x].name));
                    continue;
                }
                let src = buffers[x].as_ref().expect("input buffer");
                let label = format!("'{}' (input of '{}')", nodes[x].name, n.name);
                let copy = match how {
                    StageAs::Texture(texels, logw) => {
                        Staging::texture(gpu, &label, src, texels, logw)
                    }
                    StageAs::Strips(row_texels, strip) => {
                        let texels = nodes[x].len().div_ceil(4) as u32;
                        Staging::strips(gpu, &label, src, texels, row_texels, strip)
                    }
                    StageAs::Uniform => Staging::uniform(gpu, &label, src, nodes[x].bytes()),
                };
                texture_bytes += copy.bytes();
                let bound = match &copy.dst {
                    StagedInto::Texture { texture, .. } => {
                        StagedBinding::View(texture.create_view(&Default::default()))
                    }
                    StagedInto::Strips { texture, .. } => {
                        StagedBinding::View(texture.create_view(&wgpu::TextureViewDescriptor {
                            dimension: Some(wgpu::TextureViewDimension::D2Array),
                            ..Default::default()
                        }))
                    }
                    StagedInto::Uniform { buffer, .. } => StagedBinding::Buffer(buffer.clone()),
                };
                staged.insert(key, (bound.clone(), n.name.clone()));
                staged_binds.push(bound);
                copies.push(copy);
            }
            if n.op.is_in_place() {
                staged.retain(|(x, _), _| !n.inputs.contains(x));
            }
            let mut staged_left = staged_binds.iter();
            let mut binds: Vec<wgpu::BindingResource> = Vec::new();
            for b in &call.bindings {
                binds.push(match b {
                    Bind::Output => buffers[i]
                        .as_ref()
                        .expect("output buffer")
                        .as_entire_binding(),
                    Bind::Input(k) => buffers[n.inputs[*k]]
                        .as_ref()
                        .expect("input buffer")
                        .as_entire_binding(),
                    Bind::Dummy => gpu.dummy().as_entire_binding(),
                    Bind::Texture { .. } | Bind::Strips { .. } | Bind::Uniform { .. } => {
                        match staged_left.next().expect("a staged input") {
                            StagedBinding::View(v) => wgpu::BindingResource::TextureView(v),
                            StagedBinding::Buffer(b) => b.as_entire_binding(),
                        }
                    }
                });
            }
            binds.push(params.as_entire_binding());
            if call.uses_step {
                binds.push(step_buffer.as_entire_binding());
            }
            let bind_group = gpu.bind_group_of(&n.name, &pipeline, binds);
            let workgroups = match call.workgroups {
                Workgroups::Items { n: items, wg } => gpu.grid_1d(items, wg)?,
                Workgroups::Layers {
                    n: items,
                    wg,
                    layers,
                } => {
                    let [x, y, _] = gpu.grid_1d(items, wg)?;
                    if layers > gpu.limits.max_compute_workgroups_per_dimension {
                        return Err(GpuError::Limit(format!(
                            "node '{}' needs {layers} workgroup layers, more than this device's {} per dimension",
                            n.name, gpu.limits.max_compute_workgroups_per_dimension
                        )));
                    }
                    [x, y, layers]
                }
                Workgroups::Fixed(w) => {
                    let max = gpu.limits.max_compute_workgroups_per_dimension;
                    if w.iter().any(|&d| d > max) {
                        return Err(GpuError::Limit(format!(
                            "node '{}' needs {w:?} workgroups, more than this device's {max} per dimension. \
                             Hint: use a smaller --batch-size.",
                            n.name
                        )));
                    }
                    w
                }
            };
            let broken = opts.break_kernel.filter(|(entry, _)| {
                // A kernel and its four-at-a-time variant break together.
                let base = call
                    .entry
                    .strip_suffix("_vec4")
                    .or_else(|| call.entry.strip_suffix("_tex"))
                    .unwrap_or(call.entry);
                (*entry == call.entry || *entry == base) && buffers[i].is_some()
            });
            dispatches.push(Dispatch {
                node: i,
                call,
                workgroups,
                pipeline,
                bind_group,
                copies,
                shared,
            });
            if let Some((_, factor)) = broken {
                let call = elementwise::scale_in_place_call(n.len(), factor);
                let pipeline = gpu.pipeline(call.shader, call.entry, &call.constants);
                let params = gpu.uniform(&format!("{} broken", n.name), &call.params);
                let out = buffers[i].as_ref().expect("output buffer");
                let bind_group =
                    gpu.bind_group(&format!("{} broken", n.name), &pipeline, &[out, &params]);
                let workgroups = gpu.grid_1d(n.len() as u64, 256)?;
                dispatches.push(Dispatch {
                    node: i,
                    call,
                    workgroups,
                    pipeline,
                    bind_group,
                    copies: Vec::new(),
                    shared: Vec::new(),
                });
            }
        }
        let transient: u64 = slot_bytes.iter().sum();
        Ok(Plan {
            dispatches,
            storage,
            lifetimes,
            peak_bytes: transient + persistent_bytes + texture_bytes,
            peak_without_reuse: transient_total + persistent_bytes + texture_bytes,
            persistent_bytes,
            slot_bytes,
            buffers,
            step_buffer,
        })
    }

    /// Records the whole step into `enc` (after writing the step uniform): one compute pass,
    /// split only where a texture variant's copies must run between dispatches.
    pub fn encode(&self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder, step: StepUniform) {
        self.set_step(gpu, step);
        self.record(enc, 0..self.dispatches.len());
    }

    /// Writes the per-step uniform (takes effect at the next submission).
    pub fn set_step(&self, gpu: &Gpu, step: StepUniform) {
        gpu.queue
            .write_buffer(&self.step_buffer, 0, bytemuck::bytes_of(&step));
    }

    /// Records dispatches `range` (with their texture copies) into `enc`: the benchmark times
    /// the whole plan or one dispatch this way.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder, range: std::ops::Range<usize>) {
        self.record_with(enc, range, true);
    }

    /// Records dispatches `range` without their texture copies, reading what the last copies
    /// staged: the tuner times a texture form this way as a step that had staged its inputs
    /// already would run it.
    pub fn record_dispatches(&self, enc: &mut wgpu::CommandEncoder, range: std::ops::Range<usize>) {
        self.record_with(enc, range, false);
    }

    fn record_with(
        &self,
        enc: &mut wgpu::CommandEncoder,
        range: std::ops::Range<usize>,
        copies: bool,
    ) {
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        for d in &self.dispatches[range] {
            if copies && !d.copies.is_empty() {
                drop(pass.take());
                for c in &d.copies {
                    c.record(enc);
                }
            }
            let p = pass.get_or_insert_with(|| {
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("step"),
                    timestamp_writes: None,
                })
                .forget_lifetime()
            });
            p.set_pipeline(&d.pipeline);
            p.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.workgroups;
            p.dispatch_workgroups(x, y, z);
        }
    }

    /// Runs one step: one uniform write, one encoder, one submission.
    pub fn run(&self, gpu: &Gpu, step: StepUniform) -> wgpu::SubmissionIndex {
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            });
        self.encode(gpu, &mut enc, step);
        gpu.queue.submit([enc.finish()])
    }

    /// The buffer holding node `id` (None for in-place nodes).
    pub fn buffer(&self, id: NodeId) -> Option<&wgpu::Buffer> {
        self.buffers[id].as_ref()
    }

    /// Reads node `id` back (blocking). Only meaningful for kept nodes and leaves.
    pub fn read(&self, gpu: &Gpu, graph: &Graph, id: NodeId) -> Result<Vec<f32>, GpuError> {
        let b = self.buffer(id).ok_or_else(|| {
            GpuError::Limit(format!("node '{}' has no buffer", graph.nodes[id].name))
        })?;
        gpu.read_f32(b, 0, graph.nodes[id].len())
    }

    /// Writes host data into a leaf.
    pub fn write_f32(&self, gpu: &Gpu, id: NodeId, data: &[f32]) {
        if let Some(b) = self.buffer(id) {
            gpu.queue.write_buffer(b, 0, bytemuck::cast_slice(data));
        }
    }

    /// Writes raw words (u32 indices, packed bytes) into a leaf.
    pub fn write_u32(&self, gpu: &Gpu, id: NodeId, data: &[u32]) {
        if let Some(b) = self.buffer(id) {
            gpu.queue.write_buffer(b, 0, bytemuck::cast_slice(data));
        }
    }
}

/// Packs bytes four to a u32 (little-endian), as `gather_batch` reads them.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}
