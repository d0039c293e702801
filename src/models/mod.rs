//! The autoencoders. Each writes its forward graph from layers, ending in a per-sample loss;
//! training, evaluation and the other commands add what they need around it.

pub mod conv;
pub mod vae;
pub mod vanilla;

use crate::graph::{Graph, NodeId};
use crate::ops::loss::LossKind;
use serde::{Deserialize, Serialize};

/// Which autoencoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Vanilla,
    Conv,
    Denoising,
    Sparse,
    Vae,
}

/// How an extra (evaluation) term is averaged into the reported figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Per sample and code unit (mean activation, near-zero fraction).
    PerCodeUnit,
    /// A whole-batch value (the KL sparsity penalty): mean over batches.
    PerBatch,
}

/// The network a denoising (or other) model uses: dense layers or the conv stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[default]
    Dense,
    Conv,
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dense" => Ok(Arch::Dense),
            "conv" => Ok(Arch::Conv),
            o => Err(format!("unknown --arch '{o}': choose dense or conv")),
        }
    }
}

/// How the convolutional decoder doubles its resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    /// Nearest-neighbour ×2 (Keras' UpSampling2D): no parameters.
    #[default]
    Upsample,
    /// A learned 3×3 stride-2 transposed convolution.
    Transpose,
}

impl std::str::FromStr for Decoder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "upsample" => Ok(Decoder::Upsample),
            "transpose" => Ok(Decoder::Transpose),
            o => Err(format!(
                "unknown --decoder '{o}': choose upsample or transpose"
            )),
        }
    }
}

/// Random stream of the denoising model's corruption.
pub const NOISE_STREAM: u32 = 3;

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vanilla" | "dense" => Ok(ModelKind::Vanilla),
            "conv" | "convolutional" => Ok(ModelKind::Conv),
            "denoising" => Ok(ModelKind::Denoising),
            "vae" | "variational" => Ok(ModelKind::Vae),
            "sparse" => Ok(ModelKind::Sparse),
            o => Err(format!(
                "unknown model '{o}': choose vanilla, conv, denoising, sparse or vae"
            )),
        }
    }
}

impl ModelKind {
    /// Name as printed and stored.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Vanilla => "vanilla",
            ModelKind::Conv => "conv",
            ModelKind::Denoising => "denoising",
            ModelKind::Sparse => "sparse",
            ModelKind::Vae => "vae",
        }
    }
}

/// Everything that fixes a model's graph (saved in config.json and the checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// Input features per sample (channels·rows·cols).
    pub input_dim: usize,
    /// Image geometry, for pictures: [channels, rows, cols].
    pub image: [usize; 3],
    /// Widths of the hidden layers between input and code (empty: 784-32-784).
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub loss: LossKind,
    /// Weight of the KL term (VAE only).
    #[serde(default = "one")]
    pub beta: f32,
    /// How the layers start.
    #[serde(default)]
    pub init: crate::nn::InitScheme,
    /// Dense or convolutional network (conv: always; denoising: `--arch`).
    #[serde(default)]
    pub arch: Arch,
    /// The conv encoder's channels (empty: the recipe's 16, 8, 8).
    #[serde(default)]
    pub channels: Vec<usize>,
    /// The conv decoder's upsampling.
    #[serde(default)]
    pub decoder: Decoder,
    /// The denoising model's corruption.
    #[serde(default)]
    pub noise: Option<crate::ops::random::Noise>,
    /// The sparse model's penalty.
    #[serde(default)]
    pub sparsity: Option<crate::ops::sparsity::Sparsity>,
    /// A linear output layer instead of the sigmoid (standardised CSV data; MSE only).
    #[serde(default)]
    pub linear_output: bool,
    /// Per-column mean and standard deviation the training data was standardised with (CSV
    /// data), so every later command standardises new data the same way.
    #[serde(default)]
    pub data_stats: Option<crate::data::own::ColumnStats>,
}

fn one() -> f32 {
    1.0
}

impl ModelConfig {
    /// The reference dense autoencoder: 784 → 32 ReLU → 784, BCE, Keras' initialisation.
    pub fn dense_reference() -> Self {
        ModelConfig {
            kind: ModelKind::Vanilla,
            input_dim: 784,
            image: [1, 28, 28],
            hidden: vec![],
            latent: 32,
            loss: LossKind::Bce,
            beta: 1.0,
            init: crate::nn::InitScheme::Glorot,
            arch: Arch::Dense,
            channels: vec![],
            decoder: Decoder::Upsample,
            noise: None,
            sparsity: None,
            linear_output: false,
            data_stats: None,
        }
    }

    /// The Keras convolutional autoencoder on 28×28 grey images (4×4×8 code).
    pub fn conv_reference() -> Self {
        let mut c = ModelConfig {
            kind: ModelKind::Conv,
            arch: Arch::Conv,
            ..Self::dense_reference()
        };
        c.latent = conv::code_shape(&c).iter().product();
        c
    }

    /// One line for logs: the kind and its layer sizes.
    pub fn describe(&self) -> String {
        let noise = self
            .noise
            .map(|n| format!(", noise {n}"))
            .or(self.sparsity.map(|s| format!(", sparsity {s}")))
            .unwrap_or_default();
        if self.is_conv() {
            let [c, h, w] = self.image;
            let [zc, zh, zw] = conv::code_shape(self);
            let ch: Vec<String> = conv::channels(self).iter().map(|c| c.to_string()).collect();
            let latent = if self.kind == ModelKind::Vae {
                format!(" → dense μ, logvar ∈ ℝ^{} → dense", self.latent)
            } else {
                String::new()
            };
            format!(
                "{} conv {c}×{h}×{w} → code {zc}×{zh}×{zw}{latent} → {c}×{h}×{w} (channels {}, decoder {:?}){noise}",
                self.kind.name(),
                ch.join(","),
                self.decoder
            )
        } else {
            let widths: String = self.hidden.iter().map(|h| format!("{h}-")).collect();
            format!(
                "{} {}-{widths}{}-{}{noise}",
                self.kind.name(),
                self.input_dim,
                self.latent,
                self.input_dim
            )
        }
    }

    /// Whether the network is the convolutional one.
    pub fn is_conv(&self) -> bool {
        self.arch == Arch::Conv
    }

    /// Whether the loss is reported per sample (the VAE's, summed over features as in the
    /// papers) rather than per feature (per pixel).
    pub fn loss_per_sample(&self) -> bool {
        self.kind == ModelKind::Vae
    }

    /// What one unit of the reported loss is.
    pub fn loss_unit(&self) -> &'static str {
        if self.loss_per_sample() {
            "per sample"
        } else {
            "per pixel"
        }
    }
}

/// The nodes a model exposes.
#[derive(Clone, Debug)]
pub struct Built {
    /// What the encoder sees: the batch, or its corrupted copy for the denoising model.
    pub input: NodeId,
    /// The code z: [batch, latent] (conv: [batch, c, h, w]).
    pub latent: NodeId,
    /// Decoder output before the sigmoid: [batch, input_dim].
    pub logits: NodeId,
    /// The reconstruction in [0, 1] (only when asked for, or when the loss needs it).
    pub recon: Option<NodeId>,
    /// The training loss per sample (all terms): \[batch\].
    pub per_sample: NodeId,
    /// Its terms, each per sample (\[batch\]): ("reconstruction", ..), for the VAE ("kl", ..);
    /// evaluation graphs of the denoising model add the per-sample squared errors of the
    /// noisy input and of the output against the clean image ("mse_noisy", "mse_denoised").
    pub terms: Vec<(&'static str, NodeId)>,
    /// Figures evaluation reports besides the loss terms, each averaged as its [`Norm`] says
    /// (the sparse model's penalty when it is a batch term, its code statistics).
    pub extra: Vec<(&'static str, NodeId, Norm)>,
    /// A whole-batch term added to the training loss after the per-sample mean (KL sparsity).
    pub batch_penalty: Option<NodeId>,
}

/// The reconstruction term every model shares: per-sample BCE on the decoder's logits (the
/// sigmoid fused into the loss; a `reconstruction` sigmoid node only when asked for), or MSE
/// on the sigmoid output (on the logits themselves with `linear_output`). Returns (reconstruction node if any, per-sample loss).
pub fn reconstruction_loss(
    g: &mut Graph,
    cfg: &ModelConfig,
    logits: NodeId,
    x: NodeId,
    want_recon: bool,
) -> (Option<NodeId>, NodeId) {
    use crate::ops::Act;
    match cfg.loss {
        LossKind::Bce => {
            let recon = want_recon.then(|| g.activation("reconstruction", logits, Act::Sigmoid));
            (recon, g.loss("bce_per_sample", LossKind::Bce, logits, x))
        }
        LossKind::Mse if cfg.linear_output => (
            Some(logits),
            g.loss("mse_per_sample", LossKind::Mse, logits, x),
        ),
        LossKind::Mse => {
            let recon = g.activation("reconstruction", logits, Act::Sigmoid);
            (
                Some(recon),
                g.loss("mse_per_sample", LossKind::Mse, recon, x),
            )
        }
    }
}

/// Writes the model's forward graph for input batch `x` ([batch, input_dim], also the target).
/// With `want_recon` (evaluation) it also writes the reconstruction and the code statistics.
pub fn build(g: &mut Graph, cfg: &ModelConfig, x: NodeId, want_recon: bool) -> Built {
    let mut built = build_model(g, cfg, x, want_recon);
    if want_recon {
        code_stats(g, &mut built);
    }
    built
}

fn build_model(g: &mut Graph, cfg: &ModelConfig, x: NodeId, want_recon: bool) -> Built {
    let arch = |g: &mut Graph, input: NodeId, want_recon: bool| {
        if cfg.is_conv() {
            conv::build(g, cfg, input, x, want_recon)
        } else {
            vanilla::build(g, cfg, input, x, want_recon)
        }
    };
    match cfg.kind {
        ModelKind::Vanilla | ModelKind::Conv => arch(g, x, want_recon),
        ModelKind::Sparse => {
            let mut built = arch(g, x, want_recon);
            sparsify(g, cfg, &mut built);
            built
        }
        ModelKind::Denoising => {
            let noise = cfg
                .noise
                .unwrap_or(crate::ops::random::Noise::Gaussian(0.5));
            let noisy = g.noise("noisy", x, noise, NOISE_STREAM);
            let mut built = arch(g, noisy, want_recon);
            if let Some(recon) = built.recon {
                let noisy_err = g.loss("mse_noisy", LossKind::Mse, noisy, x);
                let out_err = g.loss("mse_denoised", LossKind::Mse, recon, x);
                built.terms.push(("mse_noisy", noisy_err));
                built.terms.push(("mse_denoised", out_err));
            }
            built
        }
        ModelKind::Vae => vae::build(g, cfg, x, want_recon),
    }
}

/// Adds the sparse model's penalty on the code (and, for evaluation, its statistics).
fn sparsify(g: &mut Graph, cfg: &ModelConfig, built: &mut Built) {
    use crate::graph::{DType, Op};
    use crate::ops::sparsity::Sparsity;
    let z = built.latent;
    let rows = g.shape(z)[0];
    match cfg.sparsity.unwrap_or(Sparsity::L1(1e-5)) {
        Sparsity::L1(lambda) => {
            // λ·Σ|z| per sample, scaled by the feature count so that the per-pixel mean the
            // loss takes leaves exactly λ·Σ|z| (averaged over the batch) beside the BCE.
            let scale = lambda * cfg.input_dim as f32;
            let p = g.push(
                "sparsity_per_sample",
                Op::L1Penalty { scale },
                vec![z],
                vec![rows],
                DType::F32,
            );
            let total = g.add_scaled("loss_per_sample", built.per_sample, p, 1.0);
            built.terms.push(("sparsity", p));
            built.per_sample = total;
        }
        Sparsity::Kl { rho, beta } => {
            // Ng's objective weighs β·Σ KL against the reconstruction error summed over a
            // sample's features; on the per-feature scale the loss is reported in, that is
            // β / features.
            let beta = beta / cfg.input_dim as f32;
            let cols = g.row_len(z);
            let rho_hat = g.push("rho_hat", Op::CodeMean, vec![z], vec![cols], DType::F32);
            let p = g.push(
                "kl_sparsity",
                Op::KlSparsity { rho, beta },
                vec![rho_hat],
                vec![1],
                DType::F32,
            );
            built.batch_penalty = Some(p);
            built.extra.push(("sparsity", p, Norm::PerBatch));
        }
    }
}

/// Evaluation's code statistics, for every model: the mean code activation and the fraction
/// of code values within 1e-3 of zero (per sample and code unit).
fn code_stats(g: &mut Graph, built: &mut Built) {
    use crate::graph::{DType, Op};
    let z = built.latent;
    let rows = g.shape(z)[0];
    let sum = g.push("code_sum", Op::RowSum, vec![z], vec![rows], DType::F32);
    let zeros = g.push(
        "code_near_zero",
        Op::NearZero,
        vec![z],
        vec![rows],
        DType::F32,
    );
    built.extra.push(("code_mean", sum, Norm::PerCodeUnit));
    built
        .extra
        .push(("code_zero_fraction", zeros, Norm::PerCodeUnit));
}

impl serde::Serialize for LossKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for LossKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
