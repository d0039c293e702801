//! Element-wise activations (`shaders/act_fns.wgsl`, `shaders/activation.wgsl`).
//!
//! Each derivative is written in terms of the forward output y = f(x) — relu: 1\[y>0\],
//! leaky relu: 1 or s, sigmoid: y(1−y), tanh: 1−y² — so the backward kernel reads the
//! output the forward already stored, never the pre-activation.

use super::{texture_form, Bind, KernelCall, Reads, Workgroups};
use crate::gpu::Shader;

/// An activation function, fused into matmul's epilogue or applied on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Identity,
    Relu,
    /// Leaky ReLU with the given negative slope (> 0).
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
}

impl Act {
    /// The `ACT` override constant of the WGSL.
    pub fn code(self) -> u32 {
        match self {
            Act::Identity => 0,
            Act::Relu => 1,
            Act::LeakyRelu(_) => 2,
            Act::Sigmoid => 3,
            Act::Tanh => 4,
        }
    }

    /// Name as `explain` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Act::Identity => "identity",
            Act::Relu => "relu",
            Act::LeakyRelu(_) => "leaky_relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
        }
    }

    fn slope(self) -> f32 {
        match self {
            Act::LeakyRelu(s) => s,
            _ => 0.01,
        }
    }

    /// Override constants selecting this activation.
    pub fn constants(self) -> Vec<(&'static str, f64)> {
        vec![
            ("ACT", self.code() as f64),
            ("LEAKY_SLOPE", self.slope() as f64),
        ]
    }

    /// CPU twin of `activate`.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Act::Identity => x,
            Act::Relu => x.max(0.0),
            Act::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    s as f64 * x
                }
            }
            Act::Sigmoid => {
                let e = (-x.abs()).exp();
                if x >= 0.0 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                }
            }
            Act::Tanh => x.tanh(),
        }
    }

    /// CPU twin of `activate_grad_from_output`: f'(x) written in terms of y = f(x).
    pub fn grad_from_output(self, y: f64) -> f64 {
        match self {
            Act::Identity => 1.0,
            Act::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::LeakyRelu(s) => {
                if y > 0.0 {
                    1.0
                } else {
                    s as f64
                }
            }
            Act::Sigmoid => y * (1.0 - y),
            Act::Tanh => 1.0 - y * y,
        }
    }
}

/// CPU twin of `activation_forward`: y = f(x).
pub fn forward_ref(act: Act, x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| act.apply(v)).collect()
}

/// CPU twin of `activation_backward`: d_x = f'(x) · d_y, with f' from the output y.
pub fn backward_ref(act: Act, y: &[f64], d_y: &[f64]) -> Vec<f64> {
    y.iter()
        .zip(d_y)
        .map(|(&y, &d)| act.grad_from_output(y) * d)
        .collect()
}

/// Whether the four-at-a-time variants apply (n a multiple of 4).
fn vec4(n: usize) -> bool {
    n.is_multiple_of(4)
}

fn items(n: usize) -> Workgroups {
    Workgroups::Items {
        n: if vec4(n) { n / 4 } else { n } as u64,
        wg: 256,
    }
}

/// Dispatch of `activation_forward` (`_vec4` when n is a multiple of 4) over `n` elements:
/// bindings (y, x).
pub fn forward_call(act: Act, n: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Activation,
        entry: if vec4(n) {
            "activation_forward_vec4"
        } else {
            "activation_forward"
        },
        constants: act.constants(),
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: vec![n as u32],
        uses_step: false,
        workgroups: items(n),
        flops: 4 * n as u64,
        bytes: 8 * n as u64,
    }
}

/// Dispatch of `activation_backward` (`_vec4` when n is a multiple of 4): bindings (d_x, y, d_y).
/// `Reads::Texture` (n a multiple of 4) reads y and d_y from texture copies.
pub fn backward_call(act: Act, n: usize, reads: Reads) -> KernelCall {
    let per_quad = Workgroups::Items {
        n: (n / 4) as u64,
        wg: 64,
    };
    let c = backward_storage(act, n);
    texture_form(
        c,
        reads,
        vec4(n),
        "activation_backward_tex",
        per_quad,
        &[0, 1],
        n,
    )
}

fn backward_storage(act: Act, n: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Activation,
        entry: if vec4(n) {
            "activation_backward_vec4"
        } else {
            "activation_backward"
        },
        constants: act.constants(),
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1)],
        params: vec![n as u32],
        uses_step: false,
        workgroups: items(n),
        flops: 3 * n as u64,
        bytes: 12 * n as u64,
    }
}
