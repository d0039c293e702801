//! The `cargo fuzz` targets' inputs kept in the repository, run through exactly what the
//! fuzzer runs ([`shaderprop::fuzzing`]): every seed (`fuzz/seeds/TARGET/`) is a valid file
//! the parser accepts, and every input that once broke a target (`fuzz/regressions/TARGET/`)
//! is now refused with a message, without a panic; where `NAME.expect` sits beside it, the
//! message contains that text (so the input keeps testing the check it once slipped past).

use std::path::Path;

type Target = fn(&[u8]) -> Result<(), String>;

const TARGETS: [(&str, Target); 3] = [
    ("idx", shaderprop::fuzzing::idx),
    ("csv", shaderprop::fuzzing::csv),
    ("checkpoint", shaderprop::fuzzing::checkpoint),
];

/// The files of `fuzz/DIR/TARGET`, sorted (none when the folder does not exist).
fn inputs(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut v: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "expect"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_fuzz_seed_is_a_file_its_parser_accepts() {
    for (target, check) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(seeds.len() >= 2, "{target}: the seed corpus is missing");
        for (name, bytes) in seeds {
            if let Err(e) = check(&bytes) {
                panic!("{name}: a seed is refused: {e}");
            }
        }
    }
}

#[test]
fn every_input_that_once_broke_a_fuzz_target_is_refused_with_a_message() {
    let mut found = 0;
    for (target, check) in TARGETS {
        for (name, bytes) in inputs("regressions", target) {
            match check(&bytes) {
                Ok(()) => panic!("{name}: accepted, but it once broke the {target} target"),
                Err(e) => {
                    assert!(!e.trim().is_empty(), "{name}: an empty error");
                    if let Ok(want) = std::fs::read_to_string(format!("{name}.expect")) {
                        assert!(
                            e.contains(want.trim()),
                            "{name}: `{e}` lacks `{}`",
                            want.trim()
                        );
                    }
                }
            }
            found += 1;
        }
    }
    // The CSV target's finding (a decimal beyond float32) and a checkpoint whose data
    // statistics hold a zero deviation (found in review, against the checkpoint check).
    assert!(found >= 2, "fuzz/regressions lost its inputs");
}
