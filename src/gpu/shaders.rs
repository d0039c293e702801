//! Every WGSL source of the project, embedded with `include_str!`: the one list a reader
//! needs to find any kernel. Files that use an activation (matmul, activation, conv) get
//! `act_fns.wgsl` prepended, so the activation formulas live in one place; texture fronts get
//! `tex_fns.wgsl` (the shared texel fetch).

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
    Pool,
    Sparsity,
    Pca,
    Bench,
}

const ACT_FNS: &str = include_str!("../../shaders/act_fns.wgsl");
const CONV_DIRECT: &str = include_str!("../../shaders/conv_direct.wgsl");
const MATMUL_BLOCK: &str = include_str!("../../shaders/matmul_block.wgsl");
const TEX_FNS: &str = include_str!("../../shaders/tex_fns.wgsl");

/// The streaming kernel families and their texture-read fronts, the one place they pair up.
const STREAM_FRONTS: [(Shader, Shader); 4] = [
    (Shader::Loss, Shader::LossTex),
    (Shader::Reduce, Shader::ReduceTex),
    (Shader::Activation, Shader::ActivationTex),
    (Shader::Optimizer, Shader::OptimizerTex),
];

impl Shader {
    /// Every shader, for tests that compile them all.
    pub const ALL: [Shader; 21] = [
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
        Shader::Pool,
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
            Shader::Pool => "pool.wgsl",
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
            Shader::ConvTex => include_str!("../../shaders/conv_tex.wgsl"),
            Shader::Pool => include_str!("../../shaders/pool.wgsl"),
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

    /// The full WGSL text handed to the driver.
    pub fn source(self) -> String {
        match self {
            // The two matmul fronts share the 8×8 block body.
            Shader::Matmul => format!("{ACT_FNS}\n{}\n{MATMUL_BLOCK}", self.own_source()),
            Shader::MatmulTex => {
                format!(
                    "{ACT_FNS}\n{TEX_FNS}\n{}\n{MATMUL_BLOCK}",
                    self.own_source()
                )
            }
            // The subgroup variant reads through matmul_tex's bindings and fetches.
            Shader::MatmulSg => format!(
                "{ACT_FNS}\n{TEX_FNS}\n{}\n{MATMUL_BLOCK}\n{}",
                Shader::MatmulTex.own_source(),
                self.own_source()
            ),
            // The two conv fronts share the direct kernels' bodies.
            Shader::Conv => format!("{ACT_FNS}\n{}\n{CONV_DIRECT}", self.own_source()),
            Shader::ConvTex => {
                format!("{ACT_FNS}\n{TEX_FNS}\n{}\n{CONV_DIRECT}", self.own_source())
            }
            Shader::Activation => format!("{ACT_FNS}\n{}", self.own_source()),
            // Texture fronts of the streaming kernels: the storage file (its formulas,
            // structs and bindings, with act_fns.wgsl before it if it has it), then the front.
            Shader::LossTex | Shader::ReduceTex | Shader::OptimizerTex | Shader::ActivationTex => {
                let storage = self.storage_front().expect("a streaming texture front");
                format!("{TEX_FNS}\n{}\n{}", storage.source(), self.own_source())
            }
            _ => self.own_source().to_string(),
        }
    }
}
