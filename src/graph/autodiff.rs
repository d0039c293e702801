//! Reverse-mode automatic differentiation as a graph-to-graph function.
//!
//! [`backward`] walks the forward nodes from the loss back to the parameters. For each node
//! that has a gradient it appends the node's vector-Jacobian product — *new nodes of the same
//! graph*, made of the same kernels the forward uses — and hands each input its share. When a
//! node feeds several consumers its shares are summed with `add` nodes (the multivariate chain
//! rule). There is no tape at run time: the result is one static graph that the plan compiles.
//!
//! The rules (derivations beside each kernel family in [`crate::ops`]):
//!
//! | forward                        | backward                                                   |
//! |--------------------------------|------------------------------------------------------------|
//! | c = act(op(a)·op(b) + bias)    | dP = act'(c)⊙dc; da, db = matmuls of dP ([`crate::ops::matmul`]); dbias = column_sum(dP) |
//! | y = act(x)                     | dx = act'(y) ⊙ dy                                          |
//! | ℓ = loss(pred, target) per row | dpred = loss_backward(pred, target, dℓ)                    |
//! | s = scale·Σx                   | dx = scale·ds broadcast                                    |
//! | a + b                          | da = db = d(a+b)                                           |
//! | y = act(conv(x, w) + b)        | dP = act'(y)⊙dy; dx = convᵀ(dP); dw = Σ_n weight_grad(x, dP); db = Σ pixels of dP ([`crate::ops::conv`]) |
//! | y = act(convᵀ(x, w) + b)       | dP = act'(y)⊙dy; dx = conv(dP); dw = Σ_n weight_grad(dP, x); db as above |
//! | y = maxpool(x)                 | dx\[i\] = dy\[window of i\] if i is its first maximum, else 0 ([`crate::ops::pool`]) |
//! | y = upsample(x)                | dx = sum of dy over each 2×2 block                         |
//! | p = s·Σ\|z\| per row            | dz = s·sign(z)·dp ([`crate::ops::sparsity`])               |
//! | ρ̂ = batch mean of z; P = β·Σ KL(ρ‖ρ̂) | dρ̂ = β(−ρ/ρ̂ + (1−ρ)/(1−ρ̂))·dP; dz = dρ̂ / batch   |

use super::{DType, Graph, NodeId, Op};
use crate::ops::optimizer::Optimizer;
use crate::ops::Act;
use std::collections::HashMap;

/// A parameter and the node holding its gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamGrad {
    pub param: NodeId,
    pub grad: NodeId,
}

fn requires_grad(g: &Graph) -> Vec<bool> {
    let mut rg = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        rg[i] = match n.op {
            Op::Param(_) => true,
            // Noise corrupts data: it carries no gradient.
            Op::Input
            | Op::State
            | Op::Fill(_)
            | Op::Random { .. }
            | Op::Gather
            | Op::NearZero
            | Op::AddInPlace
            | Op::GramSchmidt(_)
            | Op::Noise { .. } => false,
            _ => n.inputs.iter().any(|&j| rg[j]),
        };
    }
    rg
}

/// Adds `grad` to the gradient of `target`, summing with an `add` node when one exists.
/// Partial gradients made for a node used k times are renamed `d_x.1`, `d_x.2`, ... (a
/// gradient passed through unchanged keeps its own name) so every name in `explain` is
/// unique; the running sum carries `d_x`.
fn contribute(g: &mut Graph, grads: &mut HashMap<NodeId, NodeId>, target: NodeId, grad: NodeId) {
    let base = format!("d_{}", g.nodes[target].name);
    match grads.get(&target).copied() {
        None => {
            grads.insert(target, grad);
        }
        Some(prev) => {
            // Contributions so far: 1 for a plain partial, k for the k-th running sum.
            let k = match g.nodes[prev].op {
                Op::Add if g.nodes[prev].name == base => {
                    let n = g.nodes[prev].inputs.len();
                    g.nodes[prev].name = format!("{base}.sum");
                    n
                }
                _ => {
                    if g.nodes[prev].name == base {
                        g.nodes[prev].name = format!("{base}.1");
                    }
                    1
                }
            };
            if g.nodes[grad].name == base {
                g.nodes[grad].name = format!("{base}.{}", k + 1);
            }
            let shape = g.nodes[target].shape.clone();
            let sum = g.push(base, Op::Add, vec![prev, grad], shape, DType::F32);
            let note = format!(
                "sum of the gradients of {} (used more than once)",
                g.nodes[target].name
            );
            g.annotate(sum, note);
            grads.insert(target, sum);
        }
    }
}

/// Appends the backward pass of `loss` (a \[1\] tensor) and returns every parameter's gradient
/// node, in parameter order. Parameters the loss does not depend on get none.
pub fn backward(g: &mut Graph, loss: NodeId) -> Vec<ParamGrad> {
    assert_eq!(
        g.shape(loss),
        [1],
        "backward: the loss must be a [1] tensor"
    );
    let rg = requires_grad(g);
    let mut grads: HashMap<NodeId, NodeId> = HashMap::new();
    let seed = g.push("d_loss", Op::Fill(1.0), vec![], vec![1], DType::F32);
    g.backward_from.get_or_insert(seed);
    g.annotate(seed, "seed: dL/dL = 1");
    grads.insert(loss, seed);

    for id in (0..=loss).rev() {
        if !rg[id] {
            continue;
        }
        let Some(d_out) = grads.get(&id).copied() else {
            continue;
        };
        let node = g.nodes[id].clone();
        let name = node.name.clone();
        match node.op {
            Op::MatMul {
                trans_a,
                trans_b,
                act,
            } => {
                let (a, b) = (node.inputs[0], node.inputs[1]);
                let d_pre = epilogue_backward(g, id, d_out, act);
                if rg[a] {
                    let an = g.nodes[a].name.clone();
                    let da = if !trans_a {
                        g.matmul(
                            &format!("d_{an}"),
                            d_pre,
                            b,
                            None,
                            false,
                            !trans_b,
                            Act::Identity,
                        )
                    } else {
                        g.matmul(
                            &format!("d_{an}"),
                            b,
                            d_pre,
                            None,
                            trans_b,
                            true,
                            Act::Identity,
                        )
                    };
                    // A flattened operand (a conv code) gets its gradient in its own shape.
                    g.nodes[da].shape = g.nodes[a].shape.clone();
                    g.annotate(da, format!("matmul backward, left operand of {name}"));
                    contribute(g, &mut grads, a, da);
                }
                if rg[b] {
                    let bn = g.nodes[b].name.clone();
                    let db = if !trans_b {
                        g.matmul(
                            &format!("d_{bn}"),
                            a,
                            d_pre,
                            None,
                            !trans_a,
                            false,
                            Act::Identity,
                        )
                    } else {
                        g.matmul(
                            &format!("d_{bn}"),
                            d_pre,
                            a,
                            None,
                            true,
                            trans_a,
                            Act::Identity,
                        )
                    };
                    g.annotate(db, format!("matmul backward, right operand of {name}"));
                    contribute(g, &mut grads, b, db);
                }
                if let Some(&bias) = node.inputs.get(2) {
                    if rg[bias] {
                        let bn = g.nodes[bias].name.clone();
                        let n = g.nodes[bias].shape.clone();
                        let dbias =
                            g.push(format!("d_{bn}"), Op::ColumnSum, vec![d_pre], n, DType::F32);
                        g.annotate(
                            dbias,
                            format!("matmul backward, bias of {name}: column sums"),
                        );
                        contribute(g, &mut grads, bias, dbias);
                    }
                }
            }
            Op::Activation(act) => {
                let x = node.inputs[0];
                let xn = g.nodes[x].name.clone();
                let d = g.push(
                    format!("d_{xn}"),
                    Op::ActivationBackward(act),
                    vec![id, d_out],
                    node.shape.clone(),
                    DType::F32,
                );
                g.annotate(d, format!("{} backward of {name}", act.name()));
                contribute(g, &mut grads, x, d);
            }
            Op::Loss(kind) => {
                let (pred, target) = (node.inputs[0], node.inputs[1]);
                let pn = g.nodes[pred].name.clone();
                let shape = g.nodes[pred].shape.clone();
                let d = g.push(
                    format!("d_{pn}"),
                    Op::LossBackward(kind),
                    vec![pred, target, d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(
                    d,
                    format!(
                        "{} loss backward of {name} (target held constant)",
                        kind.name()
                    ),
                );
                contribute(g, &mut grads, pred, d);
            }
            Op::SumAll { scale } => {
                let x = node.inputs[0];
                let xn = g.nodes[x].name.clone();
                let shape = g.nodes[x].shape.clone();
                // Where the sum is the loss itself, its gradient is `scale` everywhere: the
                // seed (a fill of 1) becomes that fill, instead of feeding a broadcast that
                // would multiply the same constant every step (one dispatch fewer).
                if id == loss && d_out == seed {
                    let node = &mut g.nodes[seed];
                    node.op = Op::Fill(scale);
                    node.shape = shape;
                    node.name = format!("d_{xn}");
                    g.annotate(
                        seed,
                        format!(
                            "seed and sum_all backward of {name}, the loss: dL/dx = {scale} \
                             everywhere"
                        ),
                    );
                    contribute(g, &mut grads, x, seed);
                    continue;
                }
                let d = g.push(
                    format!("d_{xn}"),
                    Op::BroadcastScaled { scale },
                    vec![d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(d, format!("sum_all backward of {name}: broadcast ×{scale}"));
                contribute(g, &mut grads, x, d);
            }
            Op::Add => {
                for &x in &node.inputs {
                    if rg[x] {
                        contribute(g, &mut grads, x, d_out);
                    }
                }
            }
            Op::AddScaled { alpha } => {
                let (a, b) = (node.inputs[0], node.inputs[1]);
                if rg[a] {
                    contribute(g, &mut grads, a, d_out);
                }
                if rg[b] && alpha == 1.0 {
                    contribute(g, &mut grads, b, d_out);
                } else if rg[b] {
                    let bn = g.nodes[b].name.clone();
                    let d = g.push(
                        format!("d_{bn}"),
                        Op::Scale { alpha },
                        vec![d_out],
                        node.shape.clone(),
                        DType::F32,
                    );
                    g.annotate(
                        d,
                        format!("add backward, second operand of {name}: ×{alpha}"),
                    );
                    contribute(g, &mut grads, b, d);
                }
            }
            Op::Scale { alpha } => {
                let x = node.inputs[0];
                let xn = g.nodes[x].name.clone();
                let d = g.push(
                    format!("d_{xn}"),
                    Op::Scale { alpha },
                    vec![d_out],
                    node.shape.clone(),
                    DType::F32,
                );
                g.annotate(d, format!("scale backward of {name}: ×{alpha}"));
                contribute(g, &mut grads, x, d);
            }
            Op::Reparameterize => {
                let (mu, logvar, eps) = (node.inputs[0], node.inputs[1], node.inputs[2]);
                if rg[mu] {
                    // ∂z/∂μ = 1: the gradient passes through unchanged.
                    contribute(g, &mut grads, mu, d_out);
                }
                if rg[logvar] {
                    let ln = g.nodes[logvar].name.clone();
                    let d = g.push(
                        format!("d_{ln}"),
                        Op::ReparameterizeBackwardLogvar,
                        vec![logvar, eps, d_out],
                        node.shape.clone(),
                        DType::F32,
                    );
                    g.annotate(
                        d,
                        format!("reparameterisation backward of {name}: ½·ε·exp(½·logvar)·dz"),
                    );
                    contribute(g, &mut grads, logvar, d);
                }
            }
            Op::Kl => {
                for (k, of_logvar) in [(0, false), (1, true)] {
                    let x = node.inputs[k];
                    if rg[x] {
                        let xn = g.nodes[x].name.clone();
                        let shape = g.nodes[x].shape.clone();
                        let d = g.push(
                            format!("d_{xn}"),
                            Op::KlBackward { of_logvar },
                            vec![x, d_out],
                            shape,
                            DType::F32,
                        );
                        g.annotate(
                            d,
                            format!(
                                "KL backward of {name}: {}",
                                if of_logvar {
                                    "½(exp(logvar) − 1)·dKL"
                                } else {
                                    "μ·dKL"
                                }
                            ),
                        );
                        contribute(g, &mut grads, x, d);
                    }
                }
            }
            Op::Conv2d { geom, act } | Op::ConvTranspose2d { geom, act } => {
                conv_backward(g, &mut grads, &rg, id, d_out, geom, act);
            }
            Op::MaxPool => {
                let x = node.inputs[0];
                let xn = g.nodes[x].name.clone();
                let shape = g.nodes[x].shape.clone();
                let d = g.push(
                    format!("d_{xn}"),
                    Op::MaxPoolBackward(Act::Identity),
                    vec![x, d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(
                    d,
                    format!(
                        "max pool backward of {name}: each window's gradient to its winner \
                         (its first maximum, found again from {xn})"
                    ),
                );
                contribute(g, &mut grads, x, d);
            }
            Op::Upsample => {
                let x = node.inputs[0];
                let xn = g.nodes[x].name.clone();
                let shape = g.nodes[x].shape.clone();
                let d = g.push(
                    format!("d_{xn}"),
                    Op::UpsampleBackward(Act::Identity),
                    vec![d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(d, format!("upsample backward of {name}: 2×2 block sums"));
                contribute(g, &mut grads, x, d);
            }
            Op::L1Penalty { scale } => {
                let z = node.inputs[0];
                let zn = g.nodes[z].name.clone();
                let shape = g.nodes[z].shape.clone();
                let d = g.push(
                    format!("d_{zn}"),
                    Op::L1PenaltyBackward { scale },
                    vec![z, d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(d, format!("L1 backward of {name}: λ·sign(z)·dp"));
                contribute(g, &mut grads, z, d);
            }
            Op::CodeMean => {
                let z = node.inputs[0];
                let zn = g.nodes[z].name.clone();
                let shape = g.nodes[z].shape.clone();
                let d = g.push(
                    format!("d_{zn}"),
                    Op::CodeMeanBackward,
                    vec![d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(d, format!("batch-mean backward of {name}: d_mean / batch"));
                contribute(g, &mut grads, z, d);
            }
            Op::KlSparsity { rho, beta } => {
                let q = node.inputs[0];
                let qn = g.nodes[q].name.clone();
                let shape = g.nodes[q].shape.clone();
                let d = g.push(
                    format!("d_{qn}"),
                    Op::KlSparsityBackward { rho, beta },
                    vec![q, d_out],
                    shape,
                    DType::F32,
                );
                g.annotate(
                    d,
                    format!("KL sparsity backward of {name}: β(−ρ/ρ̂ + (1−ρ)/(1−ρ̂))"),
                );
                contribute(g, &mut grads, q, d);
            }
            Op::Param(_) | Op::Input | Op::State | Op::Fill(_) | Op::Random { .. } | Op::Gather => {
            }
            other => panic!("backward: no rule for {} (node {name})", other.name()),
        }
    }
    g.params()
        .into_iter()
        .filter_map(|p| grads.get(&p).map(|&grad| ParamGrad { param: p, grad }))
        .collect()
}

/// The gradient before a fused activation epilogue of node `id` (matmul or convolution):
/// dP = act'(y) ⊙ dy, or dy itself for the identity.
fn epilogue_backward(g: &mut Graph, id: NodeId, d_out: NodeId, act: Act) -> NodeId {
    if act == Act::Identity {
        return d_out;
    }
    if let Some(fused) = fuse_into_resampling_backward(g, id, d_out, act) {
        return fused;
    }
    let name = g.nodes[id].name.clone();
    let shape = g.nodes[id].shape.clone();
    let d = g.push(
        format!("d_{name}_pre"),
        Op::ActivationBackward(act),
        vec![id, d_out],
        shape,
        DType::F32,
    );
    g.annotate(
        d,
        format!("{} backward (fused epilogue of {name})", act.name()),
    );
    d
}

/// The backward of a convolution or a transposed convolution (`id`): the activation's
/// derivative, then the input gradient (the other of the two maps: a transposed convolution
/// for a convolution and vice versa), the weight gradient (per sample, then summed over
/// samples) and the bias gradient (per sample and channel, then summed over samples).
fn conv_backward(
    g: &mut Graph,
    grads: &mut HashMap<NodeId, NodeId>,
    rg: &[bool],
    id: NodeId,
    d_out: NodeId,
    geom: crate::ops::conv::ConvGeom,
    act: Act,
) {
    let node = g.nodes[id].clone();
    let name = node.name.clone();
    let transposed = matches!(node.op, Op::ConvTranspose2d { .. });
    let (x, w) = (node.inputs[0], node.inputs[1]);
    let d_pre = epilogue_backward(g, id, d_out, act);
    if rg[x] && geom.up == 2 {
        // The input was read upsampled on the fly: its gradient is the transposed convolution
        // to the upsampled size, then the upsampling's backward (2×2 block sums), which fold
        // into one stride-2 convolution of the output gradient at the small size.
        let (xn, wn) = (g.nodes[x].name.clone(), g.nodes[w].name.clone());
        let fold = geom.folded_input_gradient();
        let wf = g.push(
            format!("{wn}.folded"),
            Op::FoldUpsampledWeights { geom },
            vec![w],
            fold.weight_shape(),
            DType::F32,
        );
        g.annotate(
            wf,
            format!(
                "{name}'s weights with the upsampling's backward folded in: \
                 w'[u,v,co,ci] = Σ_{{a,b∈{{0,1}}}} w[kh−1−u+a, kw−1−v+b, ci, co]"
            ),
        );
        let dx = g.conv2d(&format!("d_{xn}"), d_pre, wf, None, fold, Act::Identity);
        g.annotate(
            dx,
            format!(
                "input gradient of {name} at its input before the on-the-fly upsampling: a \
                 stride-2 convolution of the output gradient with the folded weights"
            ),
        );
        contribute(g, grads, x, dx);
    } else if rg[x] {
        let xn = format!("d_{}", g.nodes[x].name);
        let dx = if transposed {
            g.conv2d(&xn, d_pre, w, None, geom, Act::Identity)
        } else {
            g.conv_transpose2d(&xn, d_pre, w, None, geom, Act::Identity)
        };
        g.nodes[dx].shape = g.nodes[x].shape.clone();
        let rule = if transposed {
            "a convolution of the output gradient with the same weights"
        } else {
            "the transposed convolution of the output gradient"
        };
        g.annotate(dx, format!("input gradient of {name}: {rule}"));
        contribute(g, grads, x, dx);
    }
    if rg[w] {
        let wn = g.nodes[w].name.clone();
        // The weight gradient pairs the convolution's input side with its output side.
        let (conv_x, conv_dp) = if transposed { (d_pre, x) } else { (x, d_pre) };
        let part = g.push(
            format!("d_{wn}.per_sample"),
            Op::ConvWeightGrad { geom },
            vec![conv_x, conv_dp],
            vec![geom.n, geom.weight_len()],
            DType::F32,
        );
        g.annotate(
            part,
            format!("weight gradient of {name}, one slice per sample"),
        );
        let shape = g.nodes[w].shape.clone();
        let dw = g.push(
            format!("d_{wn}"),
            Op::ColumnSum,
            vec![part],
            shape,
            DType::F32,
        );
        g.annotate(dw, format!("weight gradient of {name}: sum over samples"));
        contribute(g, grads, w, dw);
    }
    if let Some(&b) = node.inputs.get(2) {
        if rg[b] {
            let bn = g.nodes[b].name.clone();
            let channels = g.nodes[b].shape[0];
            let part = g.push(
                format!("d_{bn}.per_sample"),
                Op::RowSum,
                vec![d_pre],
                vec![geom.n, channels],
                DType::F32,
            );
            g.annotate(
                part,
                format!("bias gradient of {name}: sum over each channel's pixels"),
            );
            let db = g.push(
                format!("d_{bn}"),
                Op::ColumnSum,
                vec![part],
                vec![channels],
                DType::F32,
            );
            g.annotate(db, format!("bias gradient of {name}: sum over samples"));
            contribute(g, grads, b, db);
        }
    }
}

/// Appends one optimizer update per parameter (with its persistent state tensors, named
/// `<param>.<state>`), after every other node.
pub fn add_optimizer(g: &mut Graph, grads: &[ParamGrad], opt: Optimizer) -> Vec<NodeId> {
    let mut updates = Vec::new();
    for pg in grads {
        let pname = g.nodes[pg.param].name.clone();
        let shape = g.nodes[pg.param].shape.clone();
        let mut inputs = vec![pg.param, pg.grad];
        for s in opt.state_names() {
            inputs.push(g.state(&format!("{pname}.{s}"), &shape));
        }
        let u = g.push(
            format!("update_{pname}"),
            Op::Update(opt),
            inputs,
            vec![],
            DType::F32,
        );
        g.annotate(u, format!("{} step on {pname}", opt.name()));
        updates.push(u);
    }
    updates
}

/// Where node `id` (a layer with activation `act`) feeds only a 2×2 max pool or a 2×2
/// upsampling, its gradient `d_out` is that resampling's backward, and the activation's
/// derivative folds into it (act' is written in terms of the layer's output y):
/// - a max pool's backward is zero everywhere but at each window's winner, and the winner's
///   output is the pooled value, so act'(y)·d_out needs nothing more than the backward reads
///   already (the window of `id`'s output): one pass over the full-resolution tensor
///   instead of two;
/// - an upsampling's backward writes 2×2 block sums at `id`'s size, and multiplies each by
///   act'(y) as it writes it instead of an activation backward reading the sums back.
///
/// `d_out` becomes `MaxPoolBackward(act)` or `UpsampleBackward(act)` (which also reads y) and
/// computes the gradient before the activation itself. Returns the rewritten node, or None
/// where the pattern does not hold (`d_out` is a sum of several consumers' gradients, or
/// feeds another node).
fn fuse_into_resampling_backward(
    g: &mut Graph,
    id: NodeId,
    d_out: NodeId,
    act: Act,
) -> Option<NodeId> {
    let back = &g.nodes[d_out];
    let (forward, what, rule) = match back.op {
        Op::MaxPoolBackward(Act::Identity) if back.inputs[0] == id => (
            Op::MaxPool,
            "max pool",
            "act'(pooled)·dy at each window's winner",
        ),
        Op::UpsampleBackward(Act::Identity) => {
            (Op::Upsample, "upsample", "act'(y)·(2×2 block sums)")
        }
        _ => return None,
    };
    if g.nodes.iter().any(|n| n.inputs.contains(&d_out)) {
        return None;
    }
    let name = g.nodes[id].name.clone();
    let forward_name = g
        .nodes
        .iter()
        .find(|n| n.op == forward && n.inputs == [id])?
        .name
        .clone();
    let node = &mut g.nodes[d_out];
    if forward == Op::MaxPool {
        node.op = Op::MaxPoolBackward(act);
    } else {
        node.op = Op::UpsampleBackward(act);
        node.inputs.push(id);
    }
    node.name = format!("d_{name}_pre");
    g.annotate(
        d_out,
        format!(
            "{what} backward of {forward_name} with the {} backward of {name} (its fused \
             epilogue) folded in: {rule}",
            act.name()
        ),
    );
    Some(d_out)
}
