//! Every WGSL source of the project, embedded with `include_str!`: the one list a reader
//! needs to find any kernel. Files that use an activation or its derivative (matmul,
//! activation, conv, pool) get `act_fns.wgsl` prepended, so the activation formulas live in one place; texture fronts get
//! `tex_fns.wgsl` (the shared texel fetch; `tex_fns_sampled.wgsl` where the adapter cannot read
//! storage textures, see [`TexFetch`]).

/// One WGSL file: a family of kernels, forward and backward side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul,
    MatmulTex,
    MatmulSg,
    Activation,
    ActivationTex,
    Reduce,
    ReduceTex,
    Elementwise,
    Loss,
    LossTex,
    Optimizer,
    OptimizerTex,
    Gather,
    Random,
    Vae,
    Conv,
    ConvTex,
    ConvTexV2,
    ConvTexV4,
    ConvTexSg,
    ConvTexSgV2,
    ConvTexSgV4,
    ConvFold,
    Pool,
    PoolTex,
    Sparsity,
    Pca,
    Bench,
}

const ACT_FNS: &str = include_str!("../../shaders/act_fns.wgsl");
const CONV_DIRECT: &str = include_str!("../../shaders/conv_direct.wgsl");
const CONV_STORE: &str = include_str!("../../shaders/conv_store.wgsl");
const CONV_STORE2: &str = include_str!("../../shaders/conv_store2.wgsl");
const CONV_STORE4: &str = include_str!("../../shaders/conv_store4.wgsl");
const CONV_TEX_EACH: &str = include_str!("../../shaders/conv_tex_each.wgsl");
const CONV_TEX_SG: &str = include_str!("../../shaders/conv_tex_sg.wgsl");
const MATMUL_BLOCK: &str = include_str!("../../shaders/matmul_block.wgsl");
const TEX_FNS: &str = include_str!("../../shaders/tex_fns.wgsl");
const TEX_FNS_SAMPLED: &str = include_str!("../../shaders/tex_fns_sampled.wgsl");

/// How the texture fronts fetch from their texture copies: as read-only storage textures
/// (`tex_fns.wgsl`: no mip level to resolve, ~3× cheaper a fetch on lavapipe) or, where the
/// adapter's rgba32float format lacks read-only storage access, as sampled textures
/// (`tex_fns_sampled.wgsl`). Same names, same layout, same results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TexFetch {
    #[default]
    Storage,
    Sampled,
}

impl TexFetch {
    /// The WGSL prelude defining `Tex4`, `Tex4Strips`, `texel`, `texel_f` and `strip_texel`.
    fn prelude(self) -> &'static str {
        match self {
            TexFetch::Storage => TEX_FNS,
            TexFetch::Sampled => TEX_FNS_SAMPLED,
        }
    }
}

/// The streaming kernel families and their texture-read fronts, the one place they pair up.
const STREAM_FRONTS: [(Shader, Shader); 5] = [
    (Shader::Loss, Shader::LossTex),
    (Shader::Reduce, Shader::ReduceTex),
    (Shader::Activation, Shader::ActivationTex),
    (Shader::Optimizer, Shader::OptimizerTex),
    (Shader::Pool, Shader::PoolTex),
];

/// A fingerprint of every kernel's WGSL text (FNV-1a over each shader as handed to a driver,
/// both texture-fetch preludes included): tuning choices are filed under it, so a changed
/// kernel is timed again rather than judged by its predecessor's times.
pub fn kernels_fingerprint() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let texts = Shader::ALL
        .iter()
        .map(|s| s.source())
        .chain([TEX_FNS_SAMPLED.to_string()]);
    for text in texts {
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Shader {
    /// Every shader, for tests that compile them all.
    pub const ALL: [Shader; 28] = [
        Shader::Matmul,
        Shader::MatmulTex,
        Shader::MatmulSg,
        Shader::Activation,
        Shader::ActivationTex,
        Shader::Reduce,
        Shader::ReduceTex,
        Shader::Elementwise,
        Shader::Loss,
        Shader::LossTex,
        Shader::Optimizer,
        Shader::OptimizerTex,
        Shader::Gather,
        Shader::Random,
        Shader::Vae,
        Shader::Conv,
        Shader::ConvTex,
        Shader::ConvTexV2,
        Shader::ConvTexV4,
        Shader::ConvTexSg,
        Shader::ConvTexSgV2,
        Shader::ConvTexSgV4,
        Shader::ConvFold,
        Shader::Pool,
        Shader::PoolTex,
        Shader::Sparsity,
        Shader::Pca,
        Shader::Bench,
    ];

    /// The file name under `shaders/`.
    pub fn file(self) -> &'static str {
        match self {
            Shader::Matmul => "matmul.wgsl",
            Shader::MatmulTex => "matmul_tex.wgsl",
            Shader::MatmulSg => "matmul_sg.wgsl",
            Shader::Activation => "activation.wgsl",
            Shader::ActivationTex => "activation_tex.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::ReduceTex => "reduce_tex.wgsl",
            Shader::Elementwise => "elementwise.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::LossTex => "loss_tex.wgsl",
            Shader::Optimizer => "optimizer.wgsl",
            Shader::OptimizerTex => "optimizer_tex.wgsl",
            Shader::Gather => "gather.wgsl",
            Shader::Random => "random.wgsl",
            Shader::Vae => "vae.wgsl",
            Shader::Conv => "conv.wgsl",
            Shader::ConvTex => "conv_tex.wgsl",
            // conv_tex.wgsl with its output stored as pairs or vec4s (conv_store2/4.wgsl).
            Shader::ConvTexV2 => "conv_tex.wgsl+conv_store2.wgsl",
            Shader::ConvTexV4 => "conv_tex.wgsl+conv_store4.wgsl",
            // The same with the weights shared through subgroups (conv_tex_sg.wgsl).
            Shader::ConvTexSg => "conv_tex.wgsl+conv_tex_sg.wgsl",
            Shader::ConvTexSgV2 => "conv_tex.wgsl+conv_tex_sg.wgsl+conv_store2.wgsl",
            Shader::ConvTexSgV4 => "conv_tex.wgsl+conv_tex_sg.wgsl+conv_store4.wgsl",
            Shader::ConvFold => "conv_fold.wgsl",
            Shader::Pool => "pool.wgsl",
            Shader::PoolTex => "pool_tex.wgsl",
            Shader::Sparsity => "sparsity.wgsl",
            Shader::Pca => "pca.wgsl",
            Shader::Bench => "bench.wgsl",
        }
    }

    fn own_source(self) -> &'static str {
        match self {
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::MatmulTex => include_str!("../../shaders/matmul_tex.wgsl"),
            Shader::MatmulSg => include_str!("../../shaders/matmul_sg.wgsl"),
            Shader::Activation => include_str!("../../shaders/activation.wgsl"),
            Shader::ActivationTex => include_str!("../../shaders/activation_tex.wgsl"),
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::ReduceTex => include_str!("../../shaders/reduce_tex.wgsl"),
            Shader::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Shader::Loss => include_str!("../../shaders/loss.wgsl"),
            Shader::LossTex => include_str!("../../shaders/loss_tex.wgsl"),
            Shader::Optimizer => include_str!("../../shaders/optimizer.wgsl"),
            Shader::OptimizerTex => include_str!("../../shaders/optimizer_tex.wgsl"),
            Shader::Gather => include_str!("../../shaders/gather.wgsl"),
            Shader::Random => include_str!("../../shaders/random.wgsl"),
            Shader::Vae => include_str!("../../shaders/vae.wgsl"),
            Shader::Conv => include_str!("../../shaders/conv.wgsl"),
            Shader::ConvTex
            | Shader::ConvTexV2
            | Shader::ConvTexV4
            | Shader::ConvTexSg
            | Shader::ConvTexSgV2
            | Shader::ConvTexSgV4 => include_str!("../../shaders/conv_tex.wgsl"),
            Shader::ConvFold => include_str!("../../shaders/conv_fold.wgsl"),
            Shader::Pool => include_str!("../../shaders/pool.wgsl"),
            Shader::PoolTex => include_str!("../../shaders/pool_tex.wgsl"),
            Shader::Sparsity => include_str!("../../shaders/sparsity.wgsl"),
            Shader::Pca => include_str!("../../shaders/pca.wgsl"),
            Shader::Bench => include_str!("../../shaders/bench.wgsl"),
        }
    }

    /// The texture-read front of a streaming kernel family (`loss.wgsl` → `loss_tex.wgsl`, …;
    /// see [`crate::ops::Reads`]), or None.
    pub fn texture_front(self) -> Option<Shader> {
        STREAM_FRONTS
            .iter()
            .find(|(s, _)| *s == self)
            .map(|&(_, t)| t)
    }

    /// The storage family a streaming texture front reads its formulas from, or None.
    pub fn storage_front(self) -> Option<Shader> {
        STREAM_FRONTS
            .iter()
            .find(|(_, t)| *t == self)
            .map(|&(s, _)| s)
    }

    /// The full WGSL text handed to a driver that reads storage textures.
    pub fn source(self) -> String {
        self.source_with(TexFetch::Storage)
    }

    /// The full WGSL text handed to the driver, texture fronts fetching the `fetch` way.
    pub fn source_with(self, fetch: TexFetch) -> String {
        let tex_fns = fetch.prelude();
        match self {
            // The two matmul fronts share the 8×8 block body.
            Shader::Matmul => format!("{ACT_FNS}\n{}\n{MATMUL_BLOCK}", self.own_source()),
            Shader::MatmulTex => {
                format!(
                    "{ACT_FNS}\n{tex_fns}\n{}\n{MATMUL_BLOCK}",
                    self.own_source()
                )
            }
            // The subgroup variant reads through matmul_tex's bindings and fetches.
            Shader::MatmulSg => format!(
                "{ACT_FNS}\n{tex_fns}\n{}\n{MATMUL_BLOCK}\n{}",
                Shader::MatmulTex.own_source(),
                self.own_source()
            ),
            // The two conv fronts share the direct kernels' bodies and their output.
            Shader::Conv => format!(
                "{ACT_FNS}\n{CONV_STORE}\n{}\n{CONV_DIRECT}",
                self.own_source()
            ),
            // The texture front with its output one float, a pair or a quad at a time, and
            // its weights read by each lane or shared through subgroups.
            Shader::ConvTex
            | Shader::ConvTexV2
            | Shader::ConvTexV4
            | Shader::ConvTexSg
            | Shader::ConvTexSgV2
            | Shader::ConvTexSgV4 => {
                let store = match self {
                    Shader::ConvTexV2 | Shader::ConvTexSgV2 => CONV_STORE2,
                    Shader::ConvTexV4 | Shader::ConvTexSgV4 => CONV_STORE4,
                    _ => CONV_STORE,
                };
                let taps = match self {
                    Shader::ConvTexSg | Shader::ConvTexSgV2 | Shader::ConvTexSgV4 => CONV_TEX_SG,
                    _ => CONV_TEX_EACH,
                };
                format!(
                    "{ACT_FNS}\n{tex_fns}\n{store}\n{}\n{taps}\n{CONV_DIRECT}",
                    self.own_source()
                )
            }
            // Activation and pooling (max_pool_backward's fused epilogue) use the derivatives.
            Shader::Activation | Shader::Pool => format!("{ACT_FNS}\n{}", self.own_source()),
            // Texture fronts of the streaming kernels: the storage file (its formulas,
            // structs and bindings, with act_fns.wgsl before it if it has it), then the front.
            Shader::LossTex
            | Shader::ReduceTex
            | Shader::OptimizerTex
            | Shader::ActivationTex
            | Shader::PoolTex => {
                let storage = self.storage_front().expect("a streaming texture front");
                format!(
                    "{tex_fns}\n{}\n{}",
                    storage.source_with(fetch),
                    self.own_source()
                )
            }
            _ => self.own_source().to_string(),
        }
    }
}
