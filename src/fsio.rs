//! Crash-safe file writing.
//!
//! Checkpoints, metrics and pictures are rewritten many times during a run. Writing them in
//! place means a crash (or Ctrl-C) at the wrong moment leaves a truncated file behind. The
//! classic fix is used here: write the new contents to a temporary file in the *same*
//! directory, make sure they reached the disk, then `rename` it over the target. A rename
//! within one file system is atomic, so readers see either the old file or the new one.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Write `bytes` to `path` so that a crash never leaves a half-written file.
///
/// The bytes go to a temporary file next to `path` (named `.{file_name}.tmp-{pid}`), which
/// is flushed and synced to disk and then renamed over `path`, replacing any existing file.
/// On unix the directory is synced afterwards too, so the rename itself is durable; errors
/// from that last step are ignored because some file systems do not support it.
///
/// On failure the temporary file is removed and the error message names `path`. The
/// temporary name contains only the process id, so two threads of one process must not
/// write the same `path` at the same time.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot write {}: the path has no file name", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    if let Err(err) = write_then_rename(&tmp, path, bytes) {
        // Best effort: the temporary file may not even exist.
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::new(
            err.kind(),
            format!("cannot write {}: {err}", path.display()),
        ));
    }

    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The fallible middle of [`write_atomic`]: fill `tmp`, sync it, rename it to `path`.
fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(bytes)?;
    file.flush()?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh, empty directory for one test (no tempfile crate needed).
    fn scratch_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fsio-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read scratch dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_creates_a_new_file_with_the_bytes() {
        let dir = scratch_dir("create");
        let path = dir.join("out.bin");
        write_atomic(&path, b"hello").expect("write");
        assert_eq!(fs::read(&path).expect("read back"), b"hello");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn write_atomic_replaces_an_existing_file() {
        let dir = scratch_dir("replace");
        let path = dir.join("out.txt");
        fs::write(&path, b"a much longer old content").expect("seed");
        write_atomic(&path, b"new").expect("write");
        assert_eq!(fs::read(&path).expect("read back"), b"new");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn write_atomic_leaves_no_temp_file_behind() {
        let dir = scratch_dir("no-temp");
        let path = dir.join("metrics.json");
        write_atomic(&path, b"{}").expect("first write");
        write_atomic(&path, b"{\"a\":1}").expect("second write");
        assert_eq!(names_in(&dir), vec!["metrics.json".to_string()]);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn write_atomic_errors_name_the_path() {
        let dir = scratch_dir("error");
        let path = dir.join("missing-subdir").join("out.png");
        let err = write_atomic(&path, b"x").expect_err("parent does not exist");
        assert!(err.to_string().contains("out.png"), "{err}");
        assert!(
            names_in(&dir).is_empty(),
            "no temp file left: {:?}",
            names_in(&dir)
        );
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn write_atomic_rejects_a_path_without_a_file_name() {
        let err = write_atomic(Path::new("/"), b"x").expect_err("no file name");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
