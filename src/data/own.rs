//! The user's own data: a folder of images (`images:DIR`) or a CSV file (`csv:FILE`).
//!
//! Both are split the same deterministic way: every tenth sample (the 10th, 20th, …, in
//! file order) validates, the rest train.
//!
//! - **Images**: PNG and JPEG files (any case of `.png`, `.jpg`, `.jpeg`), sorted by path.
//!   When `DIR` holds subfolders, each subfolder is a class (labels 0, 1, … in name order,
//!   as torchvision's `ImageFolder`) and files directly in `DIR` are ignored; otherwise the
//!   files in `DIR` are used, unlabelled. Grey-scale when every image is, else RGB
//!   (3 channels, planar as the conv kernels read them). All images must share one size
//!   unless `--image-size N` resizes them to N × N.
//! - **CSV**: one sample per line, comma-separated numbers; a first line with any
//!   non-numeric field is a header, and a header column named `label` holds integer class
//!   labels (0–255) instead of a feature. Every feature column is standardised to mean 0 and
//!   standard deviation 1 with the *training* rows' statistics (a constant column is only
//!   centred); those statistics are saved in the checkpoint ([`ColumnStats`]) and reused for
//!   any data a trained model later sees. CSV data feeds dense models, with a linear output
//!   and MSE.

use super::{DataError, Dataset, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Options for loading own data.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Resize every image whose size differs to (height, width).
    pub image_size: Option<(usize, usize)>,
    /// Force the channel count (1 or 3), e.g. to match a trained model.
    pub channels: Option<usize>,
    /// Standardise CSV columns with these statistics instead of the training rows'.
    pub stats: Option<ColumnStats>,
    /// Leave out image files that cannot be read or decoded (with a warning) instead of
    /// stopping.
    pub skip_bad: bool,
}

/// Per-column mean and standard deviation of CSV features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

fn own(what: impl Into<String>, detail: impl Into<String>) -> DataError {
    DataError::Own {
        what: what.into(),
        detail: detail.into(),
    }
}

/// Every tenth sample validates.
fn is_val(i: usize) -> bool {
    i % 10 == 9
}

fn split(all: &Dataset, base: &str) -> Result<Split, DataError> {
    if all.n < 2 {
        return Err(own(
            base,
            format!(
                "holds {} sample(s); at least 2 are needed (one to train, one to validate)",
                all.n
            ),
        ));
    }
    // Below 10 samples the last one validates.
    let val_of = |i: usize| {
        if all.n < 10 {
            i == all.n - 1
        } else {
            is_val(i)
        }
    };
    let train: Vec<usize> = (0..all.n).filter(|&i| !val_of(i)).collect();
    let val: Vec<usize> = (0..all.n).filter(|&i| val_of(i)).collect();
    let mut t = all.select(&train);
    let mut v = all.select(&val);
    t.name = format!("{base}/train");
    v.name = format!("{base}/val");
    Ok(Split {
        train: t,
        val: v,
        stats: None,
    })
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        .unwrap_or(false)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| DataError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        v.push(e.path());
    }
    v.sort();
    Ok(v)
}

/// The image files of `dir` with their class labels (see the module docs).
pub fn list_images(dir: &Path) -> Result<Vec<(PathBuf, Option<u8>)>, DataError> {
    if !dir.is_dir() {
        return Err(own(
            dir.display().to_string(),
            "is not a folder: images:DIR needs a folder of PNG/JPEG files",
        ));
    }
    let entries = sorted_entries(dir)?;
    let classes: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let mut files = Vec::new();
    if classes.is_empty() {
        files.extend(
            entries
                .iter()
                .filter(|p| p.is_file() && is_image(p))
                .map(|p| (p.clone(), None)),
        );
    } else {
        if classes.len() > 256 {
            return Err(own(
                dir.display().to_string(),
                format!(
                    "has {} class folders; at most 256 are supported",
                    classes.len()
                ),
            ));
        }
        for (label, class) in classes.iter().enumerate() {
            for p in sorted_entries(class)? {
                if p.is_file() && is_image(&p) {
                    files.push((p, Some(label as u8)));
                }
            }
        }
    }
    if files.is_empty() {
        return Err(own(
            dir.display().to_string(),
            "holds no .png/.jpg/.jpeg files (directly, or one level down in class folders)",
        ));
    }
    Ok(files)
}

/// Reads and decodes one image file; errors name it and what is wrong.
fn decode(path: &Path) -> Result<image::DynamicImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    if bytes.is_empty() {
        return Err(own(
            path.display().to_string(),
            "is empty (0 bytes): remove it or replace it with a valid image",
        ));
    }
    image::load_from_memory(&bytes).map_err(|e| {
        own(
            path.display().to_string(),
            format!("is not a readable PNG/JPEG image ({e})"),
        )
    })
}

/// Decodes `files` into one data set named `name` (sizes, channels: see the module docs).
/// With `skip_bad`, unreadable, empty or undecodable files are left out with a warning.
pub fn images_to_dataset(
    files: &[(PathBuf, Option<u8>)],
    opts: &LoadOptions,
    name: &str,
) -> Result<Dataset, DataError> {
    let mut decoded = Vec::with_capacity(files.len());
    let mut kept = Vec::with_capacity(files.len());
    for (path, label) in files {
        let img = match decode(path) {
            Ok(img) => img,
            Err(e) if opts.skip_bad => {
                eprintln!("warning: skipping {e}");
                continue;
            }
            Err(e) => {
                return Err(match e {
                    DataError::Own { what, detail } => DataError::Own {
                        what,
                        detail: format!("{detail} (or give --skip-bad-files to leave it out)"),
                    },
                    other => other,
                })
            }
        };
        let img = match opts.image_size {
            Some((h, w)) if (img.height() as usize, img.width() as usize) != (h, w) => {
                img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
            }
            _ => img,
        };
        decoded.push(img);
        kept.push((path.clone(), *label));
    }
    if decoded.is_empty() {
        return Err(own(
            name,
            "has no readable image left after skipping the bad files",
        ));
    }
    let files = &kept[..];
    let (w, h) = (decoded[0].width() as usize, decoded[0].height() as usize);
    if let Some((i, img)) = decoded
        .iter()
        .enumerate()
        .find(|(_, im)| (im.width() as usize, im.height() as usize) != (w, h))
    {
        return Err(own(
            files[i].0.display().to_string(),
            format!(
                "is {}×{} but {} is {w}×{h}: give --image-size N to resize every image to N×N",
                img.width(),
                img.height(),
                files[0].0.display()
            ),
        ));
    }
    let channels = opts.channels.unwrap_or_else(|| {
        if decoded.iter().all(|im| im.color().channel_count() <= 2) {
            1
        } else {
            3
        }
    });
    let mut images = Vec::with_capacity(decoded.len() * channels * h * w);
    for img in &decoded {
        if channels == 1 {
            images.extend_from_slice(img.to_luma8().as_raw());
        } else {
            let rgb = img.to_rgb8();
            for c in 0..3 {
                images.extend(rgb.pixels().map(|p| p.0[c]));
            }
        }
    }
    let labels = if files.iter().all(|(_, l)| l.is_some()) {
        Some(files.iter().map(|(_, l)| l.unwrap_or(0)).collect())
    } else {
        None
    };
    Ok(Dataset {
        name: name.to_string(),
        images,
        labels,
        n: decoded.len(),
        channels,
        rows: h,
        cols: w,
        values: None,
    })
}

/// `images:DIR`, split nine to one.
pub fn load_images(dir: &Path, opts: &LoadOptions) -> Result<Split, DataError> {
    let files = list_images(dir)?;
    let base = format!("images:{}", dir.display());
    let all = images_to_dataset(&files, opts, &base)?;
    split(&all, &base)
}

/// `csv:FILE`, split nine to one and standardised (see the module docs).
pub fn load_csv(file: &Path, opts: &LoadOptions) -> Result<Split, DataError> {
    let what = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| DataError::Io {
        path: file.to_path_buf(),
        source: e,
    })?;
    csv_split(&text, &what, opts)
}

/// What [`load_csv`] does after reading the file: parse `text` (named `what` in errors),
/// split it and standardise both sets. The CSV fuzz target (`fuzz/`) drives this.
pub fn csv_split(text: &str, what: &str, opts: &LoadOptions) -> Result<Split, DataError> {
    let all = parse_csv(text, what)?;
    let base = format!("csv:{what}");
    let mut s = split(&all, &base)?;
    let d = all.cols;
    let stats = match &opts.stats {
        Some(st) => {
            if st.mean.len() != d {
                return Err(own(
                    what,
                    format!(
                        "has {d} feature columns but the model was trained on {}",
                        st.mean.len()
                    ),
                ));
            }
            st.clone()
        }
        None => column_stats(s.train.values.as_deref().unwrap_or(&[]), d),
    };
    for set in [&mut s.train, &mut s.val] {
        standardise(set.values.as_mut().expect("CSV sets hold values"), &stats).map_err(
            |(c, x)| {
                own(
                    what,
                    format!(
                        "the value {x:e} in feature column {} (counting the columns that are not the label) lies so many standard deviations of the training rows from their mean that float32 cannot hold it",
                        c + 1
                    ),
                )
            },
        )?;
    }
    s.stats = Some(stats);
    Ok(s)
}

/// Mean and standard deviation of each of the `d` columns of `v` (a constant column gets
/// standard deviation 1, so it is only centred).
pub fn column_stats(v: &[f32], d: usize) -> ColumnStats {
    let n = (v.len() / d.max(1)).max(1) as f64;
    let mut mean = vec![0f64; d];
    for row in v.chunks(d) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64 / n;
        }
    }
    let mut var = vec![0f64; d];
    for row in v.chunks(d) {
        for ((s, &x), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (x as f64 - m).powi(2) / n;
        }
    }
    ColumnStats {
        mean: mean.iter().map(|&m| m as f32).collect(),
        std: var
            .iter()
            .map(|&s| if s > 1e-24 { s.sqrt() as f32 } else { 1.0 })
            .collect(),
    }
}

/// Standardises `v` in place; on a value whose standard score float32 cannot hold, the
/// (0-based) feature column it is in and the value.
fn standardise(v: &mut [f32], st: &ColumnStats) -> Result<(), (usize, f32)> {
    let d = st.mean.len();
    for row in v.chunks_mut(d) {
        for (c, ((x, m), s)) in row.iter_mut().zip(&st.mean).zip(&st.std).enumerate() {
            // In float64: x − mean of two values near ±3.4e38 overflows float32.
            let z = ((*x as f64 - *m as f64) / *s as f64) as f32;
            if !z.is_finite() {
                return Err((c, *x));
            }
            *x = z;
        }
    }
    Ok(())
}

/// Parses CSV text (see the module docs) into an unstandardised set of `values`.
pub fn parse_csv(text: &str, what: &str) -> Result<Dataset, DataError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let fields = |l: &str| -> Vec<String> { l.split(',').map(|f| f.trim().to_string()).collect() };
    let mut label_col = None;
    let mut width = None;
    if let Some((_, first)) = lines.peek() {
        let f = fields(first);
        // A header: no empty field and at least one that is not a number.
        if f.iter().all(|x| !x.is_empty()) && f.iter().any(|x| x.parse::<f64>().is_err()) {
            label_col = f.iter().position(|x| x.eq_ignore_ascii_case("label"));
            width = Some(f.len());
            lines.next();
        }
    }
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut n = 0;
    for (i, line) in lines {
        let f = fields(line);
        let w = *width.get_or_insert(f.len());
        if f.len() != w {
            return Err(own(
                what,
                format!(
                    "line {} has {} fields, but the file's rows have {w}: every row needs the same columns",
                    i + 1,
                    f.len()
                ),
            ));
        }
        for (c, x) in f.iter().enumerate() {
            let v: f64 = x.parse().map_err(|_| {
                own(
                    what,
                    format!("line {}, column {}: `{x}` is not a number", i + 1, c + 1),
                )
            })?;
            if !v.is_finite() {
                return Err(own(
                    what,
                    format!("line {}, column {}: `{x}` is not finite", i + 1, c + 1),
                ));
            }
            // Features are float32 on the GPU: a larger finite number would become infinity
            // there (found by the CSV fuzz target).
            if Some(c) != label_col && !(v as f32).is_finite() {
                return Err(own(
                    what,
                    format!(
                        "line {}, column {}: `{x}` is beyond float32's range (±3.4e38)",
                        i + 1,
                        c + 1
                    ),
                ));
            }
            if Some(c) == label_col {
                if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
                    return Err(own(
                        what,
                        format!(
                            "line {}: label `{x}` is not an integer from 0 to 255",
                            i + 1
                        ),
                    ));
                }
                labels.push(v as u8);
            } else {
                values.push(v as f32);
            }
        }
        n += 1;
    }
    let d = width.unwrap_or(0) - label_col.is_some() as usize;
    if n == 0 || d == 0 {
        return Err(own(what, "holds no data rows with feature columns"));
    }
    Ok(Dataset {
        name: what.to_string(),
        images: Vec::new(),
        labels: label_col.map(|_| labels),
        n,
        channels: 1,
        rows: 1,
        cols: d,
        values: Some(values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_label_column_parses() {
        let d = parse_csv("a,label,b\n1,0,2\n3,1,4.5\n", "t.csv").unwrap();
        assert_eq!((d.n, d.cols), (2, 2));
        assert_eq!(d.values.unwrap(), vec![1.0, 2.0, 3.0, 4.5]);
        assert_eq!(d.labels.unwrap(), vec![0, 1]);
    }

    #[test]
    fn csv_without_header_parses_every_line() {
        let d = parse_csv("1,2\n3,4\n\n5,6\n", "t.csv").unwrap();
        assert_eq!((d.n, d.cols), (3, 2));
        assert!(d.labels.is_none());
    }

    #[test]
    fn csv_errors_name_the_line_and_column() {
        let e = parse_csv("1,2\n3,x\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line 2, column 2"), "{e}");
        let e = parse_csv("1,2\n3\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("line 2 has 1 fields"), "{e}");
        let e = parse_csv("1,nan\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("not finite"), "{e}");
        let e = parse_csv("a,label\n1,2.5\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("label `2.5`"), "{e}");
        assert!(parse_csv("", "t.csv").is_err());
    }

    #[test]
    fn column_stats_standardise_to_zero_mean_unit_std_and_leave_constants_centred() {
        let v = [1.0, 5.0, 3.0, 5.0, 5.0, 5.0];
        let st = column_stats(&v, 2);
        assert_eq!(st.mean, vec![3.0, 5.0]);
        assert!((st.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(st.std[1], 1.0);
        let mut w = v.to_vec();
        standardise(&mut w, &st).unwrap();
        let m: f32 = w.chunks(2).map(|r| r[0]).sum::<f32>() / 3.0;
        assert!(m.abs() < 1e-6);
        assert!(w.chunks(2).all(|r| r[1] == 0.0));
    }

    /// Found by the CSV fuzz target: finite decimals beyond float32, and standard scores
    /// float32 cannot hold, became infinities and NaNs in the training data. (A standard
    /// deviation of float32 values never passes float32's largest: it is at most half
    /// their range.)
    #[test]
    fn csv_values_float32_cannot_hold_are_refused_naming_where() {
        let err = |text: &str| {
            csv_split(text, "t.csv", &LoadOptions::default())
                .expect_err("refused")
                .to_string()
        };
        let e = err("a,b\n1,2\n3,1e39\n");
        assert!(
            e.contains("line 3, column 2") && e.contains("beyond float32"),
            "{e}"
        );
        // Training rows 0, 1e-11, 0 (standard deviation ~5e-12; the last row validates):
        // 3e38 lies ~6e49 of their deviations from their mean.
        let e = err("0\n1e-11\n0\n3e38\n");
        assert!(
            e.contains("feature column 1") && e.contains("standard deviations"),
            "{e}"
        );
        assert!(e.contains("value 3e38"), "the error names the value: {e}");
        // The label column may hold anything parse_csv's label rule allows; 1e39 there is a
        // label error, not a range one.
        let e = err("x,label\n1,1e39\n2,0\n");
        assert!(e.contains("label"), "{e}");
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shaderprop-own-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn images_of_different_sizes_need_image_size_and_grey_ones_load_as_one_channel() {
        let d = scratch("sizes");
        image::GrayImage::from_pixel(4, 3, image::Luma([255]))
            .save(d.join("a.png"))
            .unwrap();
        image::GrayImage::from_pixel(5, 5, image::Luma([0]))
            .save(d.join("b.PNG"))
            .unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let files = list_images(&d).unwrap();
        assert_eq!(files.len(), 2);
        let e = images_to_dataset(&files, &LoadOptions::default(), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.PNG") && e.contains("--image-size"), "{e}");
        let opts = LoadOptions {
            image_size: Some((2, 3)),
            ..Default::default()
        };
        let set = images_to_dataset(&files, &opts, "t").unwrap();
        assert_eq!((set.n, set.channels, set.rows, set.cols), (2, 1, 2, 3));
        assert_eq!(&set.images[..6], &[255; 6]);
        assert!(set.labels.is_none());
        let e = list_images(&d.join("missing")).unwrap_err().to_string();
        assert!(e.contains("is not a folder"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_that_is_not_an_image_is_an_error_naming_it() {
        let d = scratch("bad");
        std::fs::write(d.join("x.jpg"), b"not a jpeg").unwrap();
        let e = load_images(&d, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.jpg") && e.contains("not a readable"), "{e}");
        assert!(e.contains("--skip-bad-files"), "{e}");
        image::GrayImage::from_pixel(2, 2, image::Luma([9]))
            .save(d.join("ok.png"))
            .unwrap();
        std::fs::write(d.join("zero.png"), b"").unwrap();
        let skip = LoadOptions {
            skip_bad: true,
            ..Default::default()
        };
        let files = list_images(&d).unwrap();
        assert_eq!(files.len(), 3);
        let set = images_to_dataset(&files, &skip, "t").unwrap();
        assert_eq!(set.n, 1, "the bad files are left out");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn every_tenth_sample_validates() {
        let d = parse_csv(&(0..25).map(|i| format!("{i}\n")).collect::<String>(), "t").unwrap();
        let s = split(&d, "t").unwrap();
        assert_eq!((s.train.n, s.val.n), (23, 2));
        assert_eq!(s.val.values.unwrap(), vec![9.0, 19.0]);
        let small = parse_csv("1\n2\n3\n", "t").unwrap();
        let s = split(&small, "t").unwrap();
        assert_eq!(
            s.train.values.unwrap(),
            vec![1.0, 2.0],
            "the validation row is not trained on"
        );
        assert_eq!(s.val.values.unwrap(), vec![3.0]);
    }
}
