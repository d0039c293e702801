//! Mutation tests of the three parsers that read files from outside: the IDX reader, the CSV
//! reader and the checkpoint loader. Each gets valid seed inputs mutated at random (bytes
//! flipped, set to 0x00/0xff, inserted, deleted, slices duplicated, truncated, extended) and
//! must return Ok or a non-empty error — never panic, hang or allocate without bound.
//!
//! A cheap stand-in for the `cargo fuzz` targets in `fuzz/` (README "Fuzzing") that runs in
//! every `cargo test`, with the same contract: `SHADERPROP_MUTATIONS=N` sets the inputs per
//! parser (default 3,000).

use shaderprop::rng::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};

fn mutations() -> usize {
    std::env::var("SHADERPROP_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = if v.is_empty() { 0 } else { rng.below(v.len()) };
        match rng.below(7) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => v.insert(at, rng.below(256) as u8),
            3 if !v.is_empty() => {
                v.remove(at);
            }
            4 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                let slice = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, slice);
            }
            5 => v.truncate(at),
            _ => v.extend((0..rng.below(32)).map(|_| rng.below(256) as u8)),
        }
    }
    v
}

/// Runs `parse` on mutations of every seed; a panic fails with the input that caused it.
fn check(name: &str, seeds: &[Vec<u8>], parse: &dyn Fn(&[u8]) -> Result<(), String>) {
    let mut rng = Rng::new(0x5eed_f022);
    let (mut ok, mut err) = (0, 0);
    for i in 0..mutations() {
        let input = mutate(&mut rng, &seeds[i % seeds.len()]);
        match catch_unwind(AssertUnwindSafe(|| parse(&input))) {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                assert!(!e.trim().is_empty(), "{name}: an empty error for {input:?}");
                err += 1;
            }
            Err(_) => panic!("{name} panicked on input {i}: {input:?}"),
        }
    }
    eprintln!("{name}: {} inputs, {ok} parsed, {err} refused", ok + err);
    assert!(
        err > 0,
        "{name}: no mutation was refused: the mutator is broken"
    );
}

fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn the_idx_reader_refuses_mutated_files_without_panicking() {
    let images = idx(&[3, 4, 5], &(0..60).collect::<Vec<u8>>());
    let labels = idx(&[3], &[1, 2, 3]);
    let seeds = vec![gzip(&images), gzip(&labels), images, labels];
    check("idx", &seeds, &|b| {
        shaderprop::data::idx::parse_idx(b, "mutated.idx")
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn the_csv_reader_refuses_mutated_files_without_panicking() {
    let seeds = vec![
        b"a,b,label\n1.5,-2,0\n3e2,4,1\n5,6.25,2\n".to_vec(),
        b"1,2,3\n4,5,6\n".to_vec(),
    ];
    check("csv", &seeds, &|b| {
        shaderprop::data::own::parse_csv(&String::from_utf8_lossy(b), "mutated.csv")
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn the_checkpoint_loader_refuses_mutated_files_without_panicking() {
    let dir = std::env::temp_dir().join(format!("shaderprop-mutation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.safetensors");
    let mut tensors = std::collections::HashMap::new();
    tensors.insert(
        "encoder.0.bias".to_string(),
        shaderprop::checkpoint::Tensor {
            shape: vec![4],
            data: vec![0.5, -1.0, 2.0, 0.0],
        },
    );
    let ck = shaderprop::checkpoint::Checkpoint {
        config: shaderprop::models::ModelConfig::dense_reference(),
        tensors,
        epoch: 1,
        step: 10,
        epoch_step: 0,
        epoch_loss_sum: 0.0,
    };
    shaderprop::checkpoint::save(&path, &ck).unwrap();
    let seeds = vec![std::fs::read(&path).unwrap()];
    let _ = std::fs::remove_dir_all(&dir);
    check("checkpoint", &seeds, &|b| {
        shaderprop::checkpoint::parse(b, std::path::Path::new("mutated.safetensors"))
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    });
}
