//! The vanilla (dense) autoencoder, as in the Keras blog post "Building Autoencoders in
//! Keras": 784 → 32 ReLU → 784 sigmoid, binary cross-entropy. `hidden` inserts more layers
//! symmetrically (784-128-64-32-64-128-784 with `--hidden 128,64`).
//!
//! The sigmoid of the last layer is fused into the loss (BCE on logits), so training never
//! materialises it; evaluation adds it as a separate node to get the picture.

use super::{Built, ModelConfig};
use crate::graph::{Graph, NodeId};
use crate::nn::Dense;
use crate::ops::Act;

/// Writes encoder, decoder and the per-sample loss of `x` against `target`.
pub fn build(
    g: &mut Graph,
    cfg: &ModelConfig,
    x: NodeId,
    target: NodeId,
    want_recon: bool,
) -> Built {
    let mut widths = vec![cfg.input_dim];
    widths.extend(&cfg.hidden);
    widths.push(cfg.latent);
    let mut h = x;
    // The KL-sparse model's code is a sigmoid (its units are "active" with a probability).
    let kl_code = matches!(
        cfg.sparsity,
        Some(crate::ops::sparsity::Sparsity::Kl { .. })
    ) && cfg.kind == super::ModelKind::Sparse;
    for i in 0..widths.len() - 1 {
        let code = i == widths.len() - 2;
        let act = if code && kl_code {
            Act::Sigmoid
        } else {
            Act::Relu
        };
        let layer = Dense::with_init(
            g,
            &format!("encoder.{i}"),
            widths[i],
            widths[i + 1],
            act,
            cfg.init,
        );
        h = layer.forward(g, h);
    }
    let latent = h;
    let back: Vec<usize> = widths.iter().rev().copied().collect();
    for i in 0..back.len() - 1 {
        let last = i == back.len() - 2;
        let act = if last { Act::Identity } else { Act::Relu };
        let layer = Dense::with_init(
            g,
            &format!("decoder.{i}"),
            back[i],
            back[i + 1],
            act,
            cfg.init,
        );
        h = layer.forward(g, h);
    }
    let logits = h;
    let (recon, per_sample) = super::reconstruction_loss(g, cfg, logits, target, want_recon);
    Built {
        input: x,
        latent,
        logits,
        recon,
        per_sample,
        extra: vec![],
        batch_penalty: None,
        terms: vec![("reconstruction", per_sample)],
    }
}
