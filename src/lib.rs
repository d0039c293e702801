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
//! 4. [`graph::plan::Plan::run`] records all dispatches into one compute pass and submits.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod explain;
pub mod fsio;
pub mod generate;
pub mod gpu;
pub mod gradcheck;
pub mod graph;
pub mod models;
pub mod nn;
pub mod ops;
pub mod rng;
pub mod train;
pub mod viz;
