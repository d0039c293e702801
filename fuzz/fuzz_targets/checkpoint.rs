//! `cargo fuzz run checkpoint`: see [`shaderprop::fuzzing::checkpoint`] for what it checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shaderprop::fuzzing::checkpoint(data);
});
