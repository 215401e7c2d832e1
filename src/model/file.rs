//! CXR Lab's own model files: a trained [`DenseNet`] and everything needed to use it again, in
//! one `.safetensors` file that the page offers as a download (it is never uploaded anywhere).
//!
//! The tensors are a torchvision DenseNet `state_dict` (the keys [`torchvision_keys`] lists, F32,
//! in PyTorch's layout: the classifier weight is `[out, in]`), so the same file loads in PyTorch
//! (`model.load_state_dict(safetensors.torch.load_file(path))`; the missing
//! `num_batches_tracked` buffers are filled in by PyTorch's BatchNorm) and back here through the
//! same importer users' torchvision files go through ([`load_torchvision_safetensors`]), so there
//! is one loading path to trust, not two.
//!
//! What a bare state dict lacks is in the safetensors header's `__metadata__`, as JSON under
//! [`META_KEY`]: the architecture ([`DenseNetConfig`]), which finding each output is, the input
//! the model expects ([`InputSpec`]: side, channels, normalisation), and, opaque to this module,
//! the augmentation spec and the training config and history. A file without it is a plain
//! weights file, to be brought in with "Import weights" instead.

use std::collections::BTreeSet;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::densenet::{DenseNet, DenseNetConfig};
use super::import::{
    ImportError, load_torchvision_safetensors, torchvision_keys, torchvision_tensors, transpose,
};
use crate::backend::cpu_device;
use crate::data::Output;
use crate::train::preprocess::InputSpec;

/// The `__metadata__` key holding the [`ModelMeta`] JSON.
pub const META_KEY: &str = "cxr_lab";
/// [`ModelMeta::format`] of every CXR Lab model file.
pub const FORMAT: &str = "cxr-lab-model";
/// The newest [`ModelMeta::version`] this build reads and the one it writes.
pub const VERSION: u32 = 1;

/// Largest width (channels, classes) and depth a model file may ask for. DenseNet121 has 1,024
/// channels and 58 layers, DenseNet201 1,920 and 98; the bound only stops a damaged or hostile
/// header from making [`DenseNetConfig::init`] build millions of layers before the weights are
/// compared.
const MAX_WIDTH: usize = 1 << 16;
const MAX_LAYERS: usize = 1 << 10;

/// Everything about a model that its weights do not say, stored as JSON in the file's header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Always [`FORMAT`]: tells our files from other safetensors files that carry metadata.
    pub format: String,
    /// Layout version of this struct ([`VERSION`] when written by this build).
    pub version: u32,
    /// The architecture; [`load_model`] builds it before loading the weights.
    pub config: DenseNetConfig,
    /// What each output predicts, in output order (`outputs[i]` is logit `i`).
    pub outputs: Vec<Output>,
    /// The input the model was trained on; [`crate::train::preprocess::preprocess`] with it
    /// prepares images for inference exactly as for training.
    pub input: InputSpec,
    /// The augmentation spec used in training, as its own module serialises it.
    pub augmentation: Option<serde_json::Value>,
    /// The training config and history (losses, AUC per epoch), as the trainer serialises them.
    pub training: Option<serde_json::Value>,
    /// The program that wrote the file, e.g. `cxr-lab 0.1.0`.
    pub created_by: String,
}

impl ModelMeta {
    /// Metadata for a model of `config` whose outputs are `outputs` and whose input is `input`,
    /// stamped with this format, version and crate version; no augmentation or training record.
    #[must_use]
    pub fn new(config: DenseNetConfig, outputs: Vec<Output>, input: InputSpec) -> Self {
        ModelMeta {
            format: FORMAT.to_owned(),
            version: VERSION,
            config,
            outputs,
            input,
            augmentation: None,
            training: None,
            created_by: concat!("cxr-lab ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Checks that the parts agree with each other and that the config can be built without a
    /// panic (burn's layer constructors assert non-zero sizes).
    ///
    /// # Errors
    /// [`ModelFileError::Inconsistent`] naming the first disagreement.
    pub fn check(&self) -> Result<(), ModelFileError> {
        let bad = |why: String| Err(ModelFileError::Inconsistent(why));
        let c = &self.config;
        if c.num_classes != self.outputs.len() {
            return bad(format!(
                "{} outputs but {} findings",
                c.num_classes,
                self.outputs.len()
            ));
        }
        let distinct: BTreeSet<Output> = self.outputs.iter().copied().collect();
        if distinct.len() != self.outputs.len() {
            return bad("a finding is listed twice".to_owned());
        }
        if c.in_channels != self.input.channels {
            return bad(format!(
                "the network takes {} channels, the input spec {}",
                c.in_channels, self.input.channels
            ));
        }
        check_architecture(c).map_err(ModelFileError::Inconsistent)?;
        // The stem divides the side by 4 and each transition by 2: an input smaller than that
        // leaves nothing to pool.
        let shrink = 4u64 << (c.block_config.len() - 1).min(40);
        if u64::from(self.input.side) < shrink {
            return bad(format!(
                "input side {} is smaller than the {shrink} pixels the network divides it by",
                self.input.side
            ));
        }
        Ok(())
    }
}

/// Checks that `c` can be built without a panic (burn's layer constructors assert non-zero
/// sizes) or an unbounded allocation: what any architecture read from a file must pass.
///
/// # Errors
/// The first problem, as a phrase.
pub fn check_architecture(c: &DenseNetConfig) -> Result<(), String> {
    let sizes = [
        ("num_classes", c.num_classes),
        ("in_channels", c.in_channels),
        ("growth_rate", c.growth_rate),
        ("num_init_features", c.num_init_features),
        ("bn_size", c.bn_size),
    ];
    for (name, size) in sizes {
        if size == 0 || size > MAX_WIDTH {
            return Err(format!("{name} is {size}; expected 1 to {MAX_WIDTH}"));
        }
    }
    if c.block_config.is_empty() || c.block_config.iter().sum::<usize>() > MAX_LAYERS {
        return Err(format!(
            "block_config {:?}: expected 1 or more blocks of at most {MAX_LAYERS} layers \
             in all",
            c.block_config
        ));
    }
    // Follows the channel count through the blocks as `DenseNetConfig::init` does; a
    // transition that halved it to zero would make burn panic.
    let mut channels = c.num_init_features;
    for (i, &layers) in c.block_config.iter().enumerate() {
        channels += layers * c.growth_rate;
        if channels > MAX_WIDTH {
            return Err(format!("block {} reaches {channels} channels", i + 1));
        }
        if i + 1 < c.block_config.len() {
            channels /= 2;
            if channels == 0 {
                return Err(format!("transition {} leaves no channels", i + 1));
            }
        }
    }
    Ok(())
}

/// Why a model file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelFileError {
    /// The bytes are not a complete safetensors file (truncated download, another format).
    #[error("not a complete safetensors file ({0}); was the download cut short?")]
    NotSafetensors(String),
    /// A safetensors file without CXR Lab's metadata: weights only, e.g. a torchvision
    /// `state_dict`.
    #[error(
        "this file holds weights only, without CXR Lab's metadata (`{META_KEY}` in the \
         safetensors header), so its findings and input size are unknown; to start from \
         torchvision weights (ImageNet, CheXNet), use \"Import weights\" instead"
    )]
    NotAModelFile,
    /// The metadata is there but is not what this build can read.
    #[error("the model file's metadata cannot be read: {0}")]
    BadMetadata(String),
    /// Written by a newer CXR Lab whose layout this build does not know.
    #[error(
        "the model file is version {found}, this CXR Lab reads up to version {VERSION}; \
         update CXR Lab to open it"
    )]
    NewerVersion {
        /// The file's version.
        found: u32,
    },
    /// The metadata contradicts itself or the model (outputs vs findings, channels, sizes).
    #[error("the model file's metadata is inconsistent: {0}")]
    Inconsistent(String),
    /// The weights do not fit the architecture the metadata describes.
    #[error("the weights do not fit the model file's own configuration: {0}")]
    Weights(#[from] ImportError),
    /// Reading the weights back from the device failed.
    #[error("could not read the weights back from the device: {0}")]
    Read(String),
    /// safetensors refused to write the tensors (a bug: shapes come from the model).
    #[error("could not write the model file: {0}")]
    Write(String),
}

/// The bytes of a model file holding `model`'s weights and `meta`.
///
/// `model` may be on any device, autodiff or not, in the middle of training: what is saved is
/// its inference state (`valid()`), read back with one async read (a synchronous read panics on
/// WebGPU in the browser).
///
/// # Errors
/// [`ModelFileError::Inconsistent`] if `meta` disagrees with itself or with `model`'s
/// architecture (a file that could not be loaded again is refused here, not at load time);
/// [`ModelFileError::Read`] if the device read fails.
pub async fn save_model(model: &DenseNet, meta: &ModelMeta) -> Result<Vec<u8>, ModelFileError> {
    meta.check()?;
    let json = serde_json::to_string(meta).map_err(|e| ModelFileError::Write(e.to_string()))?;
    // Parameters are initialised lazily, so building the described architecture on the CPU
    // only to list its keys and shapes allocates little (the BatchNorm statistics).
    let described = torchvision_keys(&meta.config.init(&cpu_device()));
    let held = torchvision_keys(model);
    if described != held {
        return Err(ModelFileError::Inconsistent(format!(
            "the model's tensors differ from what its config describes ({} vs {} tensors{})",
            held.len(),
            described.len(),
            held.iter()
                .zip(&described)
                .find(|(h, d)| h != d)
                .map(|(h, d)| format!("; first: {} {:?} vs {} {:?}", h.0, h.1, d.0, d.1))
                .unwrap_or_default()
        )));
    }

    // `valid` first: BatchNorm's running statistics keep the latest training update pending
    // per thread, and visiting reads the value without folding it in (burn 0.22.1
    // `RunningState::visit`); `valid` folds it in, and drops autodiff, so the read below does
    // not grow a graph. The caller's model is untouched and can go on training.
    let tensors = torchvision_tensors(&model.valid());
    // One concatenated read instead of one per tensor: each read is a GPU→CPU round trip, and
    // DenseNet121 has 606 tensors.
    let all = Tensor::cat(tensors.iter().map(|t| t.values.clone()).collect(), 0);
    let values = all
        .into_data_async()
        .await
        .map_err(|e| ModelFileError::Read(format!("{e:?}")))?
        .try_into_vec_as::<f32>()
        .map_err(|e| ModelFileError::Read(format!("{e:?}")))?;

    let mut buffers = Vec::with_capacity(tensors.len());
    let mut rest = values.as_slice();
    for tensor in &tensors {
        let len = tensor.shape.iter().product::<usize>();
        let Some((own, after)) = rest.split_at_checked(len) else {
            return Err(ModelFileError::Read(format!(
                "the device returned too few values at {}",
                tensor.key
            )));
        };
        rest = after;
        let own = match (tensor.transposed, tensor.shape.as_slice()) {
            // burn holds `[in, out]`; PyTorch's `[out, in]` is its transpose.
            (true, &[out, inputs]) => transpose(own, inputs, out),
            _ => own.to_vec(),
        };
        let bytes: Vec<u8> = own.iter().flat_map(|v| v.to_le_bytes()).collect();
        buffers.push((tensor.key.clone(), tensor.shape.clone(), bytes));
    }
    let views = buffers
        .iter()
        .map(|(key, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (key.as_str(), view))
                .map_err(|e| ModelFileError::Write(format!("{key}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = [(META_KEY.to_owned(), json)].into_iter().collect();
    safetensors::serialize(views, Some(metadata)).map_err(|e| ModelFileError::Write(e.to_string()))
}

/// Reads a model file: its metadata, then the architecture it describes on `device` with the
/// weights loaded through the torchvision importer.
///
/// On an autodiff device the model is ready to train further; for inference use it on a plain
/// device (or call `valid()`), where BatchNorm uses the running statistics.
///
/// # Errors
/// [`ModelFileError::NotAModelFile`] for a safetensors file without our metadata (a torchvision
/// `state_dict`), [`ModelFileError::NotSafetensors`] for a truncated or foreign file, and the
/// other variants for metadata or weights that do not fit.
pub fn load_model(bytes: &[u8], device: &Device) -> Result<(DenseNet, ModelMeta), ModelFileError> {
    let meta = read_meta(bytes)?;
    let model = load_torchvision_safetensors(meta.config.init(device), bytes)?;
    Ok((model, meta))
}

/// The metadata of a model file, checked, without loading the weights (the header alone is
/// read, so this is cheap for showing what a file holds).
///
/// # Errors
/// As [`load_model`], less the weight errors.
pub fn read_meta(bytes: &[u8]) -> Result<ModelMeta, ModelFileError> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| ModelFileError::NotSafetensors(e.to_string()))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or(ModelFileError::NotAModelFile)?;
    // Format and version first, from untyped JSON: a newer layout should be reported as newer,
    // not as fields that fail to parse.
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ModelFileError::BadMetadata(e.to_string()))?;
    let format = value.get("format").and_then(serde_json::Value::as_str);
    if format != Some(FORMAT) {
        return Err(ModelFileError::BadMetadata(format!(
            "format is {format:?}, expected \"{FORMAT}\""
        )));
    }
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| ModelFileError::BadMetadata("no version".to_owned()))?;
    if version > u64::from(VERSION) {
        return Err(ModelFileError::NewerVersion {
            found: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let meta: ModelMeta =
        serde_json::from_value(value).map_err(|e| ModelFileError::BadMetadata(e.to_string()))?;
    meta.check()?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Finding;
    use crate::train::preprocess::Normalization;
    use burn::tensor::Distribution;
    use std::collections::HashMap;

    /// A torchvision `state_dict` of a tiny DenseNet with every parameter and running
    /// statistic drawn at random (`tests/fixtures/densenet_tiny/make_fixture.py`).
    const GRAY_WEIGHTS: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/gray.weights.safetensors");

    /// The architecture of the fixture.
    fn tiny() -> DenseNetConfig {
        DenseNetConfig::new(3)
            .with_growth_rate(4)
            .with_block_config(vec![2, 2])
            .with_num_init_features(8)
            .with_bn_size(2)
    }

    fn tiny_meta() -> ModelMeta {
        ModelMeta::new(
            tiny(),
            Output::findings(&[Finding::Effusion, Finding::Atelectasis, Finding::Hernia]),
            InputSpec {
                side: 32,
                channels: 1,
                normalization: Normalization::Samplewise,
            },
        )
    }

    fn fixture_model(device: &Device) -> DenseNet {
        load_torchvision_safetensors(tiny().init(device), GRAY_WEIGHTS).expect("fixture loads")
    }

    fn probability_bits(model: &DenseNet, images: Tensor<4>) -> Vec<u32> {
        model
            .forward_probabilities(images)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 data")
            .iter()
            .map(|p| p.to_bits())
            .collect()
    }

    fn images(device: &Device) -> Tensor<4> {
        Tensor::random([4, 1, 32, 32], Distribution::Normal(0.0, 1.0), device)
    }

    #[test]
    fn saved_tensors_are_the_torchvision_state_dict_they_came_from() {
        let device = cpu_device();
        let bytes =
            pollster::block_on(save_model(&fixture_model(&device), &tiny_meta())).expect("saves");
        let ours = SafeTensors::deserialize(&bytes).expect("safetensors");
        let theirs = SafeTensors::deserialize(GRAY_WEIGHTS).expect("fixture");
        let their_keys: BTreeSet<String> = theirs
            .names()
            .into_iter()
            .filter(|k| !k.ends_with("num_batches_tracked"))
            .map(str::to_owned)
            .collect();
        let our_keys: BTreeSet<String> = ours.names().into_iter().map(str::to_owned).collect();
        assert_eq!(our_keys, their_keys);
        for key in &our_keys {
            let (a, b) = (
                ours.tensor(key).expect("ours"),
                theirs.tensor(key).expect("theirs"),
            );
            assert_eq!(a.dtype(), Dtype::F32, "{key}");
            // Same shape and the same bytes as PyTorch wrote: layout (the classifier's
            // `[out, in]`), names and values all match torchvision's.
            assert_eq!(a.shape(), b.shape(), "{key}");
            assert!(a.data() == b.data(), "{key}: values differ");
        }
    }

    #[test]
    fn save_then_load_predicts_bit_identically() {
        let device = cpu_device();
        let model = fixture_model(&device);
        let bytes = pollster::block_on(save_model(&model, &tiny_meta())).expect("saves");
        let (loaded, _) = load_model(&bytes, &device).expect("loads");
        let x = images(&device);
        assert_eq!(
            probability_bits(&model, x.clone()),
            probability_bits(&loaded, x)
        );
    }

    #[test]
    fn a_model_saved_while_training_predicts_identically_after_loading() {
        // Forward passes in training mode move BatchNorm's running statistics away from the
        // fixture's; the file must carry the moved ones, read from an autodiff model.
        let device = cpu_device();
        let autodiff = device.clone().autodiff();
        let training = fixture_model(&autodiff);
        for _ in 0..3 {
            let x = Tensor::random([8, 1, 32, 32], Distribution::Normal(0.5, 2.0), &autodiff);
            let _ = training.forward(x);
        }
        let bytes = pollster::block_on(save_model(&training, &tiny_meta())).expect("saves");
        let (loaded, _) = load_model(&bytes, &device).expect("loads");
        let x = images(&device);
        let trained = probability_bits(&training.valid(), x.clone());
        assert_ne!(
            trained,
            probability_bits(&fixture_model(&device), x.clone()),
            "the running statistics did not move: the test would prove nothing"
        );
        assert_eq!(trained, probability_bits(&loaded, x));
    }

    #[test]
    fn metadata_round_trips() {
        let device = cpu_device();
        let mut meta = tiny_meta();
        meta.input.normalization = Normalization::IMAGENET;
        meta.augmentation = Some(serde_json::json!({"rotation_range": 5.0, "zoom_range": 0.1}));
        meta.training = Some(serde_json::json!({
            "config": {"epochs": 2, "learning_rate": 0.001},
            "history": [{"epoch": 1, "loss": 0.69, "auc": [0.5, 0.61, 0.7]}]
        }));
        let bytes = pollster::block_on(save_model(&fixture_model(&device), &meta)).expect("saves");
        let (_, loaded) = load_model(&bytes, &device).expect("loads");
        assert_eq!(
            serde_json::to_value(&loaded).expect("json"),
            serde_json::to_value(&meta).expect("json")
        );
        assert_eq!(loaded.outputs, meta.outputs);
        assert_eq!(loaded.input, meta.input);
        assert_eq!(loaded.config.block_config, vec![2, 2]);
        assert!(loaded.created_by.starts_with("cxr-lab "));
        assert_eq!(
            read_meta(&bytes).expect("header").outputs,
            meta.outputs,
            "read_meta sees the same metadata without loading weights"
        );
    }

    #[test]
    fn a_torchvision_file_is_refused_with_a_pointer_to_import() {
        let error = load_model(GRAY_WEIGHTS, &cpu_device()).expect_err("no metadata");
        assert!(matches!(error, ModelFileError::NotAModelFile), "{error:?}");
        assert!(error.to_string().contains("\"Import weights\""), "{error}");
    }

    #[test]
    fn a_truncated_file_is_an_error() {
        let device = cpu_device();
        let bytes =
            pollster::block_on(save_model(&fixture_model(&device), &tiny_meta())).expect("saves");
        for len in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
            let result = load_model(&bytes[..len], &device);
            assert!(
                matches!(result, Err(ModelFileError::NotSafetensors(_))),
                "{len} bytes: {:?}",
                result.map(|(_, meta)| meta)
            );
        }
    }

    /// `bytes` with its metadata JSON replaced by `edit` applied to it.
    fn with_metadata(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let file = SafeTensors::deserialize(bytes).expect("safetensors");
        let (_, header) = SafeTensors::read_metadata(bytes).expect("header");
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .expect("our metadata");
        let mut value: serde_json::Value = serde_json::from_str(json).expect("json");
        edit(&mut value);
        let metadata: HashMap<String, String> = [(META_KEY.to_owned(), value.to_string())]
            .into_iter()
            .collect();
        safetensors::serialize(file.tensors(), Some(metadata.into_iter().collect()))
            .expect("serialisable")
    }

    #[test]
    fn metadata_that_does_not_fit_the_weights_is_an_error() {
        let device = cpu_device();
        let bytes =
            pollster::block_on(save_model(&fixture_model(&device), &tiny_meta())).expect("saves");
        // Consistent metadata for a 4-output model, over 3-output weights.
        let edited = with_metadata(&bytes, |v| {
            v["config"]["num_classes"] = 4.into();
            v["outputs"]
                .as_array_mut()
                .expect("array")
                .push("Mass".into());
        });
        let error = load_model(&edited, &device).expect_err("3 outputs in the file");
        assert!(
            matches!(error, ModelFileError::Weights(ImportError::Mismatch(_))),
            "{error:?}"
        );
        // Findings and outputs disagree within the metadata.
        let edited = with_metadata(&bytes, |v| v["outputs"] = serde_json::json!(["Mass"]));
        let error = load_model(&edited, &device).expect_err("1 finding, 3 outputs");
        assert!(
            matches!(error, ModelFileError::Inconsistent(_)),
            "{error:?}"
        );
        // A zero-size layer would make burn panic in `init`: refused first.
        let edited = with_metadata(&bytes, |v| v["config"]["growth_rate"] = 0.into());
        assert!(matches!(
            load_model(&edited, &device),
            Err(ModelFileError::Inconsistent(_))
        ));
        let edited = with_metadata(&bytes, |v| v["version"] = (VERSION + 1).into());
        assert!(matches!(
            load_model(&edited, &device),
            Err(ModelFileError::NewerVersion { .. })
        ));
        let edited = with_metadata(&bytes, |v| v["format"] = "something-else".into());
        assert!(matches!(
            load_model(&edited, &device),
            Err(ModelFileError::BadMetadata(_))
        ));
    }

    #[test]
    fn saving_with_metadata_for_another_architecture_is_refused() {
        let device = cpu_device();
        let mut meta = tiny_meta();
        meta.config = tiny().with_growth_rate(8);
        let result = pollster::block_on(save_model(&fixture_model(&device), &meta));
        assert!(
            matches!(result, Err(ModelFileError::Inconsistent(_))),
            "{result:?}"
        );
    }

    #[test]
    fn a_densenet121_round_trips() {
        // The real architecture, as the page trains it: 606 tensors, 14 findings.
        let device = cpu_device();
        let config = DenseNetConfig::densenet121(Finding::COUNT, 1);
        let model = config.init(&device);
        let meta = ModelMeta::new(
            config,
            Output::findings(&Finding::ALL),
            InputSpec {
                side: 64,
                channels: 1,
                normalization: Normalization::Samplewise,
            },
        );
        let bytes = pollster::block_on(save_model(&model, &meta)).expect("saves");
        let (loaded, _) = load_model(&bytes, &device).expect("loads");
        let x = Tensor::<4>::random([1, 1, 64, 64], Distribution::Default, &device);
        assert_eq!(
            probability_bits(&model, x.clone()),
            probability_bits(&loaded, x)
        );
    }
}
