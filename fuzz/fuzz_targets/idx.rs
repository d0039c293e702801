//! `cargo fuzz run idx`: see [`shaderprop::fuzzing::idx`] for what it checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shaderprop::fuzzing::idx(data);
});
