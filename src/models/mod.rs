//! The autoencoders. Each writes its forward graph from layers, ending in a per-sample loss;
//! training, evaluation and the other commands add what they need around it.

pub mod vanilla;

use crate::graph::{Graph, NodeId};
use crate::ops::loss::LossKind;
use serde::{Deserialize, Serialize};

/// Which autoencoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Vanilla,
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vanilla" | "dense" => Ok(ModelKind::Vanilla),
            "conv" | "denoising" | "sparse" | "vae" => Err(format!(
                "model '{s}' is not built yet: this version trains the vanilla (dense) autoencoder"
            )),
            o => Err(format!("unknown model '{o}': choose vanilla")),
        }
    }
}

impl ModelKind {
    /// Name as printed and stored.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Vanilla => "vanilla",
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
}

/// The nodes a model exposes.
#[derive(Clone, Copy, Debug)]
pub struct Built {
    /// The code z: [batch, latent].
    pub latent: NodeId,
    /// Decoder output before the sigmoid: [batch, input_dim].
    pub logits: NodeId,
    /// The reconstruction in [0, 1] (only when asked for, or when the loss needs it).
    pub recon: Option<NodeId>,
    /// Reconstruction loss per sample, summed over features: \[batch\].
    pub per_sample: NodeId,
}

/// Writes the model's forward graph for input batch `x` ([batch, input_dim], also the target).
pub fn build(g: &mut Graph, cfg: &ModelConfig, x: NodeId, want_recon: bool) -> Built {
    match cfg.kind {
        ModelKind::Vanilla => vanilla::build(g, cfg, x, want_recon),
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
