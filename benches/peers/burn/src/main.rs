// A peer for `shaderprop bench train` (not part of shaderprop; see ../README.md): the dense
// (784-32-784) and conv (Keras recipe) autoencoders in Burn 0.22 on wgpu, Adam 1e-3, mean BCE
// with logits, seconds per epoch on Fashion-MNIST.
//   cargo run --release -- dense|conv EPOCHS [train-images-idx3-ubyte, decompressed]
//   cargo run --release -- matmul
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2d, Interpolate2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{relu, softplus};
use std::time::Instant;

#[derive(Module, Debug)]
struct Dense {
    enc: Linear,
    dec: Linear,
}

#[derive(Module, Debug)]
struct ConvAe {
    e0: Conv2d,
    e1: Conv2d,
    e2: Conv2d,
    d0: Conv2d,
    d1: Conv2d,
    d2: Conv2d,
    d3: Conv2d,
    pool: MaxPool2d,
    pool_same: MaxPool2d,
    up: Interpolate2d,
}

fn conv(cin: usize, cout: usize, pad: PaddingConfig2d, dev: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(pad)
        .init(dev)
}

impl ConvAe {
    fn new(dev: &Device) -> Self {
        let s = || PaddingConfig2d::Same;
        ConvAe {
            e0: conv(1, 16, s(), dev),
            e1: conv(16, 8, s(), dev),
            e2: conv(8, 8, s(), dev),
            d0: conv(8, 8, s(), dev),
            d1: conv(8, 8, s(), dev),
            d2: conv(8, 16, PaddingConfig2d::Valid, dev),
            d3: conv(16, 1, s(), dev),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            pool_same: MaxPool2dConfig::new([2, 2])
                .with_padding(PaddingConfig2d::Same)
                .init(),
            up: Interpolate2dConfig::new()
                .with_scale_factor(Some([2.0, 2.0]))
                .init(),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.pool.forward(relu(self.e0.forward(x)));
        let h = self.pool.forward(relu(self.e1.forward(h)));
        let h = self.pool_same.forward(relu(self.e2.forward(h)));
        let h = self.up.forward(relu(self.d0.forward(h)));
        let h = self.up.forward(relu(self.d1.forward(h)));
        let h = self.up.forward(relu(self.d2.forward(h)));
        self.d3.forward(h)
    }
}

// Mean BCE with logits: softplus(z) − x·z.
fn bce<const D: usize>(z: Tensor<D>, x: Tensor<D>) -> Tensor<1> {
    (softplus(z.clone(), 1.0) - x * z).mean()
}

// GFLOP/s of a 1024² float32 matmul: autotuned on the first calls, then the median of five
// timings of 10 products each, synchronised.
fn matmul() {
    let dev = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let n = 1024;
    let a = Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, &dev);
    let b = Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, &dev);
    for _ in 0..3 {
        let _ = a.clone().matmul(b.clone());
        dev.sync().unwrap();
    }
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..10 {
                let _ = a.clone().matmul(b.clone());
            }
            dev.sync().unwrap();
            t.elapsed().as_secs_f64() / 10.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let t = times[2];
    println!(
        "matmul 1024²: {:.3} ms, {:.2} GFLOP/s",
        t * 1e3,
        2.0 * (n * n * n) as f64 / t / 1e9
    );
}

fn load(path: &str, n: usize) -> Vec<f32> {
    let b = std::fs::read(path).unwrap();
    b[16..16 + n * 784]
        .iter()
        .map(|&v| v as f32 / 255.0)
        .collect()
}

fn main() {
    let model = std::env::args().nth(1).unwrap_or("dense".into());
    if model == "matmul" {
        return matmul();
    }
    let epochs: usize = std::env::args().nth(2).map_or(2, |s| s.parse().unwrap());
    let dev = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice).autodiff();
    let n = 60000;
    let path = std::env::args()
        .nth(3)
        .unwrap_or("/tmp/fm/train-images-idx3-ubyte".into());
    let data = load(&path, n);
    let batch = if model == "dense" { 256 } else { 128 };
    // On the device once, in chunks of 10,000 samples (one 188 MB tensor passes wgpu's
    // 128 MiB binding limit); each step slices its batch out of a chunk.
    let chunk = 10000;
    let chunks: Vec<Tensor<2>> = data
        .chunks(chunk * 784)
        .map(|c| Tensor::<2>::from_data(TensorData::new(c.to_vec(), [c.len() / 784, 784]), &dev))
        .collect();
    let per_chunk = chunk / batch;
    let batch_at = |s: usize| {
        let (c, i) = (s / per_chunk, s % per_chunk);
        chunks[c].clone().slice([i * batch..(i + 1) * batch])
    };
    let steps = per_chunk * (n / chunk);
    let t0 = Instant::now();
    if model == "dense" {
        let mut m = Dense {
            enc: LinearConfig::new(784, 32).init(&dev),
            dec: LinearConfig::new(32, 784).init(&dev),
        };
        let mut opt = AdamConfig::new().with_epsilon(1e-7).init();
        for e in 0..epochs {
            let t = Instant::now();
            let mut last = None;
            for s in 0..steps {
                let x = batch_at(s);
                let z = m.dec.forward(relu(m.enc.forward(x.clone())));
                let loss = bce(z, x);
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                m = opt.step(1e-3, m, grads);
                if s + 1 == steps {
                    last = Some(loss);
                }
            }
            let l: f32 = last.unwrap().into_scalar();
            println!(
                "dense epoch {e}: {:.2} s (loss {l:.4})",
                t.elapsed().as_secs_f64()
            );
        }
    } else {
        let mut m = ConvAe::new(&dev);
        let mut opt = AdamConfig::new().with_epsilon(1e-7).init();
        for e in 0..epochs {
            let t = Instant::now();
            let mut last = None;
            for s in 0..steps {
                let x = batch_at(s).reshape([batch, 1, 28, 28]);
                let z = m.forward(x.clone());
                let loss = bce(z, x);
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                m = opt.step(1e-3, m, grads);
                if s + 1 == steps {
                    last = Some(loss);
                }
                if e == 0 && (s + 1) % 50 == 0 {
                    eprintln!("  step {} at {:.1} s", s + 1, t.elapsed().as_secs_f64());
                }
            }
            let l: f32 = last.unwrap().into_scalar();
            println!(
                "conv epoch {e}: {:.2} s (loss {l:.4})",
                t.elapsed().as_secs_f64()
            );
        }
    }
    println!("total {:.2} s", t0.elapsed().as_secs_f64());
}
