//! The computation graph: static shapes, one op per node, written once by a model.
//!
//! - [`Graph`] holds nodes in creation order, which is a topological order: a node's inputs
//!   always come before it.
//! - [`autodiff::backward`] appends the backward pass as more nodes of the same graph.
//! - [`plan::Plan::compile`] turns the graph into buffers and a flat list of dispatches.
//! - [`cpu::evaluate`] runs the same graph with the CPU float64 twins, for tests.

pub mod autodiff;
pub mod cpu;
pub mod plan;

use crate::ops::conv::ConvGeom;
use crate::ops::loss::LossKind;
use crate::ops::optimizer::Optimizer;
use crate::ops::random::Noise;
use crate::ops::Act;

/// Index of a node in its graph.
pub type NodeId = usize;

/// Element type of a tensor's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
    /// Bytes, packed four to a u32 word on the GPU (the data set).
    U8,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::U8 => 1,
        }
    }
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Zeros,
    /// Glorot/Xavier uniform: U(−l, l), l = √(6 / (fan_in + fan_out)) (Keras' default).
    GlorotUniform {
        fan_in: usize,
        fan_out: usize,
    },
    /// U(−1/√fan_in, 1/√fan_in): PyTorch's `nn.Linear` default, for weights and biases.
    FanInUniform {
        fan_in: usize,
    },
}

/// What a node computes. Leaves (`Input`, `Param`, `State`) hold persistent buffers named
/// by the node's name; `Update` nodes write their inputs in place and have no output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Data fed from the host (a batch, a data set's bytes, an index buffer).
    Input,
    /// A trainable tensor.
    Param(Init),
    /// Persistent, zero-initialised, not trained (optimizer moments, metric accumulators).
    State,
    /// Batch from a data set: inputs [data (U8), indices (U32)].
    Gather,
    /// act(op(a)·op(b) + bias): inputs [a, b] or [a, b, bias].
    MatMul {
        trans_a: bool,
        trans_b: bool,
        act: Act,
    },
    /// y = act(x): inputs \[x\].
    Activation(Act),
    /// d_x = act'(y)·d_y: inputs [y, d_y].
    ActivationBackward(Act),
    /// out\[c\] = Σ_r x\[r, c\]: inputs \[x\].
    ColumnSum,
    /// scale · Σ x over valid rows → \[1\]: inputs \[x\].
    SumAll { scale: f32 },
    /// acc += scale · Σ x over valid rows: inputs [acc (State), x]. In place.
    Accumulate { scale: f32 },
    /// out\[i\] = scale · s\[0\]: inputs \[s\].
    BroadcastScaled { scale: f32 },
    /// a + b: inputs [a, b].
    Add,
    /// a + α·b: inputs [a, b].
    AddScaled { alpha: f32 },
    /// α·x: inputs \[x\].
    Scale { alpha: f32 },
    /// z = μ + ε·exp(½·logvar): inputs [mu, logvar, eps].
    Reparameterize,
    /// d_logvar of the reparameterisation: inputs [logvar, eps, d_z].
    ReparameterizeBackwardLogvar,
    /// Per-row KL(N(μ, σ²) ‖ N(0, I)): inputs \[mu, logvar\] → \[rows\].
    Kl,
    /// Gradient of the KL term: inputs [mu or logvar, d_kl].
    KlBackward { of_logvar: bool },
    /// Constant: no inputs.
    Fill(f32),
    /// Random draws of a stream (a constant of the graph, new every step): no inputs.
    Random {
        dist: crate::ops::random::Distribution,
        stream: u32,
    },
    /// Per-row reconstruction loss: inputs \[pred, target\] → \[rows\].
    Loss(LossKind),
    /// Gradient of the per-row loss: inputs [pred, target, d_loss].
    LossBackward(LossKind),
    /// Optimizer update, in place: inputs [param, grad, state...].
    Update(Optimizer),
    /// act(conv(x, w) + b): inputs [x, w] or [x, w, b].
    Conv2d { geom: ConvGeom, act: Act },
    /// act(convᵀ(x, w) + b), the adjoint of the convolution `geom` (x on its output side):
    /// inputs [x, w] or [x, w, b]. Also a convolution's input gradient.
    ConvTranspose2d { geom: ConvGeom, act: Act },
    /// Per-sample weight gradient of the convolution `geom`: inputs [x, dP] → [n, weights].
    ConvWeightGrad { geom: ConvGeom },
    /// The weights of the input gradient of `geom` (a convolution reading its input
    /// upsampled on the fly) as a convolution: inputs \[w\] → the weights of
    /// [`ConvGeom::folded_input_gradient`].
    FoldUpsampledWeights { geom: ConvGeom },
    /// out\[r\] = Σ_j x\[r, j\] over the trailing elements of each of the output's rows: inputs \[x\].
    RowSum,
    /// Max of each 2×2 window: inputs \[x\] ([N, C, H, W]).
    MaxPool,
    /// Gradient of max pooling, each window's winner found again from x: inputs [x, d_y];
    /// with an activation other than the identity, the fused epilogue of the layer before the
    /// pool too (the gradient before its activation; x is that layer's output).
    MaxPoolBackward(Act),
    /// Nearest-neighbour ×2: inputs \[x\] ([N, C, H, W]).
    Upsample,
    /// Gradient of upsampling (2×2 block sums): inputs \[d_y\].
    /// With an activation other than the identity, the fused epilogue of the layer before the
    /// upsampling too (the gradient before its activation): inputs [d_y, x], x that layer's
    /// output.
    UpsampleBackward(Act),
    /// Corrupted copy of the data, new every step: inputs \[x\].
    Noise { noise: Noise, stream: u32 },
    /// Per-row scale·Σ|z|: inputs \[z\] → \[rows\].
    L1Penalty { scale: f32 },
    /// Its gradient: inputs [z, d_p].
    L1PenaltyBackward { scale: f32 },
    /// Per-row count of |z| < ε (a report, no gradient): inputs \[z\] → \[rows\].
    NearZero,
    /// Mean of each column over the valid rows: inputs \[z\] → \[cols\].
    CodeMean,
    /// Its gradient: inputs \[d_mean\] → the shape of z.
    CodeMeanBackward,
    /// β·Σ_j KL(ρ‖ρ̂_j): inputs \[rho_hat\] → \[1\].
    KlSparsity { rho: f32, beta: f32 },
    /// Its gradient: inputs [rho_hat, d_out].
    KlSparsityBackward { rho: f32, beta: f32 },
    /// acc += x element-wise, in place: inputs [acc (a state), x] of equal length.
    AddInPlace,
    /// One step of Gram–Schmidt on q [d, k] in place: inputs [q (a state), y or the scratch
    /// r]. [`Graph::orthonormalize`] lays out the sequence.
    GramSchmidt(crate::ops::pca::GsStep),
}

impl Op {
    /// Short name as `explain` prints it.
    pub fn name(&self) -> String {
        match self {
            Op::Input => "input".into(),
            Op::Param(_) => "param".into(),
            Op::State => "state".into(),
            Op::Gather => "gather".into(),
            Op::MatMul {
                trans_a,
                trans_b,
                act,
            } => format!(
                "matmul{}{}{}",
                if *trans_a { "[Aᵀ]" } else { "" },
                if *trans_b { "[Bᵀ]" } else { "" },
                if *act == Act::Identity {
                    String::new()
                } else {
                    format!("+{}", act.name())
                }
            ),
            Op::Activation(a) => a.name().into(),
            Op::ActivationBackward(a) => format!("{}_backward", a.name()),
            Op::ColumnSum => "column_sum".into(),
            Op::SumAll { .. } => "sum_all".into(),
            Op::Accumulate { .. } => "accumulate".into(),
            Op::BroadcastScaled { .. } => "broadcast_scaled".into(),
            Op::Add => "add".into(),
            Op::AddScaled { .. } => "add_scaled".into(),
            Op::Scale { .. } => "scale".into(),
            Op::Reparameterize => "reparameterize".into(),
            Op::ReparameterizeBackwardLogvar => "reparameterize_backward_logvar".into(),
            Op::Kl => "kl".into(),
            Op::KlBackward { of_logvar } => {
                if *of_logvar {
                    "kl_backward_logvar".into()
                } else {
                    "kl_backward_mu".into()
                }
            }
            Op::Fill(_) => "fill".into(),
            Op::Random { dist, .. } => format!("random_{dist:?}").to_lowercase(),
            Op::Loss(k) => format!("{}_loss", k.name()),
            Op::LossBackward(k) => format!("{}_loss_backward", k.name()),
            Op::Update(o) => format!("{}_update", o.name()),
            // A convolution of its input upsampled on the fly: "upsample+conv2d".
            Op::Conv2d { geom, act } if geom.up == 2 => with_act("upsample+conv2d", *act),
            Op::Conv2d { act, .. } => with_act("conv2d", *act),
            Op::ConvTranspose2d { act, .. } => with_act("conv_transpose2d", *act),
            Op::ConvWeightGrad { geom } if geom.up == 2 => "conv2d_weight_grad(upsampled x)".into(),
            Op::ConvWeightGrad { .. } => "conv2d_weight_grad".into(),
            Op::FoldUpsampledWeights { .. } => "fold_upsampled_weights".into(),
            Op::RowSum => "row_sum".into(),
            Op::MaxPool => "max_pool".into(),
            Op::MaxPoolBackward(act) => with_act("max_pool_backward", *act),
            Op::Upsample => "upsample".into(),
            Op::UpsampleBackward(act) => with_act("upsample_backward", *act),
            Op::Noise { noise, .. } => format!("noise[{noise}]"),
            Op::L1Penalty { .. } => "l1_penalty".into(),
            Op::L1PenaltyBackward { .. } => "l1_penalty_backward".into(),
            Op::NearZero => "near_zero".into(),
            Op::CodeMean => "code_mean".into(),
            Op::CodeMeanBackward => "code_mean_backward".into(),
            Op::KlSparsity { .. } => "kl_sparsity".into(),
            Op::KlSparsityBackward { .. } => "kl_sparsity_backward".into(),
            Op::AddInPlace => "add_in_place".into(),
            Op::GramSchmidt(step) => step.entry().into(),
        }
    }

    /// True for nodes whose buffer persists across steps and is shared by name.
    pub fn is_leaf(&self) -> bool {
        matches!(self, Op::Input | Op::Param(_) | Op::State)
    }

    /// True for nodes that write their inputs in place and own no output.
    pub fn is_in_place(&self) -> bool {
        matches!(
            self,
            Op::Update(_) | Op::Accumulate { .. } | Op::AddInPlace | Op::GramSchmidt(_)
        )
    }
}

fn with_act(base: &str, act: Act) -> String {
    if act == Act::Identity {
        base.into()
    } else {
        format!("{base}+{}", act.name())
    }
}

/// (planes, h, w) of an [..., H, W] tensor.
pub fn planes_of(shape: &[usize]) -> (usize, usize, usize) {
    let k = shape.len();
    assert!(k >= 3, "expected an [N, C, H, W] tensor, got {shape:?}");
    (shape[..k - 2].iter().product(), shape[k - 2], shape[k - 1])
}

/// One tensor and the op that produces it.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// For backward nodes: the rule that made it (printed by `explain`).
    pub note: String,
}

impl Node {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a zero-element tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the buffer in bytes (4-byte aligned).
    pub fn bytes(&self) -> u64 {
        ((self.len() * self.dtype.size()) as u64).div_ceil(4) * 4
    }
}

/// A static-shape graph. Builder methods check shapes and panic on a mismatch: shapes are
/// fixed by the model's code, not by user data, so a mismatch is a programming error.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// The first node written by [`autodiff::backward`] (its seed), if it ran.
    pub backward_from: Option<NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Shape of node `id`.
    pub fn shape(&self, id: NodeId) -> &[usize] {
        &self.nodes[id].shape
    }

    /// Appends a node and returns its id.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<NodeId>,
        shape: Vec<usize>,
        dtype: DType,
    ) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            op,
            inputs,
            shape,
            dtype,
            note: String::new(),
        });
        self.nodes.len() - 1
    }

    /// Sets the `explain` note of a node.
    pub fn annotate(&mut self, id: NodeId, note: impl Into<String>) {
        self.nodes[id].note = note.into();
    }

    /// A host-fed f32 tensor.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> NodeId {
        self.push(name, Op::Input, vec![], shape.to_vec(), DType::F32)
    }

    /// A host-fed tensor of another type (data set bytes, indices).
    pub fn input_typed(&mut self, name: &str, shape: &[usize], dtype: DType) -> NodeId {
        self.push(name, Op::Input, vec![], shape.to_vec(), dtype)
    }

    /// A trainable parameter.
    pub fn param(&mut self, name: &str, shape: &[usize], init: Init) -> NodeId {
        self.push(name, Op::Param(init), vec![], shape.to_vec(), DType::F32)
    }

    /// A persistent zero-initialised tensor.
    pub fn state(&mut self, name: &str, shape: &[usize]) -> NodeId {
        self.push(name, Op::State, vec![], shape.to_vec(), DType::F32)
    }

    /// A batch of `rows` samples gathered from `data` ([n, cols] bytes, or floats) through
    /// `indices`.
    pub fn gather(&mut self, name: &str, data: NodeId, indices: NodeId, rows: usize) -> NodeId {
        assert!(
            matches!(self.nodes[data].dtype, DType::U8 | DType::F32),
            "gather: data must be bytes or floats"
        );
        assert_eq!(
            self.nodes[indices].dtype,
            DType::U32,
            "gather: indices must be u32"
        );
        let cols = self.shape(data)[1..].iter().product();
        self.push(
            name,
            Op::Gather,
            vec![data, indices],
            vec![rows, cols],
            DType::F32,
        )
    }

    /// act(op(a)·op(b) + bias).
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &mut self,
        name: &str,
        a: NodeId,
        b: NodeId,
        bias: Option<NodeId>,
        trans_a: bool,
        trans_b: bool,
        act: Act,
    ) -> NodeId {
        // An operand of more dimensions is read as [rows, row_len] (a conv code flattened for
        // a dense layer: NCHW is already row-major per sample).
        let (sa, sb) = (self.matrix_view(a), self.matrix_view(b));
        let (m, ka) = if trans_a {
            (sa[1], sa[0])
        } else {
            (sa[0], sa[1])
        };
        let (kb, n) = if trans_b {
            (sb[1], sb[0])
        } else {
            (sb[0], sb[1])
        };
        assert_eq!(
            ka, kb,
            "matmul {name}: inner dimensions {sa:?}·{sb:?} (trans {trans_a},{trans_b}) disagree"
        );
        let mut inputs = vec![a, b];
        if let Some(bias) = bias {
            assert_eq!(self.shape(bias), [n], "matmul {name}: bias must be [{n}]");
            inputs.push(bias);
        }
        self.push(
            name,
            Op::MatMul {
                trans_a,
                trans_b,
                act,
            },
            inputs,
            vec![m, n],
            DType::F32,
        )
    }

    /// y = act(x).
    pub fn activation(&mut self, name: &str, x: NodeId, act: Act) -> NodeId {
        let shape = self.shape(x).to_vec();
        self.push(name, Op::Activation(act), vec![x], shape, DType::F32)
    }

    /// Per-row reconstruction loss of `pred` against `target` (same shape [rows, cols]).
    pub fn loss(&mut self, name: &str, kind: LossKind, pred: NodeId, target: NodeId) -> NodeId {
        let rows = self.shape(pred)[0];
        assert!(
            rows == self.shape(target)[0] && self.row_len(pred) == self.row_len(target),
            "loss {name}: prediction {:?} and target {:?} differ",
            self.shape(pred),
            self.shape(target)
        );
        self.push(
            name,
            Op::Loss(kind),
            vec![pred, target],
            vec![rows],
            DType::F32,
        )
    }

    /// a + α·b (same shapes).
    pub fn add_scaled(&mut self, name: &str, a: NodeId, b: NodeId, alpha: f32) -> NodeId {
        assert_eq!(
            self.shape(a),
            self.shape(b),
            "add_scaled {name}: shapes differ"
        );
        let shape = self.shape(a).to_vec();
        self.push(name, Op::AddScaled { alpha }, vec![a, b], shape, DType::F32)
    }

    /// z = μ + ε·exp(½·logvar), ε a standard normal draw of stream `stream`.
    pub fn reparameterize(
        &mut self,
        name: &str,
        mu: NodeId,
        logvar: NodeId,
        stream: u32,
    ) -> NodeId {
        assert_eq!(
            self.shape(mu),
            self.shape(logvar),
            "reparameterize {name}: mu and logvar differ"
        );
        let shape = self.shape(mu).to_vec();
        let eps = self.random(
            &format!("{name}.eps"),
            crate::ops::random::Distribution::Normal,
            stream,
            &shape,
        );
        self.push(
            name,
            Op::Reparameterize,
            vec![mu, logvar, eps],
            shape,
            DType::F32,
        )
    }

    /// Per-row KL divergence of N(μ, exp(logvar)) from N(0, I).
    pub fn kl(&mut self, name: &str, mu: NodeId, logvar: NodeId) -> NodeId {
        assert_eq!(
            self.shape(mu),
            self.shape(logvar),
            "kl {name}: mu and logvar differ"
        );
        let rows = self.shape(mu)[0];
        self.push(name, Op::Kl, vec![mu, logvar], vec![rows], DType::F32)
    }

    /// Draws of `dist` from stream `stream`, different at every step and seed.
    pub fn random(
        &mut self,
        name: &str,
        dist: crate::ops::random::Distribution,
        stream: u32,
        shape: &[usize],
    ) -> NodeId {
        self.push(
            name,
            Op::Random { dist, stream },
            vec![],
            shape.to_vec(),
            DType::F32,
        )
    }

    /// act(conv(x, w) + b) for the convolution `geom` (x: `geom.n` rows of c_in·h·w values).
    pub fn conv2d(
        &mut self,
        name: &str,
        x: NodeId,
        w: NodeId,
        b: Option<NodeId>,
        geom: ConvGeom,
        act: Act,
    ) -> NodeId {
        self.conv_node(name, [x, w], b, Op::Conv2d { geom, act })
    }

    /// act(convᵀ(x, w) + b): the transposed convolution of `geom` (x on its output side).
    pub fn conv_transpose2d(
        &mut self,
        name: &str,
        x: NodeId,
        w: NodeId,
        b: Option<NodeId>,
        geom: ConvGeom,
        act: Act,
    ) -> NodeId {
        self.conv_node(name, [x, w], b, Op::ConvTranspose2d { geom, act })
    }

    /// A convolution node (either direction) after checking x, w and b against its geometry.
    fn conv_node(&mut self, name: &str, [x, w]: [NodeId; 2], b: Option<NodeId>, op: Op) -> NodeId {
        let (geom, transposed) = match op {
            Op::Conv2d { geom, .. } => (geom, false),
            Op::ConvTranspose2d { geom, .. } => (geom, true),
            _ => unreachable!("conv_node takes a convolution"),
        };
        assert!(
            !transposed || geom.up == 1,
            "{name}: a transposed convolution writes its full-size output (no `up`)"
        );
        let (x_row, channels, out) = if transposed {
            (
                geom.c_out * geom.h_out * geom.w_out,
                geom.c_in,
                geom.in_shape(),
            )
        } else {
            (geom.in_len() / geom.n, geom.c_out, geom.out_shape())
        };
        assert!(
            self.shape(x)[0] == geom.n && self.row_len(x) == x_row,
            "{name}: input {:?} does not match {geom:?}",
            self.shape(x)
        );
        assert_eq!(
            self.shape(w),
            geom.weight_shape(),
            "{name}: weight shape disagrees with the geometry"
        );
        if let Some(b) = b {
            assert_eq!(
                self.shape(b),
                [channels],
                "{name}: bias must be [{channels}]"
            );
        }
        let inputs = [x, w].into_iter().chain(b).collect();
        self.push(name, op, inputs, out, DType::F32)
    }

    /// 2×2 max pooling (stride 2, "same" padding) of an [N, C, H, W] tensor.
    pub fn max_pool2x2(&mut self, name: &str, x: NodeId) -> NodeId {
        let mut out = self.shape(x).to_vec();
        let (_, h, w) = planes_of(&out);
        let k = out.len();
        out[k - 2] = h.div_ceil(2);
        out[k - 1] = w.div_ceil(2);
        self.push(name, Op::MaxPool, vec![x], out, DType::F32)
    }

    /// Nearest-neighbour upsampling ×2 of an [N, C, H, W] tensor.
    pub fn upsample2x(&mut self, name: &str, x: NodeId) -> NodeId {
        let mut out = self.shape(x).to_vec();
        planes_of(&out);
        let k = out.len();
        out[k - 2] *= 2;
        out[k - 1] *= 2;
        self.push(name, Op::Upsample, vec![x], out, DType::F32)
    }

    /// A corrupted copy of `x`, drawn afresh every step from random stream `stream`.
    pub fn noise(&mut self, name: &str, x: NodeId, noise: Noise, stream: u32) -> NodeId {
        let shape = self.shape(x).to_vec();
        self.push(
            name,
            Op::Noise { noise, stream },
            vec![x],
            shape,
            DType::F32,
        )
    }

    /// scale · Σ x over the valid rows, as a \[1\] tensor.
    pub fn sum_all(&mut self, name: &str, x: NodeId, scale: f32) -> NodeId {
        self.push(name, Op::SumAll { scale }, vec![x], vec![1], DType::F32)
    }

    /// acc += scale · Σ x over the valid rows (acc: a \[1\] state).
    pub fn accumulate(&mut self, name: &str, acc: NodeId, x: NodeId, scale: f32) -> NodeId {
        assert_eq!(
            self.shape(acc),
            [1],
            "accumulate {name}: accumulator must be [1]"
        );
        self.push(
            name,
            Op::Accumulate { scale },
            vec![acc, x],
            vec![],
            DType::F32,
        )
    }

    /// acc += x element-wise (acc: a state of x's length).
    pub fn add_in_place(&mut self, name: &str, acc: NodeId, x: NodeId) -> NodeId {
        assert_eq!(
            self.nodes[acc].len(),
            self.nodes[x].len(),
            "add_in_place {name}: lengths differ"
        );
        self.push(name, Op::AddInPlace, vec![acc, x], vec![], DType::F32)
    }

    /// q = orthonormal columns spanning y's, in order (q: a [d, k] state, y: [d, k]):
    /// classical Gram–Schmidt twice per column, as the dispatches `shaders/pca.wgsl` lists.
    pub fn orthonormalize(&mut self, name: &str, q: NodeId, y: NodeId) {
        use crate::ops::pca::GsStep;
        assert_eq!(
            self.shape(q),
            self.shape(y),
            "orthonormalize {name}: shapes differ"
        );
        let k = self.row_len(q);
        let r = self.state(&format!("{name}/r"), &[k + 1]);
        self.push(
            format!("{name}/copy"),
            Op::GramSchmidt(GsStep::Copy),
            vec![q, y],
            vec![],
            DType::F32,
        );
        for j in 0..k as u32 {
            let mut steps = Vec::new();
            if j > 0 {
                let sweep = [GsStep::Dots(j), GsStep::Subtract(j)];
                steps.extend(sweep);
                steps.extend(sweep);
            }
            steps.extend([GsStep::Norm(j), GsStep::Scale(j)]);
            for (n, step) in steps.into_iter().enumerate() {
                self.push(
                    format!("{name}/{j}.{n}"),
                    Op::GramSchmidt(step),
                    vec![q, r],
                    vec![],
                    DType::F32,
                );
            }
        }
    }

    /// The same values under another shape of equal length (a copy: `scale` by 1).
    pub fn reshape(&mut self, name: &str, x: NodeId, shape: &[usize]) -> NodeId {
        assert_eq!(
            self.nodes[x].len(),
            shape.iter().product::<usize>(),
            "reshape {name}: lengths differ"
        );
        self.push(
            name,
            Op::Scale { alpha: 1.0 },
            vec![x],
            shape.to_vec(),
            DType::F32,
        )
    }

    /// A tensor seen as a matrix: [rows, elements per row].
    pub fn matrix_view(&self, id: NodeId) -> [usize; 2] {
        [self.shape(id)[0], self.row_len(id)]
    }

    /// Elements per leading index (per row), for valid-row masking and per-row kernels.
    pub fn row_len(&self, id: NodeId) -> usize {
        self.shape(id)[1..].iter().product::<usize>().max(1)
    }

    /// The trainable parameters, in creation order.
    pub fn params(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].op, Op::Param(_)))
            .collect()
    }

    /// Finds a node by name.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
