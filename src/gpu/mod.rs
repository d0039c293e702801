//! The wgpu context: backend and adapter choice, limits, labelled buffers, cached pipelines,
//! bind groups, and read-back. One long-lived [`Gpu`] serves a whole run.
//!
//! Everything that allocates on the device goes through this type and is counted
//! ([`Gpu::counters`]), so a test can prove that a training step creates nothing.

pub mod shaders;
pub mod workers;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

pub use shaders::{kernels_fingerprint, Shader, TexFetch};

/// Records one dispatch in a compute pass of its own (benchmarks and probes; a training step
/// records its dispatches through the plan, several to a pass).
pub fn dispatch(
    enc: &mut wgpu::CommandEncoder,
    pipeline: &wgpu::ComputePipeline,
    bind_group: &wgpu::BindGroup,
    grid: [u32; 3],
) {
    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("dispatch"),
        timestamp_writes: None,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind_group, &[]);
    pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
}

/// Which wgpu backend to use (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The best adapter of any backend: discrete GPU, then integrated, then the rest.
    #[default]
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "vulkan" | "vk" => Ok(Self::Vulkan),
            "metal" => Ok(Self::Metal),
            "dx12" | "d3d12" => Ok(Self::Dx12),
            "gl" | "gles" | "opengl" => Ok(Self::Gl),
            other => Err(format!(
                "unknown backend '{other}': choose one of auto, vulkan, metal, dx12, gl"
            )),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Auto => "auto",
            Self::Vulkan => "vulkan",
            Self::Metal => "metal",
            Self::Dx12 => "dx12",
            Self::Gl => "gl",
        };
        f.write_str(s)
    }
}

impl BackendChoice {
    /// The wgpu backend set this choice searches.
    pub fn backends(self) -> wgpu::Backends {
        match self {
            Self::Auto => wgpu::Backends::all(),
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Metal => wgpu::Backends::METAL,
            Self::Dx12 => wgpu::Backends::DX12,
            Self::Gl => wgpu::Backends::GL,
        }
    }
}

/// What a user's machine or flags can get wrong about the device.
#[derive(Debug)]
pub enum GpuError {
    /// The requested backend found no adapter.
    NoAdapter {
        requested: BackendChoice,
        found: Vec<String>,
    },
    /// `--adapter N` is past the end of the list.
    AdapterIndex { index: usize, found: Vec<String> },
    /// The adapter refused to give us a device.
    RequestDevice(String),
    /// A tensor or dispatch exceeds what this device allows.
    Limit(String),
    /// The device reported an error (validation, out of memory, lost).
    Device(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter { requested, found } => {
                write!(
                    f,
                    "no GPU adapter for backend '{requested}' (tried: {:?}); ",
                    requested.backends()
                )?;
                if found.is_empty() {
                    write!(f, "no adapter was found on any backend. ")?;
                } else {
                    write!(f, "adapters found on other backends: {}. ", found.join("; "))?;
                }
                write!(
                    f,
                    "Hint: install your GPU's driver, or on Debian/Ubuntu a CPU Vulkan driver with \
                     `apt-get install mesa-vulkan-drivers libvulkan1` (and `libegl1 libegl-mesa0` for --backend gl); \
                     `shaderprop devices` lists what is found."
                )
            }
            GpuError::AdapterIndex { index, found } => write!(
                f,
                "--adapter {index} does not exist: {} adapter(s) found ({}). Hint: run `shaderprop devices` and pick an index it lists.",
                found.len(),
                found.join("; ")
            ),
            GpuError::RequestDevice(e) => write!(f, "the adapter refused to create a device: {e}"),
            GpuError::Limit(e) => write!(f, "{e}"),
            GpuError::Device(e) => write!(
                f,
                "the GPU reported an error: {e}. Hint: if it ran out of memory, try a smaller --batch-size."
            ),
        }
    }
}

impl std::error::Error for GpuError {}

/// One adapter as `shaderprop devices` prints it.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver: {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}

/// [`TexFetch::Storage`] when `adapter` can bind rgba32float textures as read-only storage
/// textures (Vulkan, Metal and DX12 adapters can), else [`TexFetch::Sampled`]. GL
/// adapters get Sampled even when they have the formats: `texel()` takes its texture as a
/// parameter, and GLSL does not allow an image (a storage texture) as a function parameter.
fn storage_texture_reads(adapter: &wgpu::Adapter) -> TexFetch {
    if adapter.get_info().backend == wgpu::Backend::Gl {
        return TexFetch::Sampled;
    }
    let features = adapter.get_texture_format_features(wgpu::TextureFormat::Rgba32Float);
    let readable = features
        .allowed_usages
        .contains(wgpu::TextureUsages::STORAGE_BINDING)
        && features
            .flags
            .contains(wgpu::TextureFormatFeatureFlags::STORAGE_READ_ONLY);
    if readable {
        TexFetch::Storage
    } else {
        TexFetch::Sampled
    }
}

/// True for software rasterisers that run on the CPU (lavapipe, llvmpipe, WARP, SwiftShader).
pub fn is_cpu_adapter(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
        || info.name.contains("llvmpipe")
        || info.name.contains("lavapipe")
        || info.name.contains("SwiftShader")
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        _ => 4,
    };
    (kind, backend)
}

/// Every adapter of `choice`, best first: the order `--adapter N` indexes.
pub fn list_adapters(choice: BackendChoice) -> Vec<wgpu::Adapter> {
    let instance = new_instance(choice.backends());
    let mut adapters = pollster::block_on(instance.enumerate_adapters(choice.backends()));
    adapters.sort_by_key(|a| preference(&a.get_info()));
    adapters
}

/// Creation counters: everything the device allocates through [`Gpu`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub buffers: u64,
    pub bind_groups: u64,
    pub pipelines: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: Shader,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
}

/// The bytes [`Gpu::buffer`] allocates for `size`: rounded up to 16, at least 16.
pub fn buffer_size(size: u64) -> u64 {
    size.max(16).div_ceil(16) * 16
}

/// The device, its queue and the caches that live as long as it does.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    modules: RefCell<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: RefCell<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    buffers_created: Cell<u64>,
    bind_groups_created: Cell<u64>,
    pipelines_created: Cell<u64>,
    dummy: wgpu::Buffer,
    /// Autotuning of matmul variants (None: off, the library's default).
    tuner: RefCell<Option<crate::tune::Tuner>>,
    /// Variants pinned with `--variant` (Auto: not pinned).
    forced_matmul: Cell<crate::ops::matmul::Variant>,
    forced_conv: Cell<crate::ops::conv::Variant>,
    forced_reads: Cell<crate::ops::Reads>,
    /// How texture fronts fetch (read-only storage textures where the adapter has them).
    tex_fetch: Cell<TexFetch>,
    /// A CPU device's worker threads pinned one to a core: (thread id, CPU).
    workers: Vec<(i32, usize)>,
}

impl Gpu {
    /// Opens the adapter `index` (default 0: the best) of `choice`. Says once on stderr when
    /// the adapter is a CPU device, since its timings are not a GPU's.
    pub fn new(choice: BackendChoice, index: Option<usize>) -> Result<Gpu, GpuError> {
        Self::new_with_limits(choice, index, |l| l)
    }

    /// As [`Gpu::new`], with the requested limits passed through `adjust` first (tests use it
    /// to force small limits).
    pub fn new_with_limits(
        choice: BackendChoice,
        index: Option<usize>,
        adjust: impl FnOnce(wgpu::Limits) -> wgpu::Limits,
    ) -> Result<Gpu, GpuError> {
        // The threads before the driver starts any (see workers.rs); contexts are created one
        // at a time, so that those started meanwhile are this one's.
        static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
        let before = workers::threads();
        let adapters = list_adapters(choice);
        let names: Vec<String> = adapters
            .iter()
            .map(|a| describe_adapter(&a.get_info()))
            .collect();
        if adapters.is_empty() {
            let found = if choice == BackendChoice::Auto {
                Vec::new()
            } else {
                list_adapters(BackendChoice::Auto)
                    .iter()
                    .map(|a| describe_adapter(&a.get_info()))
                    .collect()
            };
            return Err(GpuError::NoAdapter {
                requested: choice,
                found,
            });
        }
        let i = index.unwrap_or(0);
        let Some(adapter) = adapters.into_iter().nth(i) else {
            return Err(GpuError::AdapterIndex {
                index: i,
                found: names,
            });
        };
        let info = adapter.get_info();
        let wanted_features = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted_features;
        let limits = adjust(adapter.limits());
        let tex_fetch = storage_texture_reads(&adapter);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shaderprop"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dummy (unused binding)"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let cpu = is_cpu_adapter(&info);
        let mut gpu = Gpu {
            device,
            queue,
            info,
            limits,
            features,
            modules: RefCell::new(HashMap::new()),
            pipelines: RefCell::new(HashMap::new()),
            buffers_created: Cell::new(1),
            bind_groups_created: Cell::new(0),
            pipelines_created: Cell::new(0),
            dummy,
            tuner: RefCell::new(None),
            forced_matmul: Cell::new(Default::default()),
            forced_conv: Cell::new(Default::default()),
            forced_reads: Cell::new(Default::default()),
            tex_fetch: Cell::new(tex_fetch),
            workers: Vec::new(),
        };
        if cpu {
            gpu.workers = workers::spread(&gpu, &before);
            let pinned = match gpu.workers.len() {
                0 => String::new(),
                n => format!(
                    " Its {n} compute worker threads are pinned one to a core \
                     (SHADERPROP_PIN_WORKERS=0 leaves them to the scheduler)."
                ),
            };
            eprintln!(
                "note: '{}' is a CPU device (software Vulkan/GL): it runs every kernel, slowly. \
                 Install a GPU driver for GPU speed.{pinned}",
                gpu.info.name
            );
        }
        Ok(gpu)
    }

    /// A CPU device's compute worker threads this context pinned one to a core, as (thread
    /// id, CPU); empty on a GPU (see [`workers`]).
    pub fn pinned_workers(&self) -> &[(i32, usize)] {
        &self.workers
    }

    /// How many buffers, bind groups and pipelines this context has created so far.
    pub fn counters(&self) -> Counters {
        Counters {
            buffers: self.buffers_created.get(),
            bind_groups: self.bind_groups_created.get(),
            pipelines: self.pipelines_created.get(),
        }
    }

    /// Turns autotuning on with its cache at `path` (None: in memory only). See [`crate::tune`].
    pub fn enable_tuning(&self, path: Option<std::path::PathBuf>) {
        *self.tuner.borrow_mut() = Some(crate::tune::Tuner::open(path, &self.info));
    }

    /// Pins the variants every later plan uses (`--variant`); Auto unpins.
    pub fn force_variants(
        &self,
        matmul: crate::ops::matmul::Variant,
        conv: crate::ops::conv::Variant,
        reads: crate::ops::Reads,
    ) {
        self.forced_matmul.set(matmul);
        self.forced_conv.set(conv);
        self.forced_reads.set(reads);
    }

    /// How this context's texture fronts fetch (see [`TexFetch`]).
    pub fn tex_fetch(&self) -> TexFetch {
        self.tex_fetch.get()
    }

    /// Makes texture fronts fetch the `fetch` way from now on (tests run the sampled fallback on
    /// a device that has storage reads). Compiled modules and pipelines are dropped; plans
    /// compiled before keep theirs.
    pub fn force_tex_fetch(&self, fetch: TexFetch) {
        self.tex_fetch.set(fetch);
        self.modules.borrow_mut().clear();
        self.pipelines.borrow_mut().clear();
    }

    /// A 2D (or 2D-array) rgba32float texture of one mip level that the texture fronts read,
    /// filled by copies: the usages they need (storage-texture access where they fetch that
    /// way). rgba32float is the one format they read (`tex_fns.wgsl`).
    pub fn copy_texture(&self, label: &str, size: wgpu::Extent3d) -> wgpu::Texture {
        self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: self.texture_copy_usage(),
            view_formats: &[],
        })
    }

    /// The usages of a texture copy the texture fronts read: storage-texture access where
    /// they fetch that way.
    fn texture_copy_usage(&self) -> wgpu::TextureUsages {
        let usage = wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST;
        match self.tex_fetch.get() {
            TexFetch::Storage => usage | wgpu::TextureUsages::STORAGE_BINDING,
            TexFetch::Sampled => usage,
        }
    }

    /// Shape classes this context has timed so far (0 when every choice came from the cache).
    pub fn tunings_run(&self) -> usize {
        self.tuner.borrow().as_ref().map_or(0, |t| t.tuned)
    }

    /// The variant a matmul of shape `s` left to the engine runs with: pinned, tuned (from the
    /// cache, or timed now and cached) or the fixed rule. See [`crate::tune`].
    pub fn matmul_variant(
        &self,
        s: &crate::ops::matmul::MatmulShape,
    ) -> Result<crate::ops::matmul::Variant, GpuError> {
        use crate::ops::matmul::Variant;
        let forced = self.forced_matmul.get();
        if forced != Variant::Auto && forced.runs_on(self, s) {
            return Ok(forced);
        }
        let class = crate::tune::shape_class(s);
        let tuned = self.tuned_choice(class, &format!("{}×{}×{}", s.m, s.n, s.k), || {
            crate::tune::time_candidates(self, *s)
        })?;
        // A class's choice may not run at every shape of the class (`subgroup_strips` needs
        // N a multiple of 64): then the same kernel with B as it lies.
        let runnable = |v: Variant| {
            let v = match v {
                Variant::SubgroupStrips if !v.runs_on(self, s) => Variant::SubgroupPipe,
                v => v,
            };
            (v.runs_on(self, s) && v != Variant::Auto).then_some(v)
        };
        Ok(tuned
            .and_then(|e| Variant::from_name(&e.variant))
            .and_then(runnable)
            .unwrap_or(Variant::Auto.resolve(s)))
    }

    /// The variant a convolution kernel left to the engine runs with: pinned, tuned, or
    /// `Direct`. See [`crate::tune`].
    pub fn conv_variant(
        &self,
        g: &crate::ops::conv::ConvGeom,
        kernel: crate::ops::conv::Kernel,
    ) -> Result<crate::ops::conv::Variant, GpuError> {
        use crate::ops::conv::{Variant, TUNED};
        let forced = self.forced_conv.get();
        if forced != Variant::Auto {
            // `subgroup` where it cannot run (no subgroups, a larger kernel, a weight
            // gradient) is the texture kernel it shares taps in.
            return Ok(match forced.runs_on(self, g, kernel) {
                true => forced,
                false => Variant::Texture,
            });
        }
        let class = crate::tune::conv_class(g, kernel);
        let tuned = self.tuned_choice(class, &crate::tune::conv_shape(g), || {
            crate::tune::time_conv_candidates(self, *g, kernel)
        })?;
        Ok(tuned
            .and_then(|e| TUNED.into_iter().find(|v| v.name() == e.variant))
            .filter(|v| v.runs_on(self, g, kernel))
            .unwrap_or(Variant::Direct))
    }

    /// How streaming node `id` of `g` (see [`crate::graph::plan::streams`]) reads: pinned,
    /// tuned, or storage.
    ///
    /// `inputs_staged`: every input the texture form reads through a texture has been staged
    /// by an earlier dispatch of the plan ([`crate::tune::reads_choice`]).
    pub fn reads_variant(
        &self,
        g: &crate::graph::Graph,
        id: crate::graph::NodeId,
        inputs_staged: bool,
    ) -> Result<crate::ops::Reads, GpuError> {
        use crate::ops::Reads;
        let forced = self.forced_reads.get();
        if forced != Reads::Auto {
            return Ok(forced);
        }
        let (class, shape) = crate::tune::reads_class(g, id);
        let tuned = self.tuned_choice(class, &shape, || {
            crate::tune::time_reads_candidates(self, g, id)
        })?;
        Ok(tuned
            .and_then(|e| crate::tune::reads_choice(&e, inputs_staged))
            .unwrap_or(Reads::Storage))
    }

    /// The cached or freshly timed choice for `class` (None: tuning is off).
    fn tuned_choice(
        &self,
        class: String,
        shape: &str,
        time: impl FnOnce() -> anyhow::Result<crate::tune::Entry>,
    ) -> Result<Option<crate::tune::Entry>, GpuError> {
        match self.tuner.borrow().as_ref() {
            None => return Ok(None),
            Some(t) => {
                if let Some(e) = t.get(&class) {
                    return Ok(Some(e.clone()));
                }
            }
        }
        eprintln!("tuning {class} on this device ({shape}; once, then cached)");
        let entry = time().map_err(|e| GpuError::Device(format!("autotuning {class}: {e:#}")))?;
        if let Some(t) = self.tuner.borrow_mut().as_mut() {
            t.tuned += 1;
            t.put(class, entry.clone());
        }
        Ok(Some(entry))
    }

    /// True when the adapter is a software (CPU) device.
    pub fn is_cpu(&self) -> bool {
        is_cpu_adapter(&self.info)
    }

    /// A 16-byte storage buffer for bindings a variant does not read (e.g. no bias).
    pub fn dummy(&self) -> &wgpu::Buffer {
        &self.dummy
    }

    /// A labelled buffer of `size` bytes, rounded up to 16 (so a tensor of any length can be
    /// copied whole into 16-byte texels).
    pub fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.buffers_created.set(self.buffers_created.get() + 1);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: buffer_size(size),
            usage,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer that can be written from the host and read back.
    pub fn storage(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.buffer(
            label,
            size,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
        )
    }

    /// A storage buffer holding `data`.
    pub fn storage_f32(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        let b = self.storage(label, std::mem::size_of_val(data) as u64);
        self.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
        b
    }

    /// A uniform buffer holding `words` (u32 or f32 bit patterns), padded to 16 bytes.
    pub fn uniform(&self, label: &str, words: &[u32]) -> wgpu::Buffer {
        let mut padded = words.to_vec();
        while !padded.len().is_multiple_of(4) || padded.is_empty() {
            padded.push(0);
        }
        let b = self.buffer(
            label,
            (padded.len() * 4) as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        self.queue
            .write_buffer(&b, 0, bytemuck::cast_slice(&padded));
        b
    }

    fn module(&self, shader: Shader) -> wgpu::ShaderModule {
        if let Some(m) = self.modules.borrow().get(&shader) {
            return m.clone();
        }
        let source = shader.source_with(self.tex_fetch.get());
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(shader.file()),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let m = unsafe {
            self.device
                .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
        };
        self.modules.borrow_mut().insert(shader, m.clone());
        m
    }

    /// The pipeline for `entry` of `shader` specialised by override `constants`; built once
    /// per distinct key and cached for the life of the context.
    pub fn pipeline(
        &self,
        shader: Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> wgpu::ComputePipeline {
        let key = PipelineKey {
            shader,
            entry,
            constants: constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        };
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return p.clone();
        }
        let module = self.module(shader);
        let label = if constants.is_empty() {
            format!("{}::{entry}", shader.file())
        } else {
            let c: Vec<String> = constants.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}::{entry}[{}]", shader.file(), c.join(","))
        };
        let p = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        self.pipelines_created.set(self.pipelines_created.get() + 1);
        self.pipelines.borrow_mut().insert(key, p.clone());
        p
    }

    /// A bind group with `buffers` at bindings 0, 1, 2, ... (whole buffers).
    pub fn bind_group(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let resources: Vec<wgpu::BindingResource> =
            buffers.iter().map(|b| b.as_entire_binding()).collect();
        self.bind_group_of(label, pipeline, resources)
    }

    /// A bind group with `resources` (buffers or texture views) at bindings 0, 1, 2, ...
    pub fn bind_group_of(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        resources: Vec<wgpu::BindingResource>,
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .into_iter()
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            })
            .collect();
        self.bind_groups_created
            .set(self.bind_groups_created.get() + 1);
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// Workgroup counts for `n` items in workgroups of `wg`: 1-D, or 2-D (x·y ≥ needed) when
    /// one dimension would pass the device's limit. Kernels recover the linear index as
    /// `gid.x + gid.y · wg · num_workgroups.x`.
    pub fn grid_1d(&self, n: u64, wg: u32) -> Result<[u32; 3], GpuError> {
        let groups = n.div_ceil(wg as u64).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        if groups <= max {
            return Ok([groups as u32, 1, 1]);
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(GpuError::Limit(format!(
                "{n} elements need {groups} workgroups, more than {max}² that this device dispatches"
            )));
        }
        let x = groups.div_ceil(y);
        Ok([x as u32, y as u32, 1])
    }

    /// Blocks until the queue is idle; device errors surface here.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Device(e.to_string()))
    }

    /// Reads `len` f32 values at `offset` (in elements) of `buffer`, blocking. For tests,
    /// checkpoints and pictures; the training loop uses [`Readback`] instead.
    pub fn read_f32(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        len: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let bytes = (len * 4) as u64;
        let staging = self.buffer(
            "read-back staging",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("read-back"),
            });
        enc.copy_buffer_to_buffer(buffer, offset * 4, &staging, 0, bytes.div_ceil(4) * 4);
        self.queue.submit([enc.finish()]);
        map_and_read(self, &staging, len)
    }

    /// Reads a whole u32 buffer of `len` elements, blocking.
    pub fn read_u32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<u32>, GpuError> {
        Ok(self
            .read_f32(buffer, 0, len)?
            .into_iter()
            .map(f32::to_bits)
            .collect())
    }
}

fn map_and_read(gpu: &Gpu, staging: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, GpuError> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Device(e.to_string()))?
        .map_err(|e| GpuError::Device(e.to_string()))?;
    let out = {
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Device(e.to_string()))?;
        bytemuck::cast_slice::<u8, f32>(&view)[..len].to_vec()
    };
    staging.unmap();
    Ok(out)
}

/// Non-blocking read-back of a small buffer (a loss accumulator) through two staging buffers
/// made once: the training loop asks for a copy every few steps and picks up the value when
/// the GPU has got there, without ever waiting for it.
pub struct Readback {
    staging: [wgpu::Buffer; 2],
    state: [std::sync::Arc<std::sync::Mutex<SlotState>>; 2],
    len: usize,
    next: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    Pending,
    Ready,
    Failed,
}

impl Readback {
    /// Two staging buffers of `len` f32.
    pub fn new(gpu: &Gpu, label: &str, len: usize) -> Readback {
        let mk = || {
            gpu.buffer(
                label,
                (len * 4) as u64,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )
        };
        Readback {
            staging: [mk(), mk()],
            state: [
                std::sync::Arc::new(std::sync::Mutex::new(SlotState::Free)),
                std::sync::Arc::new(std::sync::Mutex::new(SlotState::Free)),
            ],
            len,
            next: 0,
        }
    }

    fn state(&self, i: usize) -> SlotState {
        *self.state[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a copy of `src` into a free staging buffer; returns the slot, or None when both
    /// are still in flight (then this request is simply skipped).
    pub fn request(&mut self, enc: &mut wgpu::CommandEncoder, src: &wgpu::Buffer) -> Option<usize> {
        let i = self.next;
        if self.state(i) != SlotState::Free {
            return None;
        }
        enc.copy_buffer_to_buffer(src, 0, &self.staging[i], 0, (self.len * 4) as u64);
        *self.state[i].lock().unwrap_or_else(|e| e.into_inner()) = SlotState::Pending;
        self.next = 1 - i;
        Some(i)
    }

    /// After the submit that carried `request`'s copy: asks for the map.
    pub fn map(&self, slot: usize) {
        let state = self.state[slot].clone();
        self.staging[slot].map_async(wgpu::MapMode::Read, .., move |r| {
            *state.lock().unwrap_or_else(|e| e.into_inner()) = if r.is_ok() {
                SlotState::Ready
            } else {
                SlotState::Failed
            };
        });
    }

    /// Polls the device without blocking and returns the newest value that has arrived.
    pub fn poll(&mut self, gpu: &Gpu) -> Option<Vec<f32>> {
        let _ = gpu.device.poll(wgpu::PollType::Poll);
        let mut newest = None;
        for i in [1 - self.next, self.next] {
            match self.state(i) {
                SlotState::Ready => {
                    if let Ok(view) = self.staging[i].get_mapped_range(..) {
                        newest = Some(bytemuck::cast_slice::<u8, f32>(&view)[..self.len].to_vec());
                    }
                    self.staging[i].unmap();
                    *self.state[i].lock().unwrap_or_else(|e| e.into_inner()) = SlotState::Free;
                }
                SlotState::Failed => {
                    *self.state[i].lock().unwrap_or_else(|e| e.into_inner()) = SlotState::Free;
                }
                _ => {}
            }
        }
        newest
    }

    /// Copies `src` and waits for it: for the end of an epoch. Reuses the staging buffers.
    pub fn read_blocking(&mut self, gpu: &Gpu, src: &wgpu::Buffer) -> Result<Vec<f32>, GpuError> {
        gpu.wait()?;
        let _ = self.poll(gpu);
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("read-back"),
            });
        let slot = self
            .request(&mut enc, src)
            .ok_or_else(|| GpuError::Device("read-back slot still busy".into()))?;
        gpu.queue.submit([enc.finish()]);
        self.map(slot);
        gpu.wait()?;
        self.poll(gpu)
            .ok_or_else(|| GpuError::Device("read-back did not complete".into()))
    }
}
