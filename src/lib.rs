//! # shaderprop
//!
//! Autoencoders trained with hand-written WGSL compute shaders on wgpu. Every number a model
//! computes, forward and backward, comes from a kernel in `shaders/`; Rust builds the graph,
//! derives the backward pass, plans GPU memory and records dispatches.
//!
//! A training step, end to end:
//! 1. a model writes its forward [`graph::Graph`] ([`models`]);
//! 2. [`graph::autodiff::backward`] appends the backward pass as more nodes, and
//!    [`graph::autodiff::add_optimizer`] one update per parameter;
//! 3. [`graph::plan::Plan::compile`] plans memory and creates every pipeline and bind group;
//! 4. [`graph::plan::Plan::run`] records all dispatches (one compute pass, split only where a
//!    texture variant copies an input) and submits them once.
//!
//! # One VAE step, end to end
//!
//! The forward graph of `--model vae` ([`models::vae`]): a `gather` node builds the batch x
//! from the data set's bytes; two `matmul` nodes with fused ReLU/identity epilogues give
//! μ and logvar; a `random_normal` node draws ε (Philox, stream 1, new every step);
//! `reparameterize` gives z = μ + ε·exp(½·logvar); the decoder's matmuls give logits;
//! `bce_loss` sums the sigmoid-fused BCE per sample, `kl` the KL term per sample, `add_scaled`
//! combines them with β, and `sum_all` averages over the batch.
//!
//! [`graph::autodiff::backward`] then walks back: `sum_all` broadcasts its seed; `add_scaled`
//! hands the reconstruction term its gradient and the KL term β times it; `kl` produces
//! μ·dKL and ½(exp(logvar) − 1)·dKL ([`ops::vae`]); the decoder's matmuls produce dz;
//! `reparameterize` passes dz to μ unchanged and ½·ε·exp(½·logvar)·dz to logvar; μ's two
//! gradients (from KL and from z) are summed by an `add` node. Each parameter's gradient then
//! feeds one `adam_update`.
//!
//! ```
//! use shaderprop::graph::{autodiff, Graph, Op};
//! use shaderprop::models::{self, ModelConfig, ModelKind};
//! use shaderprop::ops::loss::LossKind;
//!
//! let cfg = ModelConfig {
//!     kind: ModelKind::Vae, input_dim: 784, image: [1, 28, 28], hidden: vec![400],
//!     latent: 20, loss: LossKind::Bce, beta: 1.0, init: Default::default(),
//!     ..ModelConfig::dense_reference()
//! };
//! let mut g = Graph::new();
//! let x = g.input("x", &[128, 784]);
//! let built = models::build(&mut g, &cfg, x, false);
//! let loss = g.sum_all("loss", built.per_sample, 1.0 / 128.0);
//! let grads = autodiff::backward(&mut g, loss);
//! assert_eq!(grads.len(), g.params().len()); // every parameter gets one gradient
//! // μ is used twice (by z and by the KL term): its gradients are summed by an `add` node.
//! assert!(g.nodes.iter().any(|n| n.name == "d_mu" && n.op == Op::Add));
//! ```
//!
//! `shaderprop explain --model vae` prints the same graph compiled: every dispatch with its
//! WGSL file and entry point, and the memory plan.

pub mod apps;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod explain;
pub mod fsio;
pub mod fuzzing;
pub mod generate;
pub mod gpu;
pub mod gradcheck;
pub mod graph;
pub mod interrupt;
pub mod models;
pub mod nn;
pub mod ops;
pub mod pca;
pub mod rng;
pub mod train;
pub mod tune;
pub mod viz;
