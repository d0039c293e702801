//! The convolutional autoencoder of the Keras blog post "Building Autoencoders in Keras":
//!
//! ```text
//! encoder  28×28×1 → conv 3×3 16 relu → pool → conv 8 relu → pool → conv 8 relu → pool → 4×4×8 code
//! decoder  conv 8 relu → up ×2 → conv 8 relu → up ×2 → conv 16 relu (valid) → up ×2 → conv 1 (sigmoid in the loss)
//! ```
//!
//! Pools use "same" padding (28 → 14 → 7 → 4); the decoder's one `valid` convolution trims
//! 16 → 14 so the last upsampling lands on 28. `--channels a,b,c` changes the widths (the
//! decoder mirrors them). Each "up ×2" is read by the convolution after it on the fly (one
//! `upsample+conv2d` node, no 4×-size tensor; see [`ConvGeom::reading_upsampled`]). With
//! `--decoder transpose` every nearest-neighbour upsampling is replaced by a learned 3×3
//! stride-2 transposed convolution (ReLU) with as many channels.
//!
//! Other image sizes work when the decoder can land on them: with H → ⌈H/2⌉ → ⌈H/4⌉ → ⌈H/8⌉
//! = h₃, the third decoder convolution maps 4·h₃ to H/2 with padding 0 (valid) or 1 (same),
//! so H must be even and H/2 − 4·h₃ + 2 ∈ {0, 2} (8, 12, 16, 20, 28, 32, ... pixels).

use super::{Built, ModelConfig};
use crate::graph::{Graph, NodeId};
use crate::nn::Conv2d;
use crate::ops::conv::{ConvGeom, Padding};
use crate::ops::Act;

/// The widths of the recipe.
pub const DEFAULT_CHANNELS: [usize; 3] = [16, 8, 8];

/// The encoder's channels for `cfg` (its `--channels`, else the recipe's).
pub fn channels(cfg: &ModelConfig) -> Vec<usize> {
    if cfg.channels.is_empty() {
        DEFAULT_CHANNELS.to_vec()
    } else {
        cfg.channels.clone()
    }
}

/// Padding (0: valid, 1: same) of the third decoder convolution for an H-pixel side, or why
/// H cannot be decoded.
fn trim_padding(side: usize) -> Result<usize, String> {
    let h3 = side.div_ceil(2).div_ceil(2).div_ceil(2);
    if side.is_multiple_of(2) && side / 2 + 2 == 4 * h3 {
        Ok(0)
    } else if side.is_multiple_of(2) && side / 2 == 4 * h3 {
        Ok(1)
    } else {
        Err(format!(
            "the convolutional autoencoder cannot decode back to {side} pixels (it needs an even \
             size H with H/2 − 4·⌈H/8⌉ + 2 ∈ {{0, 2}}, e.g. 8, 12, 16, 20, 28, 32); \
             resize the images (--image-size 28) or use --arch dense"
        ))
    }
}

/// The most pixels per image a conv model takes (see [`check`]).
pub const MAX_PIXELS: usize = 128 * 128;

/// Checks that `cfg`'s image can go through the network; the error says what to change:
/// image sizes the decoder can trim back, three positive channel widths, and at most
/// [`MAX_PIXELS`] pixels.
pub fn check(cfg: &ModelConfig) -> Result<(), String> {
    let [_, h, w] = cfg.image;
    trim_padding(h)?;
    trim_padding(w)?;
    if h * w > MAX_PIXELS {
        return Err(format!(
            "conv models take images of at most {MAX_PIXELS} pixels ({h}×{w} given): give --image-size 128 or smaller. \
             (The weight-gradient kernel walks a sample's pixels in one invocation, and Mesa's \
             llvmpipe stops any invocation's loops after 65,535 iterations.)"
        ));
    }
    if channels(cfg).len() != 3 || channels(cfg).contains(&0) {
        return Err(format!(
            "--channels needs three positive widths (the encoder's three convolutions), got {:?}",
            cfg.channels
        ));
    }
    Ok(())
}

/// Code shape [channels, h, w] for `cfg`.
pub fn code_shape(cfg: &ModelConfig) -> [usize; 3] {
    let [_, h, w] = cfg.image;
    let q = |s: usize| s.div_ceil(2).div_ceil(2).div_ceil(2);
    [channels(cfg).get(2).copied().unwrap_or(0), q(h), q(w)]
}

fn conv(
    g: &mut Graph,
    cfg: &ModelConfig,
    name: &str,
    x: NodeId,
    c_out: usize,
    padding: Padding,
    act: Act,
) -> NodeId {
    let geom = conv3x3(g, x, c_out, padding, 1);
    Conv2d::new(g, name, geom, act, cfg.init).forward(g, x)
}

/// The 3×3, stride-1 convolution to `c_out` channels of x ([batch, c, h, w]) seen `scale`
/// times its size (2: upsampled on the fly).
fn conv3x3(g: &Graph, x: NodeId, c_out: usize, padding: Padding, scale: usize) -> ConvGeom {
    let s = g.shape(x);
    let (hw, k) = ((scale * s[2], scale * s[3]), (3, 3));
    let geom = ConvGeom::new(s[0], s[1], hw, c_out, k, 1, padding);
    match scale {
        2 => geom.reading_upsampled(),
        _ => geom,
    }
}

/// The decoder's doubling `up_name` of x, then its 3×3 convolution `name`. With
/// `Decoder::Upsample` the convolution reads x upsampled on the fly
/// ([`ConvGeom::reading_upsampled`]: one node, no 4×-size tensor in between; the same sums
/// as `upsample2x` followed by the convolution, bit for bit); with `Decoder::Transpose` a
/// learned stride-2 transposed convolution doubles x first.
#[allow(clippy::too_many_arguments)]
fn up_conv(
    g: &mut Graph,
    cfg: &ModelConfig,
    up_name: &str,
    name: &str,
    x: NodeId,
    c_out: usize,
    padding: Padding,
    act: Act,
) -> NodeId {
    match cfg.decoder {
        super::Decoder::Upsample => {
            let geom = conv3x3(g, x, c_out, padding, 2);
            Conv2d::new(g, name, geom, act, cfg.init).forward(g, x)
        }
        super::Decoder::Transpose => {
            let s = g.shape(x).to_vec();
            let geom = ConvGeom::transposed_same(s[0], s[1], (s[2], s[3]), s[1], 3, 2);
            let t = Conv2d::transposed(g, up_name, geom, Act::Relu, cfg.init).forward(g, x);
            conv(g, cfg, name, t, c_out, padding, act)
        }
    }
}

/// The encoder: x ([batch, C·H·W]) → code [batch, c₃, ⌈H/8⌉, ⌈W/8⌉].
pub fn encoder(g: &mut Graph, cfg: &ModelConfig, x: NodeId) -> NodeId {
    let [c, h, w] = cfg.image;
    let batch = g.shape(x)[0];
    let ch = channels(cfg);
    let geom = ConvGeom::new(batch, c, (h, w), ch[0], (3, 3), 1, Padding::Same);
    let mut t = Conv2d::new(g, "encoder.0", geom, Act::Relu, cfg.init).forward(g, x);
    t = g.max_pool2x2("encoder.pool0", t);
    for (i, &width) in ch.iter().enumerate().skip(1) {
        t = conv(
            g,
            cfg,
            &format!("encoder.{i}"),
            t,
            width,
            Padding::Same,
            Act::Relu,
        );
        t = g.max_pool2x2(&format!("encoder.pool{i}"), t);
    }
    t
}

/// The decoder: code → logits [batch, C, H, W] (a sigmoid gives pixels).
pub fn decoder(g: &mut Graph, cfg: &ModelConfig, z: NodeId) -> NodeId {
    let ch = channels(cfg);
    let pad = |side| trim_padding(side).expect("checked by conv::check");
    let trim = Padding::Explicit(pad(cfg.image[1]), pad(cfg.image[2]));
    // The code may arrive flat ([batch, c·h·w], from the VAE's dense layer): the first
    // convolution's geometry comes from the config, not from the tensor's shape.
    let [zc, zh, zw] = code_shape(cfg);
    let geom = ConvGeom::new(g.shape(z)[0], zc, (zh, zw), ch[2], (3, 3), 1, Padding::Same);
    let mut t = Conv2d::new(g, "decoder.0", geom, Act::Relu, cfg.init).forward(g, z);
    t = up_conv(
        g,
        cfg,
        "decoder.up0",
        "decoder.1",
        t,
        ch[1],
        Padding::Same,
        Act::Relu,
    );
    t = up_conv(
        g,
        cfg,
        "decoder.up1",
        "decoder.2",
        t,
        ch[0],
        trim,
        Act::Relu,
    );
    up_conv(
        g,
        cfg,
        "decoder.up2",
        "decoder.3",
        t,
        cfg.image[0],
        Padding::Same,
        Act::Identity,
    )
}

/// Writes encoder, decoder and the per-sample loss of `input` against `target`.
pub fn build(
    g: &mut Graph,
    cfg: &ModelConfig,
    input: NodeId,
    target: NodeId,
    want_recon: bool,
) -> Built {
    let latent = encoder(g, cfg, input);
    let logits = decoder(g, cfg, latent);
    let (recon, per_sample) = super::reconstruction_loss(g, cfg, logits, target, want_recon);
    Built {
        input,
        latent,
        logits,
        recon,
        per_sample,
        extra: vec![],
        batch_penalty: None,
        terms: vec![("reconstruction", per_sample)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_beyond_the_pixel_cap_are_refused_with_the_flag_to_use() {
        let mut cfg = ModelConfig::conv_reference();
        cfg.image = [1, 128, 128];
        assert!(check(&cfg).is_ok());
        cfg.image = [1, 256, 256];
        let e = check(&cfg).unwrap_err();
        assert!(e.contains("--image-size") && e.contains("65,535"), "{e}");
    }
}
