//! `cxr train`: one training run from a folder of images to a model file and a JSON report.
//!
//! The run goes through the same pieces as the page: [`load_dataset`] (the page's ingest),
//! [`split_examples`] (by patient, seeded), the step-driven [`Trainer`] with a
//! [`SpecAugmenter`], then [`predict`] and [`evaluate`] (bootstrap intervals) on the test split.
//! The pieces shared with `cxr compare` ([`RunOptions`], [`Prepared`], [`train_level`]) live
//! here so that both commands train and evaluate a level in exactly the same way.
//!
//! `--backend cpu` (the default) trains on burn's `flex`; `--backend wgpu` on the GPU through
//! wgpu ([`wgpu_device`](crate::backend::wgpu_device): Vulkan, Metal, DX12, or Mesa's lavapipe
//! on a machine without a GPU), with the batch lowered to what the adapter's buffers hold, as
//! in the page. The report's `backend` names the path and the adapter.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::augment::AugmentSpec;
use crate::backend::{BackendChoice, BackendInfo, GpuError, native_device};
use crate::data::disk::load_dataset;
use crate::data::{Dataset, Finding, Output, SplitConfig};
use crate::metrics::{BootstrapConfig, evaluate};
use crate::model::densenet::{DenseNet, DenseNetConfig};
use crate::model::file::{ModelFileError, ModelMeta, save_model};
use crate::model::init::seeded_on;
use crate::model::pretrained::Pretrained;
use crate::train::augmenter::{SpecAugmenter, augmenter_for};
use crate::train::config::TrainConfig;
use crate::train::examples::{SplitExamples, split_examples};
use crate::train::memory::cap_batch;
use crate::train::predict::{PredictError, predict};
use crate::train::preprocess::{InputSpec, Normalization};
use crate::train::trainer::{EpochRecord, Event, Finish, TrainError, Trainer};

/// The usage text of `cxr train`.
pub const USAGE: &str = "cxr train --images DIR [--labels CSV] [--size N] \
[--aug none|basic|complex|SPEC.json] [--epochs N] [--batch N] [--lr X] [--backend cpu|wgpu] \
[--weights FILE.pth|.pt|.safetensors] [--out MODEL.safetensors] [--report REPORT.json] \
[--outputs findings|abnormal] [--split 0.7,0.1,0.2] [--seed S] [--model densenet121|small]";

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelKind {
    /// torchvision's DenseNet121 (the article's model).
    DenseNet121,
    /// Growth 8, blocks (2, 2, 2), 16 stem maps, bottleneck 2: trains in seconds on a CPU, for
    /// trying the pipeline and for tests.
    Small,
}

impl ModelKind {
    /// The architecture with `classes` outputs and `channels` input channels.
    #[must_use]
    pub fn config(self, classes: usize, channels: usize) -> DenseNetConfig {
        match self {
            ModelKind::DenseNet121 => DenseNetConfig::densenet121(classes, channels),
            ModelKind::Small => DenseNetConfig::new(classes)
                .with_in_channels(channels)
                .with_growth_rate(8)
                .with_block_config(vec![2, 2, 2])
                .with_num_init_features(16)
                .with_bn_size(2),
        }
    }
}

/// What the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputsKind {
    /// The 14 NIH findings (the article's task; needs a label CSV).
    Findings,
    /// One output, abnormal vs normal (what folder-per-class sets can teach).
    Abnormal,
}

impl OutputsKind {
    /// The model's outputs.
    #[must_use]
    pub fn outputs(self) -> Vec<Output> {
        match self {
            OutputsKind::Findings => Output::findings(&Finding::ALL),
            OutputsKind::Abnormal => vec![Output::Abnormal],
        }
    }
}

/// The options `cxr train` and `cxr compare` share: the data, the model and the budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// The image folder (walked recursively; a label CSV inside it is picked up).
    pub images: PathBuf,
    /// A label CSV outside the folder.
    pub labels: Option<PathBuf>,
    /// Input side in pixels. Default 224.
    pub size: u32,
    /// Epochs (the budget; no early stopping, so every level gets the same). Default 5.
    pub epochs: usize,
    /// Images per step. Default 16.
    pub batch: usize,
    /// Adam's learning rate. Default 1e-3.
    pub lr: f64,
    /// Pretrained DenseNet weights to start from (torchvision, torchxrayvision: `.pth`, `.pt`,
    /// `.safetensors`).
    pub weights: Option<PathBuf>,
    /// What the model predicts. Default findings.
    pub outputs: OutputsKind,
    /// Train, validation and test shares, by patient. Default 0.7, 0.1, 0.2 (NIH paper).
    pub split: [f64; 3],
    /// Seed of the split, the weights, the batch order, the augmentation and the bootstrap.
    pub seed: u64,
    /// Which network. Default DenseNet121.
    pub model: ModelKind,
    /// Where it runs: the CPU (default) or the GPU through wgpu.
    #[serde(default)]
    pub backend: BackendChoice,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            images: PathBuf::new(),
            labels: None,
            size: 224,
            epochs: 5,
            batch: 16,
            lr: 1e-3,
            weights: None,
            outputs: OutputsKind::Findings,
            split: [0.7, 0.1, 0.2],
            seed: 0,
            model: ModelKind::DenseNet121,
            backend: BackendChoice::Cpu,
        }
    }
}

impl RunOptions {
    /// Takes `flag` (with its value from `value`) if it is a shared option; `Ok(false)` if it
    /// is not one, for the command to try its own.
    ///
    /// # Errors
    /// A sentence naming the flag and what it expects.
    pub fn take(
        &mut self,
        flag: &str,
        value: &mut dyn FnMut() -> Result<String, String>,
    ) -> Result<bool, String> {
        fn number<T: std::str::FromStr>(flag: &str, text: &str, what: &str) -> Result<T, String> {
            text.parse()
                .map_err(|_| format!("{flag} {text}: not {what}"))
        }
        match flag {
            "--images" => self.images = PathBuf::from(value()?),
            "--labels" => self.labels = Some(PathBuf::from(value()?)),
            "--weights" => self.weights = Some(PathBuf::from(value()?)),
            "--size" => {
                let text = value()?;
                self.size = number(flag, &text, "a side in pixels")?;
            }
            "--epochs" => {
                let text = value()?;
                self.epochs = number(flag, &text, "a count")?;
            }
            "--batch" => {
                let text = value()?;
                self.batch = number(flag, &text, "a count")?;
            }
            "--lr" => {
                let text = value()?;
                self.lr = number(flag, &text, "a number")?;
            }
            "--seed" => {
                let text = value()?;
                self.seed = number(flag, &text, "a whole number")?;
            }
            "--backend" => self.backend = BackendChoice::parse(&value()?)?,
            "--outputs" => {
                let text = value()?;
                self.outputs = match text.as_str() {
                    "findings" => OutputsKind::Findings,
                    "abnormal" => OutputsKind::Abnormal,
                    other => {
                        return Err(format!("--outputs {other}: expected findings or abnormal"));
                    }
                };
            }
            "--model" => {
                let text = value()?;
                self.model = match text.as_str() {
                    "densenet121" => ModelKind::DenseNet121,
                    "small" => ModelKind::Small,
                    other => return Err(format!("--model {other}: expected densenet121 or small")),
                };
            }
            "--split" => {
                let text = value()?;
                let shares: Vec<f64> = text
                    .split(',')
                    .map(|s| s.trim().parse::<f64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        format!("--split {text}: expected three shares like 0.7,0.1,0.2")
                    })?;
                let [train, validation, test] = shares[..] else {
                    return Err(format!(
                        "--split {text}: expected three shares like 0.7,0.1,0.2"
                    ));
                };
                self.split = [train, validation, test];
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks what parsing alone cannot.
    ///
    /// # Errors
    /// A sentence naming the option.
    pub fn check(&self) -> Result<(), String> {
        if self.images.as_os_str().is_empty() {
            return Err("--images is required".to_owned());
        }
        if self.epochs == 0 || self.batch == 0 {
            return Err("--epochs and --batch must be at least 1".to_owned());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("--lr {}: expected a positive number", self.lr));
        }
        // The stem divides the side by 4 and each transition by 2 (3 transitions in DenseNet121,
        // 2 in the small one), so smaller inputs leave nothing to pool.
        let minimum = match self.model {
            ModelKind::DenseNet121 => 32,
            ModelKind::Small => 16,
        };
        if self.size < minimum {
            return Err(format!(
                "--size {}: this model needs at least {minimum} pixels",
                self.size
            ));
        }
        if self.split.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(format!(
                "--split {:?}: shares must be 0 or more",
                self.split
            ));
        }
        Ok(())
    }

    fn split_config(&self) -> SplitConfig {
        SplitConfig {
            seed: self.seed,
            train: self.split[0],
            validation: self.split[1],
            test: self.split[2],
        }
    }
}

/// `cxr train`'s arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainArgs {
    /// Data, model and budget.
    pub run: RunOptions,
    /// `none`, `basic`, `complex` or a spec JSON file. Default `none`.
    pub aug: String,
    /// Where the best model goes; not saved when absent.
    pub out: Option<PathBuf>,
    /// Where the JSON report goes; not written when absent.
    pub report: Option<PathBuf>,
}

impl TrainArgs {
    /// Parses the arguments after `train`.
    ///
    /// # Errors
    /// [`TrainCliError::Usage`], ending with the usage line.
    pub fn parse(args: &[String]) -> Result<Self, TrainCliError> {
        let usage = |why: String| TrainCliError::Usage(format!("{why}\nusage: {USAGE}"));
        let mut parsed = TrainArgs {
            run: RunOptions::default(),
            aug: "none".to_owned(),
            out: None,
            report: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            if parsed.run.take(flag, &mut value).map_err(usage)? {
                continue;
            }
            match flag.as_str() {
                "--aug" => parsed.aug = value().map_err(usage)?,
                "--out" => parsed.out = Some(PathBuf::from(value().map_err(usage)?)),
                "--report" => parsed.report = Some(PathBuf::from(value().map_err(usage)?)),
                other => return Err(usage(format!("unknown option {other}"))),
            }
        }
        parsed.run.check().map_err(usage)?;
        Ok(parsed)
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainCliError {
    /// A wrong command line; the message ends with the usage line.
    #[error("{0}")]
    Usage(String),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// An augmentation spec file that is not a valid spec.
    #[error("{}: {why}", path.display())]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The data cannot be trained on (no labels, an impossible split, an empty side).
    #[error("{0}")]
    Data(String),
    /// The weights file cannot be used (not a DenseNet, damaged, tensors that do not fit).
    #[error("{}: {why}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Why, as a sentence.
        why: String,
    },
    /// Training failed.
    #[error("training failed: {0}")]
    Train(#[from] TrainError),
    /// The test predictions failed.
    #[error("evaluation failed: {0}")]
    Predict(#[from] PredictError),
    /// The model file could not be made.
    #[error("could not save the model: {0}")]
    Model(#[from] ModelFileError),
    /// `--backend wgpu` and no usable GPU; the message says what to install.
    #[error("--backend wgpu: {0}")]
    Gpu(#[from] GpuError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TrainCliError + '_ {
    move |source| TrainCliError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An augmentation level: a preset's name or a spec file's name, and its spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// `none`, `basic`, `complex`, or the spec file's stem.
    pub name: String,
    /// The spec.
    pub spec: AugmentSpec,
}

impl Level {
    /// The preset called `text`, or else the spec JSON file at that path, checked.
    ///
    /// # Errors
    /// [`TrainCliError::Io`] or [`TrainCliError::Spec`].
    pub fn resolve(text: &str) -> Result<Level, TrainCliError> {
        if let Some(spec) = AugmentSpec::preset(text) {
            return Ok(Level {
                name: text.to_owned(),
                spec,
            });
        }
        let path = Path::new(text);
        let json = fs::read_to_string(path).map_err(io_error(path))?;
        let spec: AugmentSpec = serde_json::from_str(&json).map_err(|e| TrainCliError::Spec {
            path: path.to_path_buf(),
            why: format!("not an augmentation spec ({e}); presets are none, basic and complex"),
        })?;
        spec.validate().map_err(|e| TrainCliError::Spec {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let name = path
            .file_stem()
            .map_or_else(|| text.to_owned(), |s| s.to_string_lossy().into_owned());
        Ok(Level { name, spec })
    }
}

/// The test split's results for one output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputResult {
    /// The output's name (NIH finding name, or `Abnormal`).
    pub output: String,
    /// Test images where it is present.
    pub positives: usize,
    /// Test images where it is absent.
    pub negatives: usize,
    /// The AUC; `None` without both positives and negatives.
    pub auc: Option<f64>,
    /// The 95 % bootstrap interval's lower bound.
    pub low: Option<f64>,
    /// Its upper bound.
    pub high: Option<f64>,
}

/// The test split's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// Test images.
    pub images: usize,
    /// One per output, in output order.
    pub outputs: Vec<OutputResult>,
    /// Mean AUC over the outputs that have one.
    pub mean_auc: Option<f64>,
    /// Outputs with an AUC above 0.5.
    pub above_chance: usize,
    /// Outputs with an AUC at all.
    pub with_auc: usize,
}

/// Seconds spent in each phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Training, validation included.
    pub train_s: f64,
    /// Test predictions and bootstrap.
    pub evaluate_s: f64,
    /// Training images per second over the training steps.
    pub images_per_s: f64,
}

/// One trained and evaluated level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelReport {
    /// The augmentation.
    pub level: Level,
    /// The trainer's settings (input spec, normalisation and seed included).
    pub train_config: TrainConfig,
    /// One record per epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept and tested.
    pub best_epoch: Option<usize>,
    /// Why training ended.
    pub finish: Option<Finish>,
    /// The test split.
    pub test: TestResult,
    /// Timings.
    pub timings: Timings,
}

/// Images per split side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Training images.
    pub train: usize,
    /// Validation images.
    pub validation: usize,
    /// Test images.
    pub test: usize,
}

/// `report.json` of `cxr train`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The command's options.
    pub options: RunOptions,
    /// What ran, and on which adapter: "CPU (flex, 2 threads)", "wgpu (llvmpipe (LLVM 15.0.6,
    /// 256 bits), Vulkan — a CPU driver)".
    pub backend: String,
    /// How the weights started: seeded, or the file and what was replaced.
    pub initial_weights: String,
    /// The split.
    pub split: SplitSizes,
    /// Seconds to load and decode the images.
    pub load_s: f64,
    /// The level trained, with history and test results.
    pub run: LevelReport,
    /// Where the model went, if saved.
    pub model_file: Option<PathBuf>,
}

/// The loaded data and the starting point every level shares.
pub struct Prepared {
    /// The images and labels.
    pub dataset: Dataset,
    /// The patient split's examples.
    pub examples: SplitExamples,
    /// The model's outputs.
    pub outputs: Vec<Output>,
    /// Weights file bytes, if any (recognised by [`Pretrained::read`] when loaded).
    weights: Option<Vec<u8>>,
    /// Input channels the model takes (the weights', else 1).
    pub channels: usize,
    /// The weights' architecture (with our outputs) and normalisation, when a file is given.
    from_weights: Option<(DenseNetConfig, Normalization)>,
    /// How the weights start, for the report.
    pub initial_weights: String,
    /// Seconds spent loading.
    pub load_s: f64,
    /// The device (plain; the trainer gets its autodiff twin).
    pub device: Device,
    /// What runs, for the reports; on a GPU, its buffer limits, which cap the batch.
    pub backend: BackendInfo,
}

impl Prepared {
    /// Loads the images (progress through `log`), splits them by patient, and reads the
    /// weights file's header.
    ///
    /// # Errors
    /// [`TrainCliError`] when the data or the weights cannot be used.
    pub fn load(options: &RunOptions, log: &mut dyn FnMut(&str)) -> Result<Self, TrainCliError> {
        // The device first: a missing GPU is reported before minutes of decoding.
        let (device, backend) = native_device(options.backend)?;
        log(&format!("backend: {}", backend.path()));
        let started = Instant::now();
        let mut last = 0;
        let dataset = load_dataset(
            &options.images,
            options.labels.as_deref(),
            options.size,
            |done, total| {
                // About every 10 % and at the end: a line per file would flood the terminal.
                if done == total || done * 10 / total.max(1) > last {
                    last = done * 10 / total.max(1);
                    log(&format!("loading: {done}/{total} files"));
                }
            },
        )
        .map_err(io_error(&options.images))?;
        if !dataset.issues.is_empty() {
            log(&format!(
                "{} issues with the data (bad files or rows are skipped)",
                dataset.issues.len()
            ));
        }
        let outputs = options.outputs.outputs();
        let examples = split_examples(&dataset, &options.split_config(), &outputs)
            .map_err(TrainCliError::Data)?;
        log(&format!(
            "split by patient: {} train, {} validation, {} test images",
            examples.train.len(),
            examples.validation.len(),
            examples.test.len()
        ));
        let (weights, from_weights, initial_weights) = match &options.weights {
            None => (None, None, format!("seeded ({})", options.seed)),
            Some(path) => {
                let bytes = fs::read(path).map_err(io_error(path))?;
                let weights = Pretrained::read(&bytes).map_err(|why| TrainCliError::Weights {
                    path: path.clone(),
                    why,
                })?;
                let mut config = weights.config.clone();
                config.num_classes = outputs.len();
                let normalization = weights.input(options.size).normalization;
                let note = format!(
                    "{}: {}; {} of {} outputs start from its classifier, the rest seeded",
                    path.display(),
                    weights.describe(),
                    weights.kept_rows(&outputs),
                    outputs.len()
                );
                drop(weights);
                (Some(bytes), Some((config, normalization)), note)
            }
        };
        let channels = from_weights.as_ref().map_or(1, |(c, _)| c.in_channels);
        Ok(Prepared {
            dataset,
            examples,
            outputs,
            weights,
            channels,
            from_weights,
            initial_weights,
            load_s: started.elapsed().as_secs_f64(),
            device,
            backend,
        })
    }

    /// The split's sizes.
    #[must_use]
    pub fn split_sizes(&self) -> SplitSizes {
        SplitSizes {
            train: self.examples.train.len(),
            validation: self.examples.validation.len(),
            test: self.examples.test.len(),
        }
    }

    /// The architecture trained and saved: the weights' (with our outputs) when a file is
    /// given, else `--model`'s.
    #[must_use]
    pub fn config(&self, options: &RunOptions) -> DenseNetConfig {
        match &self.from_weights {
            Some((config, _)) => config.clone(),
            None => options.model.config(self.outputs.len(), self.channels),
        }
    }

    /// The starting model on `device` (with autodiff): the same weights every call, so that
    /// every level starts from the same point.
    ///
    /// # Errors
    /// [`TrainCliError::Weights`] when the weights do not fit the chosen model.
    pub fn initial_model(
        &self,
        options: &RunOptions,
        device: &Device,
    ) -> Result<DenseNet, TrainCliError> {
        let Some(bytes) = &self.weights else {
            return Ok(seeded_on(options.seed, device, |cpu| {
                self.config(options).init(cpu)
            }));
        };
        let weights_error = |why| TrainCliError::Weights {
            path: options.weights.clone().unwrap_or_default(),
            why,
        };
        let weights = Pretrained::read(bytes).map_err(weights_error)?;
        let (model, _) = weights
            .model_for(&self.outputs, options.seed, device)
            .map_err(weights_error)?;
        Ok(model)
    }

    /// The input the model takes for `level`: the weights' own normalisation (ImageNet's,
    /// torchxrayvision's), which their features expect whatever the spec says; otherwise the
    /// spec's (see [`SpecAugmenter::normalization`]).
    ///
    /// # Errors
    /// [`TrainCliError::Spec`] for featurewise normalisation, which the trainer does not do.
    pub fn input(&self, options: &RunOptions, level: &Level) -> Result<InputSpec, TrainCliError> {
        let normalization = if let Some((_, normalization)) = self.from_weights {
            normalization
        } else {
            SpecAugmenter {
                spec: level.spec.clone(),
            }
            .normalization()
            .ok_or_else(|| TrainCliError::Spec {
                path: PathBuf::from(&level.name),
                why: "featurewise normalisation needs statistics over the training split, which \
                      the trainer does not compute; use samplewise_center and \
                      samplewise_std_normalization instead"
                    .to_owned(),
            })?
        };
        Ok(InputSpec {
            side: options.size,
            channels: self.channels,
            normalization,
        })
    }
}

/// Trains `level` from the prepared starting point and evaluates the best epoch on the test
/// split. Progress goes to `log`, one line per step and per epoch. Returns the report and the
/// best model (inference mode, plain device).
///
/// # Errors
/// [`TrainCliError`] when training or evaluation fails.
pub fn train_level(
    prepared: &Prepared,
    options: &RunOptions,
    level: &Level,
    log: &mut dyn FnMut(&str),
) -> Result<(LevelReport, DenseNet), TrainCliError> {
    let device = prepared.device.clone().autodiff();
    let input = prepared.input(options, level)?;
    let batch_size = match &prepared.backend.limits {
        // A GPU loses the device on a buffer over its limit: lower the batch, as the page does.
        Some(limits) => {
            let cap = cap_batch(
                &prepared.config(options),
                input.side as usize,
                options.batch,
                limits,
            );
            if cap.capped() {
                log(&format!("[{}] {}", level.name, cap.message()));
            }
            cap.batch
        }
        None => options.batch,
    };
    let config = TrainConfig {
        input,
        batch_size,
        epochs: options.epochs,
        learning_rate: options.lr,
        // The epochs are the budget: every level of a comparison gets all of them, and the best
        // epoch's weights are the ones tested.
        early_stopping: None,
        seed: options.seed,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        prepared.initial_model(options, &device)?,
        &device,
        config.clone(),
        prepared.outputs.clone(),
        prepared.examples.train.clone(),
        prepared.examples.validation.clone(),
    )?;
    let augmenter = augmenter_for(level.spec.clone(), &device);
    let started = Instant::now();
    let mut step_seconds = 0.0;
    let mut images = 0usize;
    let mut last_loss = None;
    let finish = loop {
        let step_started = Instant::now();
        match pollster::block_on(trainer.step(&prepared.dataset.store, augmenter.as_ref()))? {
            Event::Step(report) => {
                step_seconds += step_started.elapsed().as_secs_f64();
                images += report.images;
                last_loss = report.loss.or(last_loss);
                let per_step = step_seconds / report.global_step.max(1) as f64;
                let eta = per_step * report.total_steps.saturating_sub(report.global_step) as f64;
                log(&format!(
                    "[{}] epoch {}/{} step {}/{} {:.1} images/s ETA {} loss {}",
                    level.name,
                    report.epoch,
                    options.epochs,
                    report.step,
                    report.steps_per_epoch,
                    images as f64 / step_seconds.max(1e-9),
                    duration(eta),
                    last_loss.map_or_else(|| "…".to_owned(), |l| format!("{l:.4}"))
                ));
            }
            Event::Epoch(record) => log(&format!(
                "[{}] epoch {} done: train loss {:.4}, validation loss {:.4}, mean AUC {}, \
                 abnormal AUC {}{}",
                level.name,
                record.epoch,
                record.train_loss,
                record.validation_loss,
                optional(record.validation_auc),
                optional(record.abnormal_auc),
                if record.best { " (best so far)" } else { "" }
            )),
            Event::Finished(finish) => break finish,
        }
    };
    let train_s = started.elapsed().as_secs_f64();
    let Some(model) = trainer.best_model() else {
        return Err(TrainError::Device("the model was lost".to_owned()).into());
    };
    let evaluating = Instant::now();
    let test = evaluate_test(prepared, &model, &config, options.seed)?;
    log(&format!(
        "[{}] test: mean AUC {} over {} outputs, {} above chance",
        level.name,
        optional(test.mean_auc),
        test.with_auc,
        test.above_chance
    ));
    let report = LevelReport {
        level: level.clone(),
        train_config: config,
        history: trainer.history().to_vec(),
        best_epoch: trainer.best_epoch(),
        finish: Some(finish),
        test,
        timings: Timings {
            train_s,
            evaluate_s: evaluating.elapsed().as_secs_f64(),
            images_per_s: images as f64 / step_seconds.max(1e-9),
        },
    };
    Ok((report, model))
}

/// The best model's test AUCs with 95 % bootstrap intervals.
fn evaluate_test(
    prepared: &Prepared,
    model: &DenseNet,
    config: &TrainConfig,
    seed: u64,
) -> Result<TestResult, TrainCliError> {
    let test = &prepared.examples.test;
    let probabilities = pollster::block_on(predict(
        model,
        &prepared.dataset.store,
        &test.images,
        &config.input,
        config.batch_size,
        &prepared.device,
    ))?;
    let bootstrap = BootstrapConfig {
        seed,
        ..BootstrapConfig::default()
    };
    let evaluation = evaluate(
        &prepared.outputs,
        &probabilities,
        &test.targets,
        Some(&test.mask),
        Some(&bootstrap),
    );
    Ok(TestResult {
        images: evaluation.images,
        outputs: evaluation
            .findings
            .iter()
            .map(|f| OutputResult {
                output: f.output.name().to_owned(),
                positives: f.positives,
                negatives: f.negatives,
                auc: f.auc,
                low: f.interval.map(|i| i.low),
                high: f.interval.map(|i| i.high),
            })
            .collect(),
        mean_auc: evaluation.mean_auc,
        above_chance: evaluation.above_chance,
        with_auc: evaluation.with_auc,
    })
}

fn optional(auc: Option<f64>) -> String {
    auc.map_or_else(|| "n/a".to_owned(), |a| format!("{a:.3}"))
}

/// `1h02m`, `3m05s`, `12s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// Writes `value` as pretty JSON to `path`.
///
/// # Errors
/// [`TrainCliError::Io`].
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainCliError> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| io_error(path)(std::io::Error::other(e)))?;
    fs::write(path, json).map_err(io_error(path))
}

/// Runs `cxr train`; see the module doc.
///
/// # Errors
/// [`TrainCliError`] when the data, the weights, training or a file write fails.
pub fn run(args: &TrainArgs, log: &mut dyn FnMut(&str)) -> Result<TrainReport, TrainCliError> {
    let level = Level::resolve(&args.aug)?;
    let prepared = Prepared::load(&args.run, log)?;
    let (run, model) = train_level(&prepared, &args.run, &level, log)?;
    let model_file = match &args.out {
        None => None,
        Some(path) => {
            let mut meta = ModelMeta::new(
                prepared.config(&args.run),
                prepared.outputs.clone(),
                run.train_config.input,
            );
            meta.augmentation = serde_json::to_value(&level.spec).ok();
            meta.training = serde_json::to_value(serde_json::json!({
                "config": run.train_config,
                "history": run.history,
                "best_epoch": run.best_epoch,
                "initial_weights": prepared.initial_weights,
            }))
            .ok();
            let bytes = pollster::block_on(save_model(&model, &meta))?;
            fs::write(path, bytes).map_err(io_error(path))?;
            log(&format!("model saved to {}", path.display()));
            Some(path.clone())
        }
    };
    let report = TrainReport {
        options: args.run.clone(),
        backend: prepared.backend.path(),
        initial_weights: prepared.initial_weights.clone(),
        split: prepared.split_sizes(),
        load_s: prepared.load_s,
        run,
        model_file,
    };
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn command_lines_are_parsed_and_checked() {
        let args = TrainArgs::parse(&strings(&[
            "--images",
            "x",
            "--size",
            "64",
            "--aug",
            "basic",
            "--split",
            "0.6,0.2,0.2",
            "--model",
            "small",
            "--outputs",
            "abnormal",
            "--seed",
            "4",
            "--backend",
            "cpu",
        ]))
        .expect("valid");
        assert_eq!(args.run.size, 64);
        assert_eq!(args.run.split, [0.6, 0.2, 0.2]);
        assert_eq!(args.run.model, ModelKind::Small);
        assert_eq!(args.run.outputs, OutputsKind::Abnormal);
        assert_eq!(args.run.seed, 4);
        assert_eq!(args.aug, "basic");
        assert_eq!(args.run.backend, BackendChoice::Cpu);
        for bad in [
            &["--size", "64"][..],
            &["--images", "x", "--backend", "tpu"],
            &["--images", "x", "--split", "0.5,0.5"],
            &["--images", "x", "--model", "small", "--size", "8"],
            &["--images", "x", "--wat", "1"],
            &["--images"],
        ] {
            let result = TrainArgs::parse(&strings(bad));
            assert!(
                matches!(&result, Err(TrainCliError::Usage(m)) if m.contains("usage:")),
                "{bad:?}: {result:?}"
            );
        }
        // The GPU through wgpu is a native backend now (tests/wgpu_native.rs trains on it).
        let wgpu = TrainArgs::parse(&strings(&["--images", "x", "--backend", "wgpu"]));
        assert_eq!(wgpu.expect("valid").run.backend, BackendChoice::Wgpu);
        let tpu = TrainArgs::parse(&strings(&["--images", "x", "--backend", "tpu"]));
        assert!(
            matches!(&tpu, Err(TrainCliError::Usage(m)) if m.contains("expected cpu or wgpu")),
            "{tpu:?}"
        );
    }

    #[test]
    fn levels_are_presets_or_checked_spec_files() {
        assert_eq!(
            Level::resolve("complex").expect("preset").spec,
            AugmentSpec::complex()
        );
        let dir = std::env::temp_dir().join(format!("cxr-level-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("rotate.json");
        fs::write(&good, r#"{"rotation_range": 10}"#).expect("write");
        let level = Level::resolve(&good.display().to_string()).expect("spec file");
        assert_eq!(level.name, "rotate");
        assert_eq!(level.spec.rotation_range, 10.0);
        let bad = dir.join("bad.json");
        fs::write(&bad, r#"{"rotation_range": -1}"#).expect("write");
        assert!(matches!(
            Level::resolve(&bad.display().to_string()),
            Err(TrainCliError::Spec { .. })
        ));
        assert!(matches!(
            Level::resolve("no-such-preset"),
            Err(TrainCliError::Io { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(12.4), "12s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
    }
}
