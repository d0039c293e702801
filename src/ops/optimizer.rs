//! Optimizers (`shaders/optimizer.wgsl`), one in-place update node per parameter.
//!
//! # Adam
//! m and v are exponential moving averages of g and g², started at 0 and so biased toward
//! 0 early on: E\[m_t\] = (1−β₁ᵗ)·E\[g\]. Dividing by (1−β₁ᵗ) and (1−β₂ᵗ) removes that bias;
//! the step is lr·m̂/(√v̂+ε), roughly lr·sign(g) where gradients are consistent.

use super::{f, Bind, KernelCall, Reads, Workgroups};
use crate::gpu::Shader;

/// Optimizer and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
    },
    Sgd {
        lr: f32,
        momentum: f32,
    },
}

impl Optimizer {
    /// Adam with Keras' defaults (β₁ 0.9, β₂ 0.999, ε 1e-7).
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }

    /// SGD with momentum 0.9.
    pub fn sgd(lr: f32) -> Self {
        Optimizer::Sgd { lr, momentum: 0.9 }
    }

    /// Name of the optimizer.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Adam { .. } => "adam",
            Optimizer::Sgd { .. } => "sgd",
        }
    }

    /// Names of the per-parameter state tensors it keeps.
    pub fn state_names(&self) -> &'static [&'static str] {
        match self {
            Optimizer::Adam { .. } => &["adam_m", "adam_v"],
            Optimizer::Sgd { .. } => &["sgd_velocity"],
        }
    }
}

/// CPU twin of `adam_update` at step t (1-based): updates param, m, v in place.
#[allow(clippy::too_many_arguments)]
pub fn adam_ref(
    param: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    t: u32,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
) {
    for i in 0..param.len() {
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
        let m_hat = m[i] / (1.0 - beta1.powi(t as i32));
        let v_hat = v[i] / (1.0 - beta2.powi(t as i32));
        param[i] -= lr * m_hat / (v_hat.sqrt() + eps);
    }
}

/// CPU twin of `sgd_momentum_update`.
pub fn sgd_ref(param: &mut [f64], velocity: &mut [f64], g: &[f64], lr: f64, momentum: f64) {
    for i in 0..param.len() {
        velocity[i] = momentum * velocity[i] + g[i];
        param[i] -= lr * velocity[i];
    }
}

/// Dispatch of the update for `n` parameters. Inputs: 0 param, 1 grad, 2.. state.
/// `Reads::Texture` (n a multiple of 4, small enough for a texture) runs the same update from
/// texture copies of every input, four values per invocation (`shaders/optimizer_tex.wgsl`).
pub fn call(opt: Optimizer, n: usize, reads: Reads) -> KernelCall {
    let c = storage_call(opt, n);
    let logw = match super::matmul::tex_logw(n) {
        Some(l) if reads == Reads::Texture && n.is_multiple_of(4) => l,
        _ => return c,
    };
    let tex = |input| Bind::Texture { input, logw };
    let (entry, bindings) = match opt {
        // param, m, v written; then grad, param, m, v read.
        Optimizer::Adam { .. } => (
            "adam_update_tex",
            vec![
                Bind::Input(0),
                Bind::Input(2),
                Bind::Input(3),
                tex(1),
                tex(0),
                tex(2),
                tex(3),
            ],
        ),
        // param, velocity written; then grad, param, velocity read.
        Optimizer::Sgd { .. } => (
            "sgd_momentum_update_tex",
            vec![Bind::Input(0), Bind::Input(2), tex(1), tex(0), tex(2)],
        ),
    };
    KernelCall {
        shader: Shader::OptimizerTex,
        entry,
        constants: vec![("TEX_LOGW", logw as f64)],
        bindings,
        workgroups: Workgroups::Items {
            n: (n / 4) as u64,
            wg: 64,
        },
        ..c
    }
}

/// The storage-buffer update, four values an invocation (`_vec4`) where n is a multiple of 4.
fn storage_call(opt: Optimizer, n: usize) -> KernelCall {
    let quads = n.is_multiple_of(4);
    let workgroups = Workgroups::Items {
        n: if quads { n / 4 } else { n } as u64,
        wg: 256,
    };
    match opt {
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => KernelCall {
            shader: Shader::Optimizer,
            entry: if quads {
                "adam_update_vec4"
            } else {
                "adam_update"
            },
            constants: vec![],
            bindings: vec![
                Bind::Input(0),
                Bind::Input(2),
                Bind::Input(3),
                Bind::Input(1),
            ],
            params: vec![n as u32, f(lr), f(beta1), f(beta2), f(eps)],
            uses_step: true,
            workgroups,
            flops: 12 * n as u64,
            bytes: 28 * n as u64,
        },
        Optimizer::Sgd { lr, momentum } => KernelCall {
            shader: Shader::Optimizer,
            entry: if quads {
                "sgd_momentum_update_vec4"
            } else {
                "sgd_momentum_update"
            },
            constants: vec![],
            bindings: vec![Bind::Input(0), Bind::Input(2), Bind::Input(1)],
            params: vec![n as u32, f(lr), f(momentum)],
            uses_step: false,
            workgroups,
            flops: 4 * n as u64,
            bytes: 20 * n as u64,
        },
    }
}
