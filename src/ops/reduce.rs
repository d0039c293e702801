//! Reductions (`shaders/reduce.wgsl`): the bias gradient's column sums and the loss sum.
//!
//! `sum_all` computes s = scale·Σ x over the first `valid_rows·row_len` elements. Its
//! backward is the broadcast d_x\[i\] = scale·d_s (elementwise.rs), masked rows included: in
//! training every row is valid.

use super::{f, texture_form, Bind, KernelCall, Reads, Workgroups};
use crate::gpu::Shader;

/// CPU twin of `column_sum`: out\[c\] = Σ_r x\[r, c\].
pub fn column_sum_ref(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c] += x[r * cols + c];
        }
    }
    out
}

/// CPU twin of `sum_all` (without accumulation): scale·Σ of the first `limit` values.
pub fn sum_all_ref(x: &[f64], limit: usize, scale: f64) -> f64 {
    scale * x[..limit.min(x.len())].iter().sum::<f64>()
}

/// Dispatch of `column_sum` over x: [rows, cols]: bindings (out, x). `Reads::Texture` (cols
/// a multiple of 4) reads x from a texture copy, four columns per invocation.
pub fn column_sum_call(rows: usize, cols: usize, reads: Reads) -> KernelCall {
    let per_quad = Workgroups::Items {
        n: (cols / 4) as u64,
        wg: 64,
    };
    let c = column_sum_storage(rows, cols);
    let applies = cols.is_multiple_of(4);
    texture_form(
        c,
        reads,
        applies,
        "column_sum_tex",
        per_quad,
        &[0],
        rows * cols,
    )
}

fn column_sum_storage(rows: usize, cols: usize) -> KernelCall {
    KernelCall {
        shader: Shader::Reduce,
        entry: "column_sum",
        constants: vec![],
        bindings: vec![Bind::Output, Bind::Input(0)],
        params: vec![rows as u32, cols as u32],
        uses_step: false,
        workgroups: Workgroups::Items {
            n: cols as u64,
            wg: 256,
        },
        flops: (rows * cols) as u64,
        bytes: 4 * (rows * cols + cols) as u64,
    }
}

/// Dispatch of `sum_all` over `n` values in rows of `row_len`. With `accumulate` the total
/// is added into input 0 (a persistent accumulator) and the values are input 1.
pub fn sum_all_call(n: usize, row_len: usize, scale: f32, accumulate: bool) -> KernelCall {
    let bindings = if accumulate {
        vec![Bind::Input(0), Bind::Input(1)]
    } else {
        vec![Bind::Output, Bind::Input(0)]
    };
    KernelCall {
        shader: Shader::Reduce,
        entry: "sum_all",
        constants: vec![("ACCUMULATE", accumulate as u8 as f64)],
        bindings,
        params: vec![n as u32, row_len as u32, f(scale)],
        uses_step: true,
        workgroups: Workgroups::Fixed([1, 1, 1]),
        flops: n as u64,
        bytes: 4 * n as u64 + 4,
    }
}

/// CPU twin of `row_sum`: out\[r\] = Σ_j x\[r, j\].
pub fn row_sum_ref(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| x[r * cols..(r + 1) * cols].iter().sum())
        .collect()
}

/// Dispatch of `row_sum` over x: [rows, cols]: bindings (out, x). `Reads::Texture` (cols a
/// multiple of 4) reads x from a texture copy, a texel at a time.
pub fn row_sum_call(rows: usize, cols: usize, reads: Reads) -> KernelCall {
    let c = KernelCall {
        entry: "row_sum",
        workgroups: Workgroups::Items {
            n: rows as u64,
            wg: 256,
        },
        bytes: 4 * (rows * cols + rows) as u64,
        ..column_sum_storage(rows, cols)
    };
    let per_row = Workgroups::Items {
        n: rows as u64,
        wg: 64,
    };
    let applies = cols.is_multiple_of(4);
    texture_form(c, reads, applies, "row_sum_tex", per_row, &[0], rows * cols)
}
