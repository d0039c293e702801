// Batch gather: builds one training batch on the GPU from the data set's bytes.
//
//     gather_batch:      out[r, c] = data[idx[step.batch_offset + r], c] / 255    out: [rows, cols] overwritten
//     gather_batch_f32:  out[r, c] = data_f[idx[step.batch_offset + r], c]       (CSV data, floats)
//
// data: the whole split as bytes, packed four to a u32 (WGSL has no u8), sample-major:
//       byte j of sample s is at position s·cols + j.
// idx:  a permutation of the split's samples, uploaded once per epoch by the host.
// Rows past the end of idx (the padded tail of the last validation batch) read the last
// index; the losses mask them out with step.valid_rows.
//
// gather_batch4 / gather_batch4_f32 compute the same when cols is a multiple of 4 (and the
// batch has at most 65,535 rows): one workgroup per row (the grid's z index), so the index
// load is the same for every invocation of a workgroup (one scalar load, not one per lane),
// and each invocation moves four values at a time: one u32 of four bytes (or four floats) in,
// one vec4 out, and no integer division. On lavapipe that is ~5× fewer memory operations than
// one value per invocation (BENCHMARKS.md). The workgroup walks its row WALK_WG quads at
// a time: 64 on GPUs (and where the adapter reports no subgroup size, e.g. GL); on CPU devices
// one subgroup (one SIMD register), which runs the whole row as one loop instead of a chunked
// batch of invocations per 64 quads (~1.7× faster at 784-value rows on lavapipe).

struct Params {
    rows: u32,
    cols: u32,
    n_idx: u32,
    _p0: u32,
}

struct Step {
    step: u32,
    batch_offset: u32,
    seed: u32,
    valid_rows: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(256)
fn gather_batch(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.rows * p.cols {
        return;
    }
    let r = i / p.cols;
    let c = i % p.cols;
    let sample = idx[min(step.batch_offset + r, p.n_idx - 1u)];
    let byte_pos = sample * p.cols + c;
    let word = data[byte_pos / 4u];
    let byte = (word >> (8u * (byte_pos % 4u))) & 0xffu;
    out[i] = f32(byte) / 255.0;
}

// The same for data already in floats (CSV, standardised): out[r, c] = data[idx[offset + r], c].
@group(0) @binding(1) var<storage, read> data_f: array<f32>;

@compute @workgroup_size(256)
fn gather_batch_f32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.rows * p.cols {
        return;
    }
    let r = i / p.cols;
    let c = i % p.cols;
    let sample = idx[min(step.batch_offset + r, p.n_idx - 1u)];
    out[i] = data_f[sample * p.cols + c];
}

// Four values at a time; one workgroup of WALK_WG invocations per row (grid z), walking its quads.
@group(0) @binding(0) var<storage, read_write> out4: array<vec4<f32>>;

fn row_sample(row: u32) -> u32 {
    return idx[min(step.batch_offset + row, p.n_idx - 1u)];
}

// Workgroup width of the row walks (set by the plan, see above).
override WALK_WG: u32 = 64u;

@compute @workgroup_size(WALK_WG)
fn gather_batch4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let quads = p.cols / 4u;
    let row = wid.z;
    let src = row_sample(row) * quads;
    for (var q = lid.x; q < quads; q += WALK_WG) {
        let word = data[src + q];
        let bytes = vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(0xffu);
        out4[row * quads + q] = vec4<f32>(bytes) / 255.0;
    }
}

@compute @workgroup_size(WALK_WG)
fn gather_batch4_f32(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let quads = p.cols / 4u;
    let row = wid.z;
    let src = row_sample(row) * p.cols;
    for (var q = lid.x; q < quads; q += WALK_WG) {
        let at = src + 4u * q;
        out4[row * quads + q] = vec4<f32>(data_f[at], data_f[at + 1u], data_f[at + 2u], data_f[at + 3u]);
    }
}
