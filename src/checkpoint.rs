//! Checkpoints as safetensors (readable from PyTorch with `safetensors.torch.load_file`):
//! every parameter as float32 under its graph name, plus metadata — the model config as
//! JSON, the crate version, the format version and training progress. Written to a
//! temporary file and renamed, so a crash never leaves a broken one.

use crate::models::ModelConfig;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// Version of the checkpoint layout; a newer one is refused with a clear error.
pub const FORMAT_VERSION: u32 = 1;

/// A named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What a checkpoint holds.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub config: ModelConfig,
    pub tensors: HashMap<String, Tensor>,
    /// Epochs completed and optimizer steps taken.
    pub epoch: usize,
    pub step: u64,
    /// Steps already taken of the next epoch when training was interrupted (0: the
    /// checkpoint sits at an epoch's end), and that epoch's training-loss sum so far, so
    /// `--resume` continues mid-epoch exactly.
    pub epoch_step: usize,
    pub epoch_loss_sum: f32,
}

/// Writes `ck` to `path` atomically.
pub fn save(path: &Path, ck: &Checkpoint) -> Result<()> {
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "shaderprop".to_string());
    meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    meta.insert(
        "crate_version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    meta.insert("model".to_string(), serde_json::to_string(&ck.config)?);
    meta.insert("model_kind".to_string(), ck.config.kind.name().to_string());
    meta.insert("epoch".to_string(), ck.epoch.to_string());
    meta.insert("step".to_string(), ck.step.to_string());
    meta.insert("epoch_step".to_string(), ck.epoch_step.to_string());
    // Bit pattern: the resumed epoch's loss must continue from exactly this f32.
    meta.insert(
        "epoch_loss_sum_bits".to_string(),
        ck.epoch_loss_sum.to_bits().to_string(),
    );
    let mut names: Vec<&String> = ck.tensors.keys().collect();
    names.sort();
    let views = names
        .iter()
        .map(|n| {
            let t = &ck.tensors[*n];
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                t.shape.clone(),
                bytemuck::cast_slice(&t.data),
            )
            .map(|v| (n.to_string(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{e:?}"))?;
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| anyhow!("{e:?}"))?;
    crate::fsio::write_atomic(path, &bytes)
        .with_context(|| format!("writing checkpoint {}", path.display()))
}

/// Reads a checkpoint, checking its format and version.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
    parse(&bytes, path)
}

/// Parses a checkpoint's bytes (`path` names it in errors): the loader without the file
/// system, for tests that feed it damaged bytes.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| {
        anyhow!(
            "{} is not a safetensors checkpoint ({e:?}); it may be truncated",
            path.display()
        )
    })?;
    let (_, header) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| anyhow!("{e:?}"))?;
    let meta = header.metadata().clone().ok_or_else(|| {
        anyhow!(
            "{} has no shaderprop metadata: not a shaderprop checkpoint",
            path.display()
        )
    })?;
    let version: u32 = meta
        .get("format_version")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if meta.get("format").map(String::as_str) != Some("shaderprop") {
        bail!("{} is not a shaderprop checkpoint", path.display());
    }
    if version > FORMAT_VERSION {
        bail!(
            "{} has checkpoint format {version}, newer than this shaderprop reads ({FORMAT_VERSION}): upgrade shaderprop",
            path.display()
        );
    }
    let config: ModelConfig =
        serde_json::from_str(meta.get("model").map(String::as_str).unwrap_or(""))
            .with_context(|| format!("{}: model metadata unreadable", path.display()))?;
    if let Some(st) = &config.data_stats {
        // What CSV data is standardised with: one finite mean and one finite, positive
        // standard deviation per input column (found missing by review of the fuzz checks).
        let ok = st.mean.len() == config.input_dim
            && st.std.len() == config.input_dim
            && st.mean.iter().all(|m| m.is_finite())
            && st.std.iter().all(|s| s.is_finite() && *s > 0.0);
        if !ok {
            bail!(
                "{}: the data statistics in its model metadata are damaged (need {} finite means and {} finite, positive standard deviations)",
                path.display(),
                config.input_dim,
                config.input_dim
            );
        }
    }
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            bail!(
                "{}: tensor {name} is {:?}, expected F32",
                path.display(),
                view.dtype()
            );
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(Checkpoint {
        config,
        tensors,
        epoch: meta.get("epoch").and_then(|v| v.parse().ok()).unwrap_or(0),
        step: meta.get("step").and_then(|v| v.parse().ok()).unwrap_or(0),
        epoch_step: meta
            .get("epoch_step")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        epoch_loss_sum: f32::from_bits(
            meta.get("epoch_loss_sum_bits")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
    })
}
