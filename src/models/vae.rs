//! The variational autoencoder (Kingma & Welling 2014), as pytorch/examples' `vae`:
//! 784 → 400 ReLU → (μ, logvar) ∈ ℝ²⁰ × ℝ²⁰; z = μ + ε·exp(½·logvar); 20 → 400 ReLU → 784
//! logits. Loss per sample: binary cross-entropy summed over pixels plus β·KL(q(z|x) ‖ N(0, I)).
//!
//! The code a trained VAE gives for an input is μ (no noise); sampling happens only in the
//! training and evaluation graphs, with ε from the WGSL Philox stream 1.

use super::{Built, ModelConfig};
use crate::graph::{Graph, NodeId};
use crate::nn::Dense;
use crate::ops::Act;

/// Random stream of the reparameterisation's ε.
pub const EPS_STREAM: u32 = 1;

/// The encoder: x → (μ, logvar). With `--arch conv`, the conv encoder's code (flattened)
/// feeds the two dense heads.
pub fn encoder(g: &mut Graph, cfg: &ModelConfig, x: NodeId) -> (NodeId, NodeId) {
    if cfg.is_conv() {
        let code = super::conv::encoder(g, cfg, x);
        let width = g.row_len(code);
        let mu =
            Dense::with_init(g, "mu", width, cfg.latent, Act::Identity, cfg.init).forward(g, code);
        let logvar = Dense::with_init(g, "logvar", width, cfg.latent, Act::Identity, cfg.init)
            .forward(g, code);
        return (mu, logvar);
    }
    let mut widths = vec![cfg.input_dim];
    widths.extend(&cfg.hidden);
    let mut h = x;
    for i in 0..widths.len() - 1 {
        h = Dense::with_init(
            g,
            &format!("encoder.{i}"),
            widths[i],
            widths[i + 1],
            Act::Relu,
            cfg.init,
        )
        .forward(g, h);
    }
    let last = *widths.last().expect("input width");
    let mu = Dense::with_init(g, "mu", last, cfg.latent, Act::Identity, cfg.init).forward(g, h);
    let logvar =
        Dense::with_init(g, "logvar", last, cfg.latent, Act::Identity, cfg.init).forward(g, h);
    (mu, logvar)
}

/// The decoder: z → logits (a sigmoid gives pixels). With `--arch conv`, a dense layer
/// (ReLU) maps z to the conv code, which the conv decoder upsamples.
pub fn decoder(g: &mut Graph, cfg: &ModelConfig, z: NodeId) -> NodeId {
    if cfg.is_conv() {
        let width: usize = super::conv::code_shape(cfg).iter().product();
        let code = Dense::with_init(g, "decoder.code", cfg.latent, width, Act::Relu, cfg.init)
            .forward(g, z);
        return super::conv::decoder(g, cfg, code);
    }
    let back: Vec<usize> = std::iter::once(cfg.latent)
        .chain(cfg.hidden.iter().rev().copied())
        .chain([cfg.input_dim])
        .collect();
    let mut h = z;
    for i in 0..back.len() - 1 {
        let act = if i == back.len() - 2 {
            Act::Identity
        } else {
            Act::Relu
        };
        h = Dense::with_init(
            g,
            &format!("decoder.{i}"),
            back[i],
            back[i + 1],
            act,
            cfg.init,
        )
        .forward(g, h);
    }
    h
}

/// Writes encoder, reparameterisation, decoder and the two loss terms.
pub fn build(g: &mut Graph, cfg: &ModelConfig, x: NodeId, want_recon: bool) -> Built {
    let (mu, logvar) = encoder(g, cfg, x);
    let z = g.reparameterize("z", mu, logvar, EPS_STREAM);
    let logits = decoder(g, cfg, z);
    let (recon, reconstruction) = super::reconstruction_loss(g, cfg, logits, x, want_recon);
    let kl = g.kl("kl_per_sample", mu, logvar);
    let per_sample = g.add_scaled("loss_per_sample", reconstruction, kl, cfg.beta);
    Built {
        input: x,
        latent: mu,
        logits,
        recon,
        per_sample,
        extra: vec![],
        batch_penalty: None,
        terms: vec![("reconstruction", reconstruction), ("kl", kl)],
    }
}
