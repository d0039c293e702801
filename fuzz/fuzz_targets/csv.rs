//! `cargo fuzz run csv`: see [`shaderprop::fuzzing::csv`] for what it checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shaderprop::fuzzing::csv(data);
});
