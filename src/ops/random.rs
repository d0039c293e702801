//! Counter-based random numbers on the GPU (`shaders/random.wgsl`): Philox4x32-10, the
//! generator of cuRAND. A draw is a pure function of (seed, step, stream, index), so noise
//! for the denoising model and ε for the VAE's reparameterisation cost no state, no upload,
//! and are reproducible from `--seed`. The twin below computes the same bits on the CPU.

use super::{Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// Which distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Uniform on (0, 1).
    Uniform,
    /// Standard normal (Box–Muller).
    Normal,
}

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = M0 as u64 * c[0] as u64;
        let p1 = M1 as u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// The (0, 1) value of a 32-bit word, as the WGSL computes it.
pub fn to_unit(w: u32) -> f64 {
    ((w >> 9) as f64 + 0.5) / 8_388_608.0
}

/// CPU twin of `random_uniform` / `random_normal`: `n` draws of stream `stream` at `step`.
pub fn draws_ref(dist: Distribution, n: usize, seed: u32, step: u32, stream: u32) -> Vec<f64> {
    (0..n as u32)
        .map(|i| {
            let w = philox4x32_10([i, step, 0, 0], [seed, stream]);
            match dist {
                Distribution::Uniform => to_unit(w[0]),
                Distribution::Normal => {
                    (-2.0 * to_unit(w[0]).ln()).sqrt()
                        * (std::f64::consts::TAU * to_unit(w[1])).cos()
                }
            }
        })
        .collect()
}

/// Dispatch of `random_uniform` / `random_normal` over `n` elements: bindings (out).
pub fn call(dist: Distribution, n: usize, stream: u32) -> KernelCall {
    KernelCall {
        shader: Shader::Random,
        entry: match dist {
            Distribution::Uniform => "random_uniform",
            Distribution::Normal => "random_normal",
        },
        constants: vec![],
        bindings: vec![Bind::Output],
        params: vec![n as u32, stream],
        uses_step: true,
        workgroups: Workgroups::Items {
            n: n as u64,
            wg: 256,
        },
        flops: 60 * n as u64,
        bytes: 4 * n as u64,
    }
}
