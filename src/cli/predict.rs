//! `cxr predict --model model.safetensors IMAGES... --csv out.csv`: a saved model's
//! probabilities for image files, one CSV row per image.
//!
//! Each image goes through the same path as in the page: [`decode_grey`] at the model's input
//! side, then [`predict`] (which calls the one preprocessing function with the model file's
//! [`InputSpec`](crate::train::preprocess::InputSpec)), so a CSV row equals what the page shows.
//! Folders are walked recursively. As in ripgrep, an image that cannot be read or decoded is
//! reported and skipped; it does not stop the run.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::backend::BackendChoice;
use crate::data::disk::walk;
use crate::data::{ImageStore, decode_grey};
use crate::model::pretrained::load_classifier;
use crate::train::predict::{PredictError, predict};

/// Images decoded and held at once: bounds memory on large folders (256 images at 512² are
/// 64 MiB of `u8`) while keeping batches full.
const CHUNK: usize = 256;

/// Extensions picked up when walking a folder (files named on the command line are always
/// tried). DICOMs often have no extension, so files without one are tried as well.
const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "dcm", "dicom"];

/// The usage line printed on a wrong command line.
pub const USAGE: &str = "cxr predict --model MODEL.safetensors|XRV.pt [--batch-size N] [--backend cpu|wgpu] --csv OUT.csv IMAGE_OR_FOLDER...";

/// `cxr predict`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PredictArgs {
    /// The CXR Lab model file (saved by the page or by [`crate::model::file::save_model`]), or
    /// torchxrayvision DenseNet weights.
    pub model: PathBuf,
    /// Image files and folders (walked recursively).
    pub inputs: Vec<PathBuf>,
    /// Where the CSV goes (overwritten).
    pub csv: PathBuf,
    /// Images per forward pass. Default: 16.
    pub batch_size: usize,
    /// Where the forward passes run: the CPU (default) or the GPU through wgpu. The device is
    /// made by the caller ([`crate::backend::native_device`]), which passes it to [`run`].
    pub backend: BackendChoice,
}

impl PredictArgs {
    /// Parses the arguments after `predict`; `--` ends the options.
    ///
    /// # Errors
    /// [`PredictCliError::Usage`] naming what is missing or wrong.
    pub fn parse(args: &[String]) -> Result<Self, PredictCliError> {
        let usage = |why: String| PredictCliError::Usage(format!("{why}\nusage: {USAGE}"));
        let (mut model, mut csv, mut batch_size) = (None, None, 16usize);
        let mut backend = BackendChoice::Cpu;
        let mut inputs = Vec::new();
        let mut it = args.iter();
        let mut options_done = false;
        while let Some(arg) = it.next() {
            if options_done || !arg.starts_with("--") {
                inputs.push(PathBuf::from(arg));
                continue;
            }
            if arg == "--" {
                options_done = true;
                continue;
            }
            let mut value = || {
                it.next()
                    .ok_or_else(|| usage(format!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--model" => model = Some(PathBuf::from(value()?)),
                "--csv" => csv = Some(PathBuf::from(value()?)),
                "--batch-size" => {
                    let text = value()?;
                    batch_size = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        usage(format!("--batch-size {text}: not a positive count"))
                    })?;
                }
                "--backend" => backend = BackendChoice::parse(value()?).map_err(usage)?,
                other => return Err(usage(format!("unknown option {other}"))),
            }
        }
        let model = model.ok_or_else(|| usage("--model is required".to_owned()))?;
        let csv = csv.ok_or_else(|| usage("--csv is required".to_owned()))?;
        if inputs.is_empty() {
            return Err(usage("no images or folders given".to_owned()));
        }
        Ok(PredictArgs {
            model,
            inputs,
            csv,
            batch_size,
            backend,
        })
    }
}

/// Why `cxr predict` stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredictCliError {
    /// A wrong command line; the message ends with the usage line.
    #[error("{0}")]
    Usage(String),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The model file could not be loaded.
    #[error("{}: {why}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// Why, as a sentence.
        why: String,
    },
    /// The inputs hold no image files.
    #[error("no image files (.png, .jpg, .jpeg, .dcm) among the inputs")]
    NoImages,
    /// The forward pass failed.
    #[error(transparent)]
    Predict(#[from] PredictError),
}

/// An image left out of the CSV, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// The reason, for people.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct PredictReport {
    /// Rows written (one per image predicted).
    pub predicted: usize,
    /// Images that could not be read or decoded.
    pub skipped: Vec<Skipped>,
}

/// Progress after each chunk of images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Images handled so far, predicted or skipped.
    pub done: usize,
    /// Images in all.
    pub total: usize,
}

/// The image files among `inputs`: files as given, folders walked recursively in name order
/// (so the CSV's order does not depend on the file system), keeping [`IMAGE_EXTENSIONS`] and
/// extensionless files and leaving out hidden ones (`.DS_Store`). Symbolic links to folders are
/// not followed, so a link loop cannot hang the walk.
///
/// # Errors
/// [`PredictCliError::Io`] for an input or folder that cannot be read.
pub fn image_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, PredictCliError> {
    let mut paths = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|source| PredictCliError::Io {
            path: input.clone(),
            source,
        })?;
        if meta.is_dir() {
            let found = walk(input).map_err(|source| PredictCliError::Io {
                path: input.clone(),
                source,
            })?;
            paths.extend(found.into_iter().filter(|path| {
                let hidden = path
                    .strip_prefix(input)
                    .unwrap_or(path)
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
                !hidden && looks_like_image(path)
            }));
        } else {
            paths.push(input.clone());
        }
    }
    Ok(paths)
}

fn looks_like_image(path: &Path) -> bool {
    match path.extension() {
        None => true,
        Some(ext) => {
            let ext = ext.to_string_lossy().to_ascii_lowercase();
            IMAGE_EXTENSIONS.contains(&ext.as_str())
        }
    }
}

/// Runs `cxr predict`: loads the model on `device`, predicts every image found in
/// `args.inputs`, and writes `path,<finding>,…` with one row of probabilities per image to
/// `args.csv`. `progress` is called after each chunk of [`CHUNK`] images.
///
/// `device` should be a plain (non-autodiff) device, where BatchNorm uses its running statistics.
///
/// # Errors
/// [`PredictCliError`] when the model, an input folder or the CSV cannot be used, or when no
/// image is found; single unreadable images are [`PredictReport::skipped`] instead.
pub fn run(
    args: &PredictArgs,
    device: &Device,
    mut progress: impl FnMut(Progress),
) -> Result<PredictReport, PredictCliError> {
    let bytes = fs::read(&args.model).map_err(|source| PredictCliError::Io {
        path: args.model.clone(),
        source,
    })?;
    // A CXR Lab model file, or weights that name their findings (torchxrayvision's).
    let (model, meta) = load_classifier(&bytes, device).map_err(|why| PredictCliError::Model {
        path: args.model.clone(),
        why,
    })?;
    drop(bytes);
    let paths = image_paths(&args.inputs)?;
    if paths.is_empty() {
        return Err(PredictCliError::NoImages);
    }

    let csv_error = |source| PredictCliError::Io {
        path: args.csv.clone(),
        source,
    };
    let mut out = BufWriter::new(fs::File::create(&args.csv).map_err(csv_error)?);
    let mut header = String::from("path");
    for output in &meta.outputs {
        header.push(',');
        header.push_str(output.name());
    }
    writeln!(out, "{header}").map_err(csv_error)?;

    let mut report = PredictReport::default();
    let side = meta.input.side;
    let mut done = 0;
    for chunk in paths.chunks(CHUNK) {
        let mut store = ImageStore::new(side);
        store.reserve(chunk.len());
        for path in chunk {
            let name = path.display().to_string();
            let decoded = fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode_grey(&name, &bytes, side).map_err(|e| e.to_string()));
            match decoded {
                Ok(image) => {
                    store.push(name, &image);
                }
                Err(reason) => report.skipped.push(Skipped {
                    path: path.clone(),
                    reason,
                }),
            }
        }
        let indices: Vec<usize> = (0..store.len()).collect();
        let probabilities = pollster::block_on(predict(
            &model,
            &store,
            &indices,
            &meta.input,
            args.batch_size,
            device,
        ))?;
        let classes = meta.outputs.len().max(1);
        for (name, row) in store.names().iter().zip(probabilities.chunks(classes)) {
            writeln!(out, "{}", csv_row(name, row)).map_err(csv_error)?;
            report.predicted += 1;
        }
        done += chunk.len();
        progress(Progress {
            done,
            total: paths.len(),
        });
    }
    out.flush().map_err(csv_error)?;
    Ok(report)
}

/// One CSV line: the quoted path, then each probability in the shortest form that reads back
/// to the same `f32` (Rust's `Display`), so nothing is lost to rounding.
fn csv_row(path: &str, probabilities: &[f32]) -> String {
    let mut line = csv_field(path);
    for p in probabilities {
        // Writing to a String cannot fail.
        let _ = write!(line, ",{p}");
    }
    line
}

/// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use crate::data::{Finding, Output};
    use crate::model::densenet::DenseNetConfig;
    use crate::model::file::{ModelMeta, save_model};
    use crate::model::import::load_torchvision_safetensors;
    use crate::train::preprocess::{InputSpec, Normalization};

    const GRAY_WEIGHTS: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/gray.weights.safetensors");
    const NORMAL: &[u8] = include_bytes!("../../tests/fixtures/images/0_normal/00000002_000.png");
    const ABNORMAL: &[u8] =
        include_bytes!("../../tests/fixtures/images/1_abnormal/00000001_000.png");

    /// A fresh folder under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("cxr-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("temp dir");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The CSV split into fields (the test paths need no quoting).
    fn read_csv(path: &Path) -> Vec<Vec<String>> {
        fs::read_to_string(path)
            .expect("csv written")
            .lines()
            .map(|line| line.split(',').map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn predict_writes_one_row_per_image_equal_to_a_direct_prediction() {
        let dir = TempDir::new("predict");
        let device = cpu_device();
        // The tiny torchvision fixture (random weights and BatchNorm statistics) as a model
        // file, with findings in a non-NIH order to check the header follows the file.
        let config = DenseNetConfig::new(3)
            .with_growth_rate(4)
            .with_block_config(vec![2, 2])
            .with_num_init_features(8)
            .with_bn_size(2);
        let model = load_torchvision_safetensors(config.init(&device), GRAY_WEIGHTS)
            .expect("fixture loads");
        let findings = vec![Finding::Hernia, Finding::Effusion, Finding::Atelectasis];
        let input = InputSpec {
            side: 32,
            channels: 1,
            normalization: Normalization::Samplewise,
        };
        let meta = ModelMeta::new(config, Output::findings(&findings), input);
        let bytes = pollster::block_on(save_model(&model, &meta)).expect("saves");
        let model_path = dir.0.join("model.safetensors");
        fs::write(&model_path, bytes).expect("write model");

        let images = dir.0.join("images");
        fs::create_dir_all(images.join("nested")).expect("mkdir");
        let first = images.join("a.png");
        let second = images.join("nested").join("b.png");
        fs::write(&first, NORMAL).expect("write png");
        fs::write(&second, ABNORMAL).expect("write png");
        // Not picked up by the walk (extension), and skipped with a reason (not a PNG).
        fs::write(images.join("notes.txt"), "not an image").expect("write txt");
        let broken = images.join("broken.png");
        fs::write(&broken, b"\x89PNG\r\n\x1a\n truncated").expect("write broken");

        let csv = dir.0.join("out.csv");
        let args = PredictArgs::parse(&strings(&[
            "--model",
            &model_path.display().to_string(),
            &images.display().to_string(),
            "--csv",
            &csv.display().to_string(),
            "--batch-size",
            "2",
        ]))
        .expect("valid command line");
        let mut progress = Vec::new();
        let report = run(&args, &device, |p| progress.push(p)).expect("runs");
        assert_eq!(report.predicted, 2);
        assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
        assert_eq!(report.skipped[0].path, broken);
        assert_eq!(progress, vec![Progress { done: 3, total: 3 }]);

        // What the page computes for the same files: decode, then `predict`.
        let mut store = ImageStore::new(input.side);
        for path in [&first, &second] {
            let name = path.display().to_string();
            let image = decode_grey(&name, &fs::read(path).expect("read"), input.side)
                .expect("fixture decodes");
            store.push(name, &image);
        }
        let expected = pollster::block_on(predict(&model, &store, &[0, 1], &input, 2, &device))
            .expect("predicts");

        let rows = read_csv(&csv);
        assert_eq!(
            rows[0],
            ["path", "Hernia", "Effusion", "Atelectasis"].map(str::to_owned)
        );
        assert_eq!(rows.len(), 3, "{rows:?}");
        // Name order: `a.png` before the `nested` folder.
        for (row, (path, expected)) in rows[1..]
            .iter()
            .zip([&first, &second].iter().zip(expected.chunks(3)))
        {
            assert_eq!(row[0], path.display().to_string());
            let got: Vec<f32> = row[1..]
                .iter()
                .map(|v| v.parse().expect("a number"))
                .collect();
            assert!(got.iter().all(|p| *p > 0.0 && *p < 1.0), "{got:?}");
            let bits = |v: &[f32]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(expected), "{}", row[0]);
        }
    }

    #[test]
    fn a_torchvision_weights_file_is_refused_as_a_model() {
        let dir = TempDir::new("predict-torchvision");
        let weights = dir.0.join("densenet.safetensors");
        fs::write(&weights, GRAY_WEIGHTS).expect("write");
        let image = dir.0.join("a.png");
        fs::write(&image, NORMAL).expect("write png");
        let args = PredictArgs {
            model: weights,
            inputs: vec![image],
            csv: dir.0.join("out.csv"),
            batch_size: 4,
            backend: BackendChoice::Cpu,
        };
        let error = run(&args, &cpu_device(), |_| {}).expect_err("weights only");
        assert!(matches!(error, PredictCliError::Model { .. }), "{error:?}");
        assert!(error.to_string().contains("initial weights"), "{error}");
    }

    #[test]
    fn command_lines_are_parsed_and_checked() {
        let args = PredictArgs::parse(&strings(&[
            "x.png",
            "--model",
            "m.st",
            "--csv",
            "o.csv",
            "--",
            "--odd.png",
        ]))
        .expect("valid");
        assert_eq!(
            args,
            PredictArgs {
                model: "m.st".into(),
                inputs: vec!["x.png".into(), "--odd.png".into()],
                csv: "o.csv".into(),
                batch_size: 16,
                backend: BackendChoice::Cpu,
            }
        );
        let on_gpu = PredictArgs::parse(&strings(&[
            "--model",
            "m",
            "--csv",
            "o",
            "--backend",
            "wgpu",
            "x.png",
        ]))
        .expect("valid");
        assert_eq!(on_gpu.backend, BackendChoice::Wgpu);
        for bad in [
            &["--model", "m", "x.png"][..],
            &["--csv", "o", "x.png"],
            &["--model", "m", "--csv", "o"],
            &["--model", "m", "--csv", "o", "--batch-size", "0", "x.png"],
            &["--model", "m", "--csv", "o", "--wat", "x.png"],
            &["--model", "m", "--csv", "o", "--backend", "tpu", "x.png"],
            &["--model"],
        ] {
            let result = PredictArgs::parse(&strings(bad));
            assert!(
                matches!(&result, Err(PredictCliError::Usage(m)) if m.contains("usage:")),
                "{bad:?}: {result:?}"
            );
        }
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a/b.png"), "a/b.png");
        assert_eq!(csv_field("a,b.png"), "\"a,b.png\"");
        assert_eq!(csv_field("say \"hi\".png"), "\"say \"\"hi\"\".png\"");
        assert_eq!(csv_row("x", &[0.25, 1e-8]), "x,0.25,0.00000001");
    }
}
