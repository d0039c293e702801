//! One file per kernel family: what each kernel computes (its CPU float64 twin, the
//! definition tests compare against), how it is dispatched ([`KernelCall`]), and its backward
//! rule. The WGSL lives in `shaders/<family>.wgsl`; the graph ([`crate::graph`]) composes them.
//!
//! Chain of trust: central finite differences check each twin's backward against the twin's
//! forward; the twins check the WGSL kernels on fresh random inputs.

pub mod activation;
pub mod conv;
pub mod elementwise;
pub mod gather;
pub mod loss;
pub mod matmul;
pub mod optimizer;
pub mod pca;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod sparsity;
pub mod vae;

pub use activation::Act;

use crate::gpu::Shader;

/// Where a binding's buffer comes from, in `@binding` order (outputs, inputs, then the
/// uniforms, which the plan appends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bind {
    /// The node's own output buffer.
    Output,
    /// The buffer of the node's i-th input (read, or updated in place by optimizer nodes).
    Input(usize),
    /// The 16-byte dummy for a binding the chosen variant does not read.
    Dummy,
    /// A read-only rgba32float texture holding a copy of input `input`'s buffer in buffer
    /// order (texel i: floats 4i..4i+3), folded at `2^logw` texels a row (allocated 64 bytes
    /// wider, a margin no kernel reads); the plan copies it in before the dispatch (see
    /// `shaders/tex_fns.wgsl`, `shaders/matmul_tex.wgsl`, `shaders/conv_tex.wgsl`).
    Texture { input: usize, logw: u32 },
    /// A read-only rgba32float 2D-array texture holding input `input`, a row-major matrix
    /// `row_texels` texels (4 floats each) wide, cut into strips `strip` texels wide: layer s
    /// holds texel columns s·strip .. s·strip + strip − 1 of every row, so a kernel walking
    /// down a strip reads consecutive memory. The plan copies it in before the dispatch, one
    /// command per strip (`row_texels` must be a multiple of 16: the copy's 256-byte row
    /// alignment). See `matmul_tex_sg_strips` in `shaders/matmul_sg.wgsl`.
    Strips {
        input: usize,
        row_texels: u32,
        strip: u32,
    },
    /// A 64 KiB uniform buffer holding a copy of input `input` (at most 64 KiB), which WGSL
    /// declares as `array<vec4<f32>, 4096>`; copied in before the dispatch. On lavapipe a
    /// uniform load at a per-invocation address is ~6× cheaper than a storage load.
    Uniform { input: usize },
}

/// How the streaming kernels (losses and their gradients, column and row sums, activation
/// gradients, optimizer updates, max pooling and upsampling with their gradients: the one
/// list, every other mention points here) read their large inputs: from storage buffers, or
/// from rgba32float copies the plan makes just before the dispatch (`shaders/*_tex.wgsl`). The same
/// math through another load path (the losses and row sums add in another order): on lavapipe
/// a texel fetch brings four values for less than a storage load costs for one; on GPUs the
/// copy is extra traffic. Tuned per device like matmul and conv
/// (`--variant reads=storage|texture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reads {
    /// Left to the engine: tuned, or storage when tuning is off.
    #[default]
    Auto,
    Storage,
    Texture,
}

impl Reads {
    /// The variants that compete in autotuning.
    pub const TUNED: [Reads; 2] = [Reads::Storage, Reads::Texture];

    /// Name as printed, cached and given to `--variant reads=`.
    pub fn name(self) -> &'static str {
        match self {
            Reads::Auto => "auto",
            Reads::Storage => "storage",
            Reads::Texture => "texture",
        }
    }

    /// The variant called `s`.
    pub fn from_name(s: &str) -> Option<Reads> {
        [Reads::Auto, Reads::Storage, Reads::Texture]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// The texture-read form of storage kernel `c` when `reads` asks for it and `applies`: entry
/// `entry` of the `*_tex` shader, run over `workgroups`, with inputs `inputs` (each a tensor
/// of `floats` values, at binding `input + 1`) read from rgba32float texture copies. `c`
/// itself otherwise, or when the tensors are too big for a texture on any WebGPU device.
pub(crate) fn texture_form(
    c: KernelCall,
    reads: Reads,
    applies: bool,
    entry: &'static str,
    workgroups: Workgroups,
    inputs: &[usize],
    floats: usize,
) -> KernelCall {
    let logw = match matmul::tex_logw(floats) {
        Some(l) if reads == Reads::Texture && applies => l,
        _ => return c,
    };
    let mut t = c;
    t.shader = t.shader.texture_front().expect("a streaming kernel family");
    t.entry = entry;
    t.workgroups = workgroups;
    t.constants.push(("TEX_LOGW", logw as f64));
    for &i in inputs {
        t.bindings[i + 1] = Bind::Texture { input: i, logw };
    }
    t
}

/// Most workgroups along one grid dimension every WebGPU device dispatches (the default
/// `max_compute_workgroups_per_dimension`): kernels that put a row or a plane on the grid's z
/// take their flat form past it.
pub const MAX_GRID_LAYERS: usize = 65535;

/// How many workgroups a dispatch needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workgroups {
    /// `n` independent items in workgroups of `wg`, laid out 1-D or 2-D by [`crate::gpu::Gpu::grid_1d`].
    Items { n: u64, wg: u32 },
    /// `n` items per layer as [`Workgroups::Items`], repeated for `layers` layers along z
    /// (the workgroup's z index is then the same for all its invocations: a kernel can make
    /// loads that depend only on it uniform).
    Layers { n: u64, wg: u32, layers: u32 },
    /// An explicit 3-D grid.
    Fixed([u32; 3]),
}

/// Everything the plan needs to record one dispatch of a kernel.
#[derive(Clone, Debug)]
pub struct KernelCall {
    pub shader: Shader,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
    pub bindings: Vec<Bind>,
    /// The kernel's own uniform, as 32-bit words (f32 as bits).
    pub params: Vec<u32>,
    /// Whether the per-step uniform (step, batch offset, seed, valid rows) follows `params`.
    pub uses_step: bool,
    pub workgroups: Workgroups,
    /// Floating-point operations (an FMA counts 2), for `explain` and `bench`.
    pub flops: u64,
    /// Bytes read plus written, for `explain` and `bench`.
    pub bytes: u64,
}

/// The per-step uniform every step-dependent kernel reads (`struct Step` in WGSL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct StepUniform {
    /// Optimizer step, 1-based (Adam's t).
    pub step: u32,
    /// First position in the index buffer for this batch.
    pub batch_offset: u32,
    /// Seed for counter-based random draws.
    pub seed: u32,
    /// Rows of the batch that hold real samples (the rest is padding).
    pub valid_rows: u32,
}

impl StepUniform {
    /// Step 1 over the first `rows` rows with random seed `seed`: a single run of a plan
    /// outside the training loop (evaluation, generation, benchmarks, checks).
    pub fn single(rows: usize, seed: u32) -> Self {
        StepUniform {
            step: 1,
            batch_offset: 0,
            seed,
            valid_rows: rows as u32,
        }
    }
}

/// Relative-error check used by every kernel test: `|got − want| ≤ atol + rtol·|want|`.
/// Returns the largest relative error, or the first failing index with both values.
pub fn compare(got: &[f32], want: &[f64], atol: f64, rtol: f64) -> Result<f64, String> {
    if got.len() != want.len() {
        return Err(format!("length {} != expected {}", got.len(), want.len()));
    }
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = g as f64;
        let err = (g - w).abs();
        // NaN in either value fails too.
        let within = err <= atol + rtol * w.abs();
        if !within {
            return Err(format!(
                "index {i}: got {g}, want {w} (|err| {err:.3e} > {atol:.1e} + {rtol:.1e}·|want|)"
            ));
        }
        worst = worst.max(err / (w.abs() + atol));
    }
    Ok(worst)
}

pub(crate) fn f(x: f32) -> u32 {
    x.to_bits()
}
