//! What the `cargo fuzz` targets in `fuzz/` check, one function per parser of outside files,
//! so that `tests/fuzz.rs` runs every seed and every saved crash through exactly what the
//! fuzzer ran.
//!
//! Each returns the parser's verdict (`Err` with its message for a refused input) and
//! panics where a property fails: the parser panicked, or accepted an input and returned
//! something the rest of the program cannot rely on.

use std::path::Path;

/// The IDX reader ([`crate::data::idx::parse_idx`], raw or gzip) on arbitrary bytes: an
/// accepted array's dimensions account for every value.
pub fn idx(data: &[u8]) -> Result<(), String> {
    let a = crate::data::idx::parse_idx(data, "fuzz.idx").map_err(|e| e.to_string())?;
    assert_fills("the array", &a.dims, a.data.len());
    Ok(())
}

/// The CSV loader after the file is read ([`crate::data::own::csv_split`]: parse, split,
/// standardise) on arbitrary bytes; `load_csv` refuses text that is not UTF-8 before
/// parsing, and so does this. Every standardised value of an accepted file is finite.
pub fn csv(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8: {e}"))?;
    let opts = crate::data::own::LoadOptions::default();
    let s = crate::data::own::csv_split(text, "fuzz.csv", &opts).map_err(|e| e.to_string())?;
    for set in [&s.train, &s.val] {
        let v = set.values.as_deref().expect("CSV sets hold values");
        assert_eq!(v.len(), set.n * set.cols, "rows × columns ≠ values");
        assert!(
            v.iter().all(|x| x.is_finite()),
            "a non-finite standardised value"
        );
    }
    Ok(())
}

/// The checkpoint loader ([`crate::checkpoint::parse`]: safetensors, then shaderprop's
/// metadata, model config and tensors) on arbitrary bytes: an accepted checkpoint's tensors
/// hold as many values as their shapes say, and its data statistics (CSV models) can
/// standardise: one finite mean and one finite, positive deviation per input column.
pub fn checkpoint(data: &[u8]) -> Result<(), String> {
    let ck = crate::checkpoint::parse(data, Path::new("fuzz.safetensors"))
        .map_err(|e| format!("{e:#}"))?;
    if let Some(st) = &ck.config.data_stats {
        assert!(st.mean.len() == ck.config.input_dim && st.std.len() == ck.config.input_dim);
        assert!(st.mean.iter().chain(&st.std).all(|v| v.is_finite()));
        assert!(st.std.iter().all(|s| *s > 0.0), "a zero standard deviation");
    }
    for (name, t) in &ck.tensors {
        assert_fills(&format!("tensor {name}"), &t.shape, t.data.len());
    }
    Ok(())
}

/// Panics unless `shape` accounts for exactly `len` values.
fn assert_fills(what: &str, shape: &[usize], len: usize) {
    assert_eq!(
        shape.iter().product::<usize>(),
        len,
        "{what}: shape {shape:?} but {len} values"
    );
}
