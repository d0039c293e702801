//! Batch gather (`shaders/gather.wgsl`): the data set lives on the GPU as bytes and each
//! batch is built there from a shuffled index buffer, so no pixel crosses the bus per step.

use super::{Bind, KernelCall, Workgroups};
use crate::gpu::Shader;

/// CPU twin of `gather_batch`: out[r, c] = data[idx[offset + r], c] / 255 (rows past the end
/// of `idx` repeat its last entry).
pub fn forward_ref(data: &[u8], idx: &[u32], offset: usize, rows: usize, cols: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let s = idx[(offset + r).min(idx.len() - 1)] as usize;
        for c in 0..cols {
            out.push(data[s * cols + c] as f64 / 255.0);
        }
    }
    out
}

/// CPU twin of `gather_batch_f32`: out[r, c] = data[idx[offset + r], c].
pub fn forward_f32_ref(
    data: &[f64],
    idx: &[u32],
    offset: usize,
    rows: usize,
    cols: usize,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let s = idx[(offset + r).min(idx.len() - 1)] as usize;
        out.extend_from_slice(&data[s * cols..(s + 1) * cols]);
    }
    out
}

/// Dispatch of `gather_batch` (bytes) or `gather_batch_f32` (`floats`): bindings (out, data,
/// idx); inputs 0 data, 1 indices. Rows of a multiple of 4 values use the `gather_batch4*`
/// form of the same kernel (one workgroup of `row_wg` invocations per row, four values at a
/// time, row from the grid's z, so at most [`super::MAX_GRID_LAYERS`] rows).
pub fn call(rows: usize, cols: usize, n_idx: usize, floats: bool, row_wg: u32) -> KernelCall {
    let by4 = cols.is_multiple_of(4) && rows <= super::MAX_GRID_LAYERS;
    KernelCall {
        shader: Shader::Gather,
        entry: match (by4, floats) {
            (false, false) => "gather_batch",
            (false, true) => "gather_batch_f32",
            (true, false) => "gather_batch4",
            (true, true) => "gather_batch4_f32",
        },
        constants: if by4 {
            vec![("WALK_WG", row_wg as f64)]
        } else {
            vec![]
        },
        bindings: vec![Bind::Output, Bind::Input(0), Bind::Input(1)],
        params: vec![rows as u32, cols as u32, n_idx as u32],
        uses_step: true,
        workgroups: if by4 {
            Workgroups::Layers {
                n: row_wg as u64,
                wg: row_wg,
                layers: rows as u32,
            }
        } else {
            Workgroups::Items {
                n: (rows * cols) as u64,
                wg: 256,
            }
        },
        flops: (rows * cols) as u64,
        bytes: if floats { 8 } else { 5 } * (rows * cols) as u64,
    }
}
