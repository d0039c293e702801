//! The autoencoders. Each writes its forward graph from layers, ending in a per-sample loss;
//! training, evaluation and the other commands add what they need around it.

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
    Vae,
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vanilla" | "dense" => Ok(ModelKind::Vanilla),
            "vae" | "variational" => Ok(ModelKind::Vae),
            "conv" | "denoising" | "sparse" => Err(format!(
                "model '{s}' is not built yet: this version trains vanilla and vae"
            )),
            o => Err(format!("unknown model '{o}': choose vanilla or vae")),
        }
    }
}

impl ModelKind {
    /// Name as printed and stored.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Vanilla => "vanilla",
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
    /// How the dense layers start.
    #[serde(default)]
    pub init: crate::nn::InitScheme,
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
        }
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
    /// The code z: [batch, latent].
    pub latent: NodeId,
    /// Decoder output before the sigmoid: [batch, input_dim].
    pub logits: NodeId,
    /// The reconstruction in [0, 1] (only when asked for, or when the loss needs it).
    pub recon: Option<NodeId>,
    /// The training loss per sample (all terms): \[batch\].
    pub per_sample: NodeId,
    /// Its terms, each per sample (\[batch\]): ("reconstruction", ..) and for the VAE ("kl", ..).
    pub terms: Vec<(&'static str, NodeId)>,
}

/// The reconstruction term every model shares: per-sample BCE on the decoder's logits (the
/// sigmoid fused into the loss; a `reconstruction` sigmoid node only when asked for), or MSE
/// on the sigmoid output. Returns (reconstruction node if any, per-sample loss).
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
pub fn build(g: &mut Graph, cfg: &ModelConfig, x: NodeId, want_recon: bool) -> Built {
    match cfg.kind {
        ModelKind::Vanilla => vanilla::build(g, cfg, x, want_recon),
        ModelKind::Vae => vae::build(g, cfg, x, want_recon),
    }
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
