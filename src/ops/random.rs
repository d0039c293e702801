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

/// Corruption applied by the denoising autoencoder (`--noise`), drawn afresh every step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// x + amount·N(0, 1), clipped to \[0, 1\] (the Keras recipe: 0.5).
    Gaussian(f32),
    /// Each element set to 0 with probability p.
    Mask(f32),
}

impl std::str::FromStr for Noise {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, amount) = s.split_once(':').ok_or_else(|| {
            format!("--noise '{s}': expected gaussian:STD or mask:P, e.g. gaussian:0.5")
        })?;
        let a: f32 = amount
            .parse()
            .map_err(|_| format!("--noise '{s}': '{amount}' is not a number"))?;
        match kind {
            "gaussian" if a.is_finite() && a >= 0.0 => Ok(Noise::Gaussian(a)),
            "mask" if (0.0..1.0).contains(&a) => Ok(Noise::Mask(a)),
            "gaussian" => Err(format!("--noise '{s}': the standard deviation must be ≥ 0")),
            "mask" => Err(format!(
                "--noise '{s}': the dropped fraction must be in [0, 1)"
            )),
            o => Err(format!(
                "--noise '{s}': unknown kind '{o}', choose gaussian or mask"
            )),
        }
    }
}

impl std::fmt::Display for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Noise::Gaussian(a) => write!(f, "gaussian:{a}"),
            Noise::Mask(p) => write!(f, "mask:{p}"),
        }
    }
}

impl serde::Serialize for Noise {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Noise {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// CPU twin of `noise_gaussian` / `noise_mask` on `x` at (seed, step) of stream `stream`.
pub fn noise_ref(noise: Noise, x: &[f64], seed: u32, step: u32, stream: u32) -> Vec<f64> {
    match noise {
        Noise::Gaussian(a) => draws_ref(Distribution::Normal, x.len(), seed, step, stream)
            .iter()
            .zip(x)
            .map(|(g, v)| (v + a as f64 * g).clamp(0.0, 1.0))
            .collect(),
        Noise::Mask(p) => draws_ref(Distribution::Uniform, x.len(), seed, step, stream)
            .iter()
            .zip(x)
            .map(|(u, v)| if *u >= p as f64 { *v } else { 0.0 })
            .collect(),
    }
}

/// Dispatch of `noise_gaussian` / `noise_mask` over `n` elements: bindings (out, x).
pub fn noise_call(noise: Noise, n: usize, stream: u32) -> KernelCall {
    let (entry, amount) = match noise {
        Noise::Gaussian(a) => ("noise_gaussian", a),
        Noise::Mask(p) => ("noise_mask", p),
    };
    KernelCall {
        entry,
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: vec![n as u32, stream, amount.to_bits()],
        bytes: 8 * n as u64,
        ..call(Distribution::Normal, n, stream)
    }
}
