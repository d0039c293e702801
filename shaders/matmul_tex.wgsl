// matmul_tex: the product of matmul.wgsl (same math, same 8×8 block, see matmul_block.wgsl)
// with A and B read through texture fetches instead of storage-buffer loads.
//
//     C[M,N] = act( op(A)[M,K] · op(B)[K,N] + bias[N] ),   M, N, K multiples of 4
//
// Why a texture: the plan copies A and B, as they lie in their buffers, into two rgba32float
// textures folded at TEX_W = 2^TEX_LOGW texels a row (copy_buffer_to_texture, one
// memcpy-like command before the dispatch; allocated 64 bytes wider, see tex_fns.wgsl).
// Texel (i mod TEX_W, i / TEX_W) then holds floats 4i..4i+3 of the buffer: the flat array,
// folded into rows. Nothing about the layout changes, only the load
// path. On Mesa's lavapipe (and llvmpipe) a storage-buffer load is a loop over the SIMD
// lanes, each lane looking up the buffer, bounds-checking and loading one scalar; a texel
// load (`texel()` of tex_fns.wgsl: a read-only storage texture where the adapter has them)
// is a vectorised gather of 16-byte texels. At 512³ the same block ran 5.1× faster from
// sampled textures (BENCHMARKS.md's run of `shaderprop bench --filter matmul`: 147.6 → 29.1 ms,
// `texture` beside `vec4`). On GPUs a texture read goes through the texture cache and
// costs about what a buffer load does; the autotuner decides per device.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
// ACT, LEAKY_SLOPE and activate() come from act_fns.wgsl, prepended to this file.

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(1) var a_tex: Tex4;
@group(0) @binding(2) var b_tex: Tex4;
@group(0) @binding(3) var<storage, read> bias4: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> dims4: Dims;

// Rows of C per workgroup; columns per invocation; invocations per workgroup (as matmul_vec4).
const RB_M: u32 = 8u;
const V_N: u32 = 8u;
override WG: u32 = 64u;
// Blocks across N per workgroup (a power of two dividing WG; the rest of WG stacks rows).
override WG_COLS: u32 = 64u;
// TEX_LOGW, Tex4 and texel() come from tex_fns.wgsl, prepended.

// The product's sizes and the fetches' last texels, read from the uniform once per
// invocation (load_dims, the first thing every entry point here does) and kept in private
// variables: on lavapipe a uniform read inside a loop is a loop over the lanes every time
// (~2 ns; outside any loop or branch it is one scalar load), and LLVM does not hoist it.
var<private> dm: u32;
var<private> dn: u32;
var<private> dk: u32;
var<private> a_last: u32;
var<private> b_last: u32;

fn load_dims() {
    dm = dims4.m;
    dn = dims4.n;
    dk = dims4.k;
    a_last = dm * dk / 4u - 1u;
    b_last = dk * dn / 4u - 1u;
}

fn a4_at(i: u32) -> vec4<f32> {
    return texel(a_tex, min(i, a_last));
}

fn b4_at(i: u32) -> vec4<f32> {
    return texel(b_tex, min(i, b_last));
}

@compute @workgroup_size(WG)
fn matmul_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    load_dims();
    block_8x8(wid, lid);
}
