//! Layers built from ops. A layer creates its parameters (named, so training and evaluation
//! graphs share them) and writes its forward nodes; backward comes from autodiff.

use crate::graph::{Graph, Init, NodeId};
use crate::ops::conv::ConvGeom;
use crate::ops::Act;

/// How a model's dense layers start (`--init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// Keras: Glorot-uniform weights, zero biases.
    #[default]
    Glorot,
    /// PyTorch's `nn.Linear`: weights and biases U(−1/√fan_in, 1/√fan_in).
    Torch,
}

impl std::str::FromStr for InitScheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "glorot" | "keras" => Ok(Self::Glorot),
            "torch" | "pytorch" => Ok(Self::Torch),
            o => Err(format!("unknown --init '{o}': choose glorot or torch")),
        }
    }
}

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
    /// Creates the layer's parameters `{name}.weight` and `{name}.bias`, initialised as
    /// Keras does (Glorot-uniform weights, zero biases).
    pub fn new(g: &mut Graph, name: &str, fan_in: usize, fan_out: usize, act: Act) -> Dense {
        Self::with_init(g, name, fan_in, fan_out, act, InitScheme::Glorot)
    }

    /// As [`Dense::new`] with the given initialisation.
    pub fn with_init(
        g: &mut Graph,
        name: &str,
        fan_in: usize,
        fan_out: usize,
        act: Act,
        init: InitScheme,
    ) -> Dense {
        let (wi, bi) = inits(init, fan_in, fan_out);
        let w = g.param(&format!("{name}.weight"), &[fan_in, fan_out], wi);
        let b = g.param(&format!("{name}.bias"), &[fan_out], bi);
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

/// Weight and bias initialisers of a layer with these fans.
fn inits(init: InitScheme, fan_in: usize, fan_out: usize) -> (Init, Init) {
    match init {
        InitScheme::Glorot => (Init::GlorotUniform { fan_in, fan_out }, Init::Zeros),
        InitScheme::Torch => (Init::FanInUniform { fan_in }, Init::FanInUniform { fan_in }),
    }
}

/// A 2-D convolution y = act(conv(x, W) + b) (or, `transposed`, act(convᵀ(x, W) + b)), W in
/// HWIO layout, b per output channel. Fans count the receptive field, as Keras and PyTorch do:
/// fan_in = kh·kw·(input channels), fan_out = kh·kw·(output channels).
#[derive(Clone, Debug)]
pub struct Conv2d {
    pub name: String,
    pub w: NodeId,
    pub b: NodeId,
    pub geom: ConvGeom,
    pub act: Act,
    pub transposed: bool,
}

impl Conv2d {
    /// A convolution of geometry `geom`.
    pub fn new(g: &mut Graph, name: &str, geom: ConvGeom, act: Act, init: InitScheme) -> Conv2d {
        Self::make(g, name, geom, act, init, false)
    }

    /// The transposed convolution of `geom` (input on `geom`'s output side).
    pub fn transposed(
        g: &mut Graph,
        name: &str,
        geom: ConvGeom,
        act: Act,
        init: InitScheme,
    ) -> Conv2d {
        Self::make(g, name, geom, act, init, true)
    }

    fn make(
        g: &mut Graph,
        name: &str,
        geom: ConvGeom,
        act: Act,
        init: InitScheme,
        transposed: bool,
    ) -> Conv2d {
        let taps = geom.kh * geom.kw;
        let (c_in, c_out) = if transposed {
            (geom.c_out, geom.c_in)
        } else {
            (geom.c_in, geom.c_out)
        };
        let (wi, bi) = inits(init, taps * c_in, taps * c_out);
        let w = g.param(&format!("{name}.weight"), &geom.weight_shape(), wi);
        let b = g.param(&format!("{name}.bias"), &[c_out], bi);
        Conv2d {
            name: name.to_string(),
            w,
            b,
            geom,
            act,
            transposed,
        }
    }

    /// Writes the forward node.
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> NodeId {
        if self.transposed {
            g.conv_transpose2d(&self.name, x, self.w, Some(self.b), self.geom, self.act)
        } else {
            g.conv2d(&self.name, x, self.w, Some(self.b), self.geom, self.act)
        }
    }
}
