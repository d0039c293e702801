// Activation functions shared by activation.wgsl, the matmul and conv epilogues and the
// fused pool backward (pool.wgsl's max_pool_backward).
// The shader registry (src/gpu/shaders.rs) prepends this file to both, so each formula
// lives in exactly one place.
//
//   id        f(x) = x                      f'  = 1
//   relu      f(x) = max(x, 0)              f'  = 1 if y > 0 else 0     (0 at the kink x = 0)
//   leaky     f(x) = x if x > 0 else s·x    f'  = 1 if y > 0 else s     (s = LEAKY_SLOPE > 0)
//   sigmoid   f(x) = 1 / (1 + e^-x)         f'  = y·(1 − y)
//   tanh      f(x) = tanh(x)                f'  = 1 − y²
//
// Every derivative is written in terms of the output y = f(x), so backward needs only the
// forward's output buffer (which the next layer kept anyway), not the pre-activation.

// 0 identity, 1 relu, 2 leaky_relu, 3 sigmoid, 4 tanh
override ACT: u32 = 0u;
override LEAKY_SLOPE: f32 = 0.01;

fn activate(v: f32) -> f32 {
    switch ACT {
        case 1u: { return max(v, 0.0); }
        case 2u: { return select(LEAKY_SLOPE * v, v, v > 0.0); }
        case 3u: {
            // Stable logistic: exp is only taken of −|v|, so ±300 gives exactly 0 or 1.
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
        }
        // tanh(±15) is ±1 in f32 already; clamping keeps exp-based tanh from inf/inf.
        case 4u: { return tanh(clamp(v, -15.0, 15.0)); }
        default: { return v; }
    }
}

fn activate_grad_from_output(y: f32) -> f32 {
    switch ACT {
        case 1u: { return select(0.0, 1.0, y > 0.0); }
        case 2u: { return select(LEAKY_SLOPE, 1.0, y > 0.0); }
        case 3u: { return y * (1.0 - y); }
        case 4u: { return 1.0 - y * y; }
        default: { return 1.0; }
    }
}
