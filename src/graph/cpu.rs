//! The graph evaluated with the CPU float64 twins of every kernel: the reference a GPU run is
//! compared with, and the function finite differences perturb in the whole-model gradient
//! test.

use super::{Graph, Op};
use crate::ops::{self, matmul::MatmulShape, StepUniform};
use std::collections::HashMap;

/// Values of every node (empty for in-place nodes). `feeds` gives each leaf's values
/// (bytes and indices as f64); leaves not fed are zeros.
pub fn evaluate(g: &Graph, feeds: &HashMap<usize, Vec<f64>>, step: StepUniform) -> Vec<Vec<f64>> {
    let mut vals: Vec<Vec<f64>> = Vec::with_capacity(g.nodes.len());
    for (id, n) in g.nodes.iter().enumerate() {
        let inp = |k: usize| -> &Vec<f64> { &vals[n.inputs[k]] };
        let v = match n.op {
            Op::Input | Op::Param(_) | Op::State => feeds
                .get(&id)
                .cloned()
                .unwrap_or_else(|| vec![0.0; n.len()]),
            Op::Gather if g.nodes[n.inputs[0]].dtype == crate::graph::DType::F32 => {
                let idx: Vec<u32> = inp(1).iter().map(|&i| i as u32).collect();
                ops::gather::forward_f32_ref(
                    inp(0),
                    &idx,
                    step.batch_offset as usize,
                    n.shape[0],
                    n.shape[1],
                )
            }
            Op::Gather => {
                let data: Vec<u8> = inp(0).iter().map(|&b| b as u8).collect();
                let idx: Vec<u32> = inp(1).iter().map(|&i| i as u32).collect();
                ops::gather::forward_ref(
                    &data,
                    &idx,
                    step.batch_offset as usize,
                    n.shape[0],
                    n.shape[1],
                )
            }
            Op::MatMul {
                trans_a,
                trans_b,
                act,
            } => {
                let sa = g.matrix_view(n.inputs[0]);
                let (m, k) = if trans_a {
                    (sa[1], sa[0])
                } else {
                    (sa[0], sa[1])
                };
                let s = MatmulShape {
                    m,
                    n: g.row_len(id),
                    k,
                    trans_a,
                    trans_b,
                };
                let bias = n.inputs.get(2).map(|&b| vals[b].as_slice());
                ops::matmul::forward_ref(inp(0), inp(1), bias, s, act)
            }
            Op::Activation(act) => ops::activation::forward_ref(act, inp(0)),
            Op::ActivationBackward(act) => ops::activation::backward_ref(act, inp(0), inp(1)),
            Op::ColumnSum => {
                let s = g.shape(n.inputs[0]);
                ops::reduce::column_sum_ref(inp(0), s[0], s[1])
            }
            Op::SumAll { scale } => {
                let limit = step.valid_rows as usize * g.row_len(n.inputs[0]);
                vec![ops::reduce::sum_all_ref(inp(0), limit, scale as f64)]
            }
            Op::BroadcastScaled { scale } => {
                ops::elementwise::broadcast_scaled_ref(inp(0)[0], scale as f64, n.len())
            }
            Op::Add => ops::elementwise::add_ref(inp(0), inp(1)),
            Op::AddScaled { alpha } => {
                ops::elementwise::add_scaled_ref(inp(0), inp(1), alpha as f64)
            }
            Op::Scale { alpha } => ops::elementwise::scale_ref(inp(0), alpha as f64),
            Op::Reparameterize => ops::vae::reparameterize_ref(inp(0), inp(1), inp(2)),
            Op::ReparameterizeBackwardLogvar => {
                ops::vae::reparameterize_backward_logvar_ref(inp(0), inp(1), inp(2))
            }
            Op::Kl => {
                let s = g.shape(n.inputs[0]);
                ops::vae::kl_ref(inp(0), inp(1), s[0], g.row_len(n.inputs[0]))
            }
            Op::KlBackward { of_logvar } => {
                let cols = g.row_len(n.inputs[0]);
                if of_logvar {
                    ops::vae::kl_backward_logvar_ref(inp(0), inp(1), cols)
                } else {
                    ops::vae::kl_backward_mu_ref(inp(0), inp(1), cols)
                }
            }
            Op::Fill(v) => vec![v as f64; n.len()],
            Op::Random { dist, stream } => {
                ops::random::draws_ref(dist, n.len(), step.seed, step.step, stream)
            }
            Op::Loss(kind) => {
                let rows = g.shape(n.inputs[0])[0];
                let cols = g.row_len(n.inputs[0]);
                match kind {
                    ops::loss::LossKind::Bce => {
                        ops::loss::bce_forward_ref(inp(0), inp(1), rows, cols)
                    }
                    ops::loss::LossKind::Mse => {
                        ops::loss::mse_forward_ref(inp(0), inp(1), rows, cols)
                    }
                }
            }
            Op::LossBackward(kind) => {
                let cols = g.row_len(n.inputs[0]);
                match kind {
                    ops::loss::LossKind::Bce => {
                        ops::loss::bce_backward_ref(inp(0), inp(1), inp(2), cols)
                    }
                    ops::loss::LossKind::Mse => {
                        ops::loss::mse_backward_ref(inp(0), inp(1), inp(2), cols)
                    }
                }
            }
            Op::Conv2d { geom, act } => {
                let b = n.inputs.get(2).map(|&b| vals[b].as_slice());
                ops::conv::forward_ref(inp(0), inp(1), b, &geom, act)
            }
            Op::ConvTranspose2d { geom, act } => {
                let b = n.inputs.get(2).map(|&b| vals[b].as_slice());
                ops::conv::transpose_ref(inp(0), inp(1), b, &geom, act)
            }
            Op::ConvWeightGrad { geom } => ops::conv::weight_grad_ref(inp(0), inp(1), &geom),
            Op::FoldUpsampledWeights { geom } => {
                ops::conv::fold_upsampled_weights_ref(inp(0), &geom)
            }
            Op::RowSum => {
                let rows = n.len();
                ops::reduce::row_sum_ref(inp(0), rows, inp(0).len() / rows)
            }
            Op::MaxPool => ops::pool::forward_ref(inp(0), &pool_planes(g.shape(n.inputs[0]))),
            Op::MaxPoolBackward(act) => {
                ops::pool::backward_ref(inp(0), inp(1), &pool_planes(&n.shape), act)
            }
            Op::Upsample => ops::pool::upsample_ref(inp(0), &upsample_planes(g.shape(n.inputs[0]))),
            Op::UpsampleBackward(act) => {
                let p = upsample_planes(&n.shape);
                if act == ops::Act::Identity {
                    ops::pool::upsample_backward_ref(inp(0), &p)
                } else {
                    ops::pool::upsample_backward_act_ref(inp(0), inp(1), &p, act)
                }
            }
            Op::Noise { noise, stream } => {
                ops::random::noise_ref(noise, inp(0), step.seed, step.step, stream)
            }
            Op::L1Penalty { scale } => {
                ops::sparsity::l1_ref(inp(0), g.row_len(n.inputs[0]), scale as f64)
            }
            Op::L1PenaltyBackward { scale } => {
                ops::sparsity::l1_backward_ref(inp(0), inp(1), g.row_len(n.inputs[0]), scale as f64)
            }
            Op::NearZero => ops::sparsity::near_zero_ref(
                inp(0),
                g.row_len(n.inputs[0]),
                ops::sparsity::NEAR_ZERO as f64,
            ),
            Op::CodeMean => {
                let s = g.shape(n.inputs[0]);
                ops::sparsity::code_mean_ref(inp(0), s[0], n.len(), step.valid_rows as usize)
            }
            Op::CodeMeanBackward => {
                ops::sparsity::code_mean_backward_ref(inp(0), n.shape[0], step.valid_rows as usize)
            }
            Op::KlSparsity { rho, beta } => {
                vec![ops::sparsity::kl_ref(inp(0), rho as f64, beta as f64)]
            }
            Op::KlSparsityBackward { rho, beta } => {
                ops::sparsity::kl_backward_ref(inp(0), inp(1)[0], rho as f64, beta as f64)
            }
            Op::Update(_) | Op::Accumulate { .. } | Op::AddInPlace | Op::GramSchmidt(_) => {
                Vec::new()
            }
        };
        vals.push(v);
    }
    vals
}

/// Pooling planes of a max pool whose input has `shape`.
pub fn pool_planes(shape: &[usize]) -> ops::pool::Planes {
    let (planes, h, w) = super::planes_of(shape);
    ops::pool::Planes::pool(planes, h, w)
}

/// Planes of an upsampling whose input has `shape`.
pub fn upsample_planes(shape: &[usize]) -> ops::pool::Planes {
    let (planes, h, w) = super::planes_of(shape);
    ops::pool::Planes::upsample(planes, h, w)
}
