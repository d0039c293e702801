//! Layers built from ops. A layer creates its parameters (named, so training and evaluation
//! graphs share them) and writes its forward nodes; backward comes from autodiff.

use crate::graph::{Graph, Init, NodeId};
use crate::ops::Act;

/// A fully connected layer: y = act(x·W + b), W: \[in, out\] (Glorot-uniform), b: \[out\] (zeros),
/// Keras' defaults. One matmul dispatch: bias and activation are its epilogue.
#[derive(Clone, Debug)]
pub struct Dense {
    pub name: String,
    pub w: NodeId,
    pub b: NodeId,
    pub act: Act,
    pub fan_in: usize,
    pub fan_out: usize,
}

impl Dense {
    /// Creates the layer's parameters `{name}.weight` and `{name}.bias`.
    pub fn new(g: &mut Graph, name: &str, fan_in: usize, fan_out: usize, act: Act) -> Dense {
        let w = g.param(
            &format!("{name}.weight"),
            &[fan_in, fan_out],
            Init::GlorotUniform { fan_in, fan_out },
        );
        let b = g.param(&format!("{name}.bias"), &[fan_out], Init::Zeros);
        Dense {
            name: name.to_string(),
            w,
            b,
            act,
            fan_in,
            fan_out,
        }
    }

    /// Writes the forward node for x: [batch, fan_in] → [batch, fan_out].
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> NodeId {
        g.matmul(&self.name, x, self.w, Some(self.b), false, false, self.act)
    }
}
