// The weights of the input gradient of a convolution that reads its input upsampled 2× on the
// fly (a decoder's `upsample+conv2d`, src/ops/conv.rs `ConvGeom::folded_input_gradient`).
//
// That input gradient is the transposed convolution to the upsampled size followed by the
// upsampling's backward, 2×2 block sums. Source row y was copied to upsampled rows 2y and
// 2y + 1, which tap ky of output rows Y = 2y + a + ph − ky (a = 0, 1) read, so
//
//   dx[y] = Σ_{a, ky} w[ky]·dP[2y + a + ph − ky] = Σ_u w'[u]·dP[2y − (kh − 1 − ph) + u],
//   w'[u] = w[kh − 1 − u] + w[kh − u]   (u = 0..kh, the terms inside the kernel),
//
// and the same along x: a convolution of dP with stride 2, a (kh + 1) × (kw + 1) kernel and
// padding (kh − 1 − ph, kw − 1 − pw), with input and output channels exchanged. This kernel
// folds the 2×2 block sums into those weights once a step (a few thousand values); the
// convolution kernels (conv_direct.wgsl's forward) then compute dx directly at the small
// size. For 3×3 kernels that is 16 multiply-adds a small pixel and channel pair where the
// transposed convolution did 4·9 = 36 at the upsampled size, and nothing writes, copies or
// reads back the 4×-size gradient in between.
//
// Layouts are HWIO: w[ky, kx, ci, co] ([kh, kw, c_in, c_out], the forward's) in, and
// w'[u, v, co, ci] ([kh + 1, kw + 1, c_out, c_in]) out. One invocation per folded weight.
// CPU twin: `fold_upsampled_weights_ref`.

struct Fold {
    kh: u32,
    kw: u32,
    c_in: u32,
    c_out: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> folded: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<uniform> p: Fold;

@compute @workgroup_size(64)
fn fold_upsampled_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let kw1 = p.kw + 1u;
    if i >= (p.kh + 1u) * kw1 * p.c_out * p.c_in {
        return;
    }
    let ci = i % p.c_in;
    let co = (i / p.c_in) % p.c_out;
    let v = (i / (p.c_in * p.c_out)) % kw1;
    let u = i / (p.c_in * p.c_out * kw1);
    var s = 0.0;
    for (var a = 0u; a < 2u; a++) {
        for (var b = 0u; b < 2u; b++) {
            // Tap (kh − 1 − u + a, kw − 1 − v + b), where it lies inside the kernel.
            let ky = p.kh + a;
            let kx = p.kw + b;
            if ky > u && kx > v && ky - u - 1u < p.kh && kx - v - 1u < p.kw {
                s += w[(((ky - u - 1u) * p.kw + kx - v - 1u) * p.c_in + ci) * p.c_out + co];
            }
        }
    }
    folded[i] = s;
}
