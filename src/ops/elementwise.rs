//! Small element-wise kernels (`shaders/elementwise.wgsl`): gradient sums, the backward seed,
//! and the backward of `sum_all`.

use super::{f, Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// CPU twin of `add` with α = 1.
pub fn add_ref(a: &[f64], b: &[f64]) -> Vec<f64> {
    add_scaled_ref(a, b, 1.0)
}

/// CPU twin of `add`: out = a + α·b.
pub fn add_scaled_ref(a: &[f64], b: &[f64], alpha: f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + alpha * y).collect()
}

/// CPU twin of `scale`: out = α·x.
pub fn scale_ref(x: &[f64], alpha: f64) -> Vec<f64> {
    x.iter().map(|v| alpha * v).collect()
}

/// CPU twin of `broadcast_scaled`: out\[i\] = scale·s\[0\].
pub fn broadcast_scaled_ref(s: f64, scale: f64, n: usize) -> Vec<f64> {
    vec![scale * s; n]
}

/// Dispatch of `add` with α = 1: bindings (out, a, b).
pub fn add_call(n: usize) -> KernelCall {
    add_scaled_call(n, 1.0)
}

/// Dispatch of `scale`: bindings (out, x).
pub fn scale_call(n: usize, alpha: f32) -> KernelCall {
    KernelCall {
        shader: Shader::Elementwise,
        entry: "scale",
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: vec![n as u32, f(alpha)],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: n as u64,
        bytes: 8 * n as u64,
    }
}

/// Dispatch of `add`: out = a + α·b, bindings (out, a, b).
pub fn add_scaled_call(n: usize, alpha: f32) -> KernelCall {
    KernelCall {
        shader: Shader::Elementwise,
        entry: "add",
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1)],
        params: vec![n as u32, f(alpha)],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: n as u64,
        bytes: 12 * n as u64,
    }
}

/// Dispatch of `fill`: bindings (out).
pub fn fill_call(n: usize, value: f32) -> KernelCall {
    KernelCall {
        shader: Shader::Elementwise,
        entry: "fill",
        constants: vec![],
        bindings: vec![Bind::Output],
        params: vec![n as u32, f(value)],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: 0,
        bytes: 4 * n as u64,
    }
}

/// Dispatch of `broadcast_scaled`: bindings (out, s).
pub fn broadcast_scaled_call(n: usize, scale: f32) -> KernelCall {
    KernelCall {
        shader: Shader::Elementwise,
        entry: "broadcast_scaled",
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: vec![n as u32, f(scale)],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: n as u64,
        bytes: 4 * n as u64 + 4,
    }
}

/// Dispatch of `scale_in_place` on the node's own output (`--break-kernel`).
pub fn scale_in_place_call(n: usize, factor: f32) -> KernelCall {
    KernelCall {
        shader: Shader::Elementwise,
        entry: "scale_in_place",
        constants: vec![],
        bindings: vec![Bind::Output],
        params: vec![n as u32, f(factor)],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: n as u64,
        bytes: 8 * n as u64,
    }
}
