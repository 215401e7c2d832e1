//! Pretrained DenseNet weights brought in by the user (a dropped file in the page, `--weights`
//! in the CLI): recognised by content, not by name, then turned into a model to train or to
//! classify with.
//!
//! Formats: safetensors (a header length then JSON) and PyTorch's `torch.save` zip archives
//! (`.pth`, `.pt`; a state dict, a checkpoint dict around one, or a whole pickled module), read
//! by [`super::pth`]. Families, told apart by what the file holds:
//! - **torchvision** (`densenet121-a639ec97.pth`, or its safetensors conversion): 3 channels,
//!   1,000 ImageNet classes, ImageNet normalisation. Its classifier means nothing for X-rays and
//!   is replaced.
//! - **torchxrayvision** (`…-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt`): a pickled
//!   `xrv.models.DenseNet`, 1 channel, 18 outputs named by `xrv.datasets.default_pathologies`,
//!   input scaled to [-1024, 1024] (`xrv.datasets.normalize(img, 255)`). All 14 NIH findings are
//!   among its outputs: their classifier rows are kept, matched by name, so the model classifies
//!   before any training, and training starts from them.
//! - anything else with DenseNet's keys: its architecture is read off the tensor shapes; 3
//!   channels are taken to be ImageNet-normalised, 1 channel to be normalised per image.
//!
//! The architecture is always inferred from the shapes (stem width, layers per block, growth
//! rate, bottleneck width), so DenseNet121, 169, 201 and the tiny test networks all load; the
//! strict importer ([`super::import::load_state_dict`]) then checks every tensor.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::densenet::{DenseNet, DenseNetConfig};
use super::file::{ModelFileError, ModelMeta, check_architecture, load_model, read_meta};
use super::import::{StoredTensor, current_key, load_state_dict, read_safetensors};
use super::init::seeded_on;
use super::pth::{self, zip::LOCAL_HEADER_MAGIC};
use crate::backend::cpu_device;
use crate::data::{Finding, Output};
use crate::train::preprocess::{InputSpec, Normalization};

/// torchxrayvision's outputs, in order (`xrv.datasets.default_pathologies`).
pub const XRV_PATHOLOGIES: [&str; 18] = [
    "Atelectasis",
    "Consolidation",
    "Infiltration",
    "Pneumothorax",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Effusion",
    "Pneumonia",
    "Pleural_Thickening",
    "Cardiomegaly",
    "Nodule",
    "Mass",
    "Hernia",
    "Lung Lesion",
    "Fracture",
    "Lung Opacity",
    "Enlarged Cardiomediastinum",
];

/// torchxrayvision's input: `(2 · x/255 − 1) · 1024`, i.e. `(x − 0.5) / (1/2048)` on `[0, 1]`.
pub const XRV_NORMALIZATION: Normalization = Normalization::Fixed {
    mean: [0.5; 3],
    std: [1.0 / 2048.0; 3],
};

/// The side torchxrayvision's DenseNets were trained at (`xrv` resizes every input to it).
pub const XRV_SIDE: u32 = 224;

/// The file format, as recognised from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A safetensors file.
    Safetensors,
    /// A `torch.save` zip archive.
    TorchSave,
}

/// Whose weights these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFamily {
    /// torchvision's ImageNet DenseNet: 1,000 classes, 3 channels.
    TorchvisionImageNet,
    /// torchxrayvision's chest X-ray DenseNet.
    TorchXRayVision,
    /// A CXR Lab model file: its outputs and input are in its metadata.
    CxrLab,
    /// Another DenseNet state dict.
    Other,
}

/// A weights file, recognised and checked for shape, its tensors not yet converted.
#[derive(Debug)]
pub struct Pretrained<'a> {
    /// The file format.
    pub format: WeightsFormat,
    /// Whose weights.
    pub family: WeightsFamily,
    /// The architecture the tensors describe, with their class count and input channels.
    pub config: DenseNetConfig,
    /// The name of each classifier output, where known (torchxrayvision; `""` for an output the
    /// weights were not trained on).
    pub labels: Option<Vec<String>>,
    /// The normalisation a CXR Lab model file records.
    recorded_normalization: Option<Normalization>,
    tensors: Vec<(String, StoredTensor<'a>)>,
}

/// Why a weights file cannot be used, as a sentence for the user.
pub type WeightsError = String;

impl<'a> Pretrained<'a> {
    /// Recognises `bytes` as a weights file.
    ///
    /// # Errors
    /// A sentence: an unknown format, a damaged file, tensors that are not a DenseNet's.
    pub fn read(bytes: &'a [u8]) -> Result<Self, WeightsError> {
        let (format, tensors, module_class, file_labels) =
            if bytes.starts_with(LOCAL_HEADER_MAGIC) || pth::is_legacy_torch_save(bytes) {
                let file = pth::read_pth(bytes).map_err(|e| e.to_string())?;
                (
                    WeightsFormat::TorchSave,
                    file.tensors,
                    file.module_class,
                    file.labels,
                )
            } else if looks_like_safetensors(bytes) {
                let tensors = read_safetensors(bytes).map_err(|e| e.to_string())?;
                (WeightsFormat::Safetensors, tensors, None, None)
            } else {
                return Err(
                    "not a weights file: expected a PyTorch .pth/.pt (torch.save) or a \
                        .safetensors file"
                        .to_owned(),
                );
            };
        let is_xrv_class = module_class
            .as_deref()
            .is_some_and(|c| c.starts_with("torchxrayvision."));
        let has_op_threshs = tensors.iter().any(|(k, _)| k == "op_threshs");
        // torchxrayvision's operating-point thresholds rescale its sigmoid outputs; CXR Lab
        // reports plain probabilities (as xrv does for a model without them), so they are not
        // loaded.
        let tensors: Vec<_> = tensors
            .into_iter()
            .filter(|(k, _)| k != "op_threshs")
            .collect();
        let config = infer_config(&tensors)?;
        let meta = match format {
            WeightsFormat::Safetensors => read_meta(bytes).ok(),
            WeightsFormat::TorchSave => None,
        };
        let family = if meta.is_some() {
            WeightsFamily::CxrLab
        } else if is_xrv_class
            || has_op_threshs
            || (config.in_channels == 1 && config.num_classes == XRV_PATHOLOGIES.len())
        {
            WeightsFamily::TorchXRayVision
        } else if config.in_channels == 3 && config.num_classes == 1000 {
            WeightsFamily::TorchvisionImageNet
        } else {
            WeightsFamily::Other
        };
        let labels = match family {
            WeightsFamily::CxrLab => meta
                .as_ref()
                .map(|m| m.outputs.iter().map(|o| o.name().to_owned()).collect()),
            WeightsFamily::TorchXRayVision => file_labels
                .filter(|l| l.len() == config.num_classes)
                .or_else(|| {
                    (config.num_classes == XRV_PATHOLOGIES.len())
                        .then(|| XRV_PATHOLOGIES.iter().map(|s| (*s).to_owned()).collect())
                }),
            _ => None,
        };
        // The same checks a model file's architecture passes, so that building it cannot panic
        // or allocate without bound.
        check_architecture(&config)
            .map_err(|why| format!("these weights are not a usable DenseNet: {why}"))?;
        Ok(Pretrained {
            format,
            family,
            config,
            labels,
            recorded_normalization: meta.map(|m| m.input.normalization),
            tensors,
        })
    }

    /// The input these weights expect: their channel count and normalisation, at `side`.
    #[must_use]
    pub fn input(&self, side: u32) -> InputSpec {
        let normalization =
            self.recorded_normalization
                .unwrap_or(match (self.family, self.config.in_channels) {
                    (WeightsFamily::TorchXRayVision, _) => XRV_NORMALIZATION,
                    (_, 3) => Normalization::IMAGENET,
                    _ => Normalization::Samplewise,
                });
        InputSpec {
            side,
            channels: self.config.in_channels,
            normalization,
        }
    }

    /// The classifier row that predicts `output`, where the weights name their outputs.
    #[must_use]
    pub fn row_of(&self, output: Output) -> Option<usize> {
        self.labels
            .as_ref()?
            .iter()
            .position(|label| label == output.name())
    }

    /// The file's classifier row for each of `outputs`: by name where the file names its
    /// outputs; by position for an unnamed classifier of exactly as many outputs (a
    /// CheXNet-style file in NIH order, a state dict saved from a run with the same findings);
    /// none otherwise (ImageNet).
    fn rows_for(&self, outputs: &[Output]) -> Vec<Option<usize>> {
        if self.labels.is_none() && self.config.num_classes == outputs.len() {
            return (0..outputs.len()).map(Some).collect();
        }
        outputs.iter().map(|o| self.row_of(*o)).collect()
    }

    /// How many of `outputs` start from the file's classifier rows.
    #[must_use]
    pub fn kept_rows(&self, outputs: &[Output]) -> usize {
        self.rows_for(outputs).iter().flatten().count()
    }

    /// The NIH findings these weights predict, in NIH order.
    #[must_use]
    pub fn findings(&self) -> Vec<Finding> {
        Finding::ALL
            .into_iter()
            .filter(|f| self.row_of(Output::Finding(*f)).is_some())
            .collect()
    }

    /// One line on what the file was recognised as, e.g. "torchxrayvision DenseNet121,
    /// 18 outputs, 1 channel, 14 mapped to NIH findings".
    #[must_use]
    pub fn describe(&self) -> String {
        let c = &self.config;
        let arch = if c.block_config == [6, 12, 24, 16]
            && c.growth_rate == 32
            && c.num_init_features == 64
            && c.bn_size == 4
        {
            "DenseNet121".to_owned()
        } else {
            format!(
                "DenseNet (blocks {:?}, growth {})",
                c.block_config, c.growth_rate
            )
        };
        let channels = match c.in_channels {
            1 => "1 channel".to_owned(),
            n => format!("{n} channels"),
        };
        let format = match self.format {
            WeightsFormat::Safetensors => "safetensors",
            WeightsFormat::TorchSave => "torch.save",
        };
        match self.family {
            WeightsFamily::TorchvisionImageNet => {
                format!("torchvision {arch}, ImageNet, {channels} ({format})")
            }
            WeightsFamily::TorchXRayVision => format!(
                "torchxrayvision {arch}, {} outputs, {channels}, {} mapped to NIH findings \
                 ({format})",
                c.num_classes,
                self.findings().len()
            ),
            WeightsFamily::CxrLab => format!(
                "CXR Lab {arch}, {} outputs ({}), {channels}",
                c.num_classes,
                self.labels.as_deref().unwrap_or_default().join(", ")
            ),
            WeightsFamily::Other => {
                format!("{arch}, {} outputs, {channels} ({format})", c.num_classes)
            }
        }
    }

    /// The model as saved, every output included, on `device`.
    ///
    /// # Errors
    /// A sentence when a tensor does not fit (the importer's strict report).
    pub fn load(&self, device: &Device) -> Result<DenseNet, WeightsError> {
        load_state_dict(self.config.init(device), self.tensors.clone())
            .map_err(|e| format!("the weights do not fit: {e}"))
    }

    /// A model predicting `outputs` on `device`: these weights' features, and a classifier whose
    /// row for each output is the file's row of the same name where there is one (see
    /// [`Pretrained::row_of`]), else freshly initialised with `seed`.
    ///
    /// # Errors
    /// As [`Pretrained::load`].
    pub fn model_for(
        &self,
        outputs: &[Output],
        seed: u64,
        device: &Device,
    ) -> Result<(DenseNet, DenseNetConfig), WeightsError> {
        // Built and spliced on the CPU (synchronous reads are fine there), with the autodiff
        // setting `fork` must carry to `device`.
        let cpu = if device.is_autodiff() {
            cpu_device().autodiff()
        } else {
            cpu_device()
        };
        let loaded = self.load(&cpu)?;
        let mut arch = self.config.clone();
        arch.num_classes = outputs.len();
        let fresh = seeded_on(seed, &cpu, |cpu| arch.init(cpu));
        let rows = self.rows_for(outputs);
        let classifier = if rows.iter().any(Option::is_some) {
            splice_rows(fresh.classifier, &loaded.classifier, &rows)?
        } else {
            fresh.classifier
        };
        let model = DenseNet {
            features: loaded.features,
            classifier,
        };
        Ok((model.fork(device), arch))
    }

    /// A model ready to classify the NIH findings these weights predict, with the metadata a
    /// model file would carry (outputs, input side, channels, normalisation).
    ///
    /// # Errors
    /// A sentence when the weights name no NIH finding (ImageNet weights: train first).
    pub fn classifier(&self, device: &Device) -> Result<(DenseNet, ModelMeta), WeightsError> {
        let outputs = Output::findings(&self.findings());
        if outputs.is_empty() {
            return Err(format!(
                "{}: these weights predict no chest X-ray finding, so they cannot classify as \
                 they are; use them as initial weights for training",
                self.describe()
            ));
        }
        let (model, config) = self.model_for(&outputs, 0, device)?;
        let side = match self.family {
            WeightsFamily::TorchXRayVision => XRV_SIDE,
            _ => crate::data::DEFAULT_SIDE,
        };
        let mut meta = ModelMeta::new(config, outputs, self.input(side));
        meta.created_by = self.describe();
        Ok((model, meta))
    }
}

/// A model to classify with: a CXR Lab model file, or pretrained weights that name NIH findings
/// (torchxrayvision's).
///
/// # Errors
/// A sentence for the user.
pub fn load_classifier(
    bytes: &[u8],
    device: &Device,
) -> Result<(DenseNet, ModelMeta), WeightsError> {
    match load_model(bytes, device) {
        Ok(loaded) => Ok(loaded),
        // A plain state dict or a .pth: pretrained weights, perhaps usable as they are.
        Err(ModelFileError::NotAModelFile | ModelFileError::NotSafetensors(_)) => {
            Pretrained::read(bytes)?.classifier(device)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// safetensors starts with the header's length (u64, little-endian) and the header's JSON.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..8) else {
        return false;
    };
    let mut word = [0; 8];
    word.copy_from_slice(len);
    let len = u64::from_le_bytes(word);
    len >= 2 && len <= bytes.len() as u64 - 8 && bytes.get(8) == Some(&b'{')
}

/// Most dense blocks and layers per block read from a file's keys; DenseNet264 has 4 blocks of
/// at most 64 layers.
const MAX_BLOCKS: usize = 16;
const MAX_LAYERS_PER_BLOCK: usize = 256;

/// The architecture a DenseNet state dict describes, from its tensor shapes.
fn infer_config(tensors: &[(String, StoredTensor<'_>)]) -> Result<DenseNetConfig, WeightsError> {
    let keys: std::collections::HashMap<String, &[usize]> = tensors
        .iter()
        .map(|(k, t)| (current_key(k), t.shape.as_slice()))
        .collect();
    let shape = |key: &str| keys.get(key).copied();
    let not_densenet = |missing: &str| {
        format!(
            "these weights are not a torchvision-style DenseNet (no `{missing}`; found e.g. {})",
            tensors
                .iter()
                .take(3)
                .map(|(k, _)| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let conv0 = "features.conv0.weight";
    let Some(&[init_features, in_channels, _, _]) = shape(conv0) else {
        return Err(not_densenet(conv0));
    };
    let classifier = "classifier.weight";
    let Some(&[num_classes, _]) = shape(classifier) else {
        return Err(not_densenet(classifier));
    };
    let mut block_config = Vec::new();
    for block in 1..=MAX_BLOCKS {
        let layers = (1..=MAX_LAYERS_PER_BLOCK)
            .take_while(|layer| {
                keys.contains_key(&format!(
                    "features.denseblock{block}.denselayer{layer}.conv2.weight"
                ))
            })
            .count();
        if layers == 0 {
            break;
        }
        block_config.push(layers);
    }
    let conv1 = "features.denseblock1.denselayer1.conv1.weight";
    let conv2 = "features.denseblock1.denselayer1.conv2.weight";
    let (Some(&[bottleneck, ..]), Some(&[growth_rate, ..])) = (shape(conv1), shape(conv2)) else {
        return Err(not_densenet(conv2));
    };
    if growth_rate == 0 || bottleneck % growth_rate != 0 {
        return Err(format!(
            "these weights are not a DenseNet: a bottleneck of {bottleneck} maps for a growth \
             rate of {growth_rate}"
        ));
    }
    Ok(DenseNetConfig::new(num_classes)
        .with_in_channels(in_channels)
        .with_growth_rate(growth_rate)
        .with_block_config(block_config)
        .with_num_init_features(init_features)
        .with_bn_size(bottleneck / growth_rate))
}

/// `fresh` with its column `i` (burn's `Linear` is `[in, out]`) replaced by `loaded`'s column
/// `rows[i]` where that is `Some`, and the bias likewise.
fn splice_rows(
    fresh: burn::nn::Linear,
    loaded: &burn::nn::Linear,
    rows: &[Option<usize>],
) -> Result<burn::nn::Linear, WeightsError> {
    let read = |t: Tensor<2>| {
        t.into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))
    };
    let [inputs, loaded_outputs] = loaded.weight.val().dims();
    let [_, outputs] = fresh.weight.val().dims();
    let source = read(loaded.weight.val())?;
    let mut weight = read(fresh.weight.val())?;
    for (i, row) in rows.iter().enumerate() {
        let Some(row) = *row else { continue };
        for input in 0..inputs {
            weight[input * outputs + i] = source[input * loaded_outputs + row];
        }
    }
    let weight = replace(fresh.weight, TensorData::new(weight, [inputs, outputs]));
    let bias = match (fresh.bias, &loaded.bias) {
        (Some(fresh_bias), Some(loaded_bias)) => {
            let source = read(loaded_bias.val().unsqueeze())?;
            let mut bias = read(fresh_bias.val().unsqueeze())?;
            for (i, row) in rows.iter().enumerate() {
                if let Some(row) = *row {
                    bias[i] = source[row];
                }
            }
            Some(replace(fresh_bias, TensorData::new(bias, [outputs])))
        }
        (fresh_bias, _) => fresh_bias,
    };
    Ok(burn::nn::Linear { weight, bias })
}

/// `param` with the value `data`, on its device, keeping its id and autodiff setting (the
/// importer's way of setting a value).
fn replace<const D: usize>(param: Param<Tensor<D>>, data: TensorData) -> Param<Tensor<D>> {
    let tensor = Tensor::<D>::from_data(data, &param.lazy_device());
    let id = param.id;
    param.transform_for_load(tensor, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::GradientsParams;
    use safetensors::SafeTensors;

    const TORCHVISION: &[u8] = include_bytes!("../../tests/fixtures/pth/torchvision_legacy.pth");
    const TORCHVISION_IO: &[u8] =
        include_bytes!("../../tests/fixtures/pth/torchvision_legacy.io.safetensors");
    const XRV: &[u8] = include_bytes!("../../tests/fixtures/pth/xrv_tiny.pt");
    const XRV_IO: &[u8] = include_bytes!("../../tests/fixtures/pth/xrv_tiny.io.safetensors");
    const XRV_LEGACY: &[u8] = include_bytes!("../../tests/fixtures/pth/xrv_tiny_legacy.pt");
    const GRAY_SAFETENSORS: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/gray.weights.safetensors");

    /// `(values, shape)` of a tensor in an io fixture.
    fn read(io: &[u8], name: &str) -> (Vec<f32>, Vec<usize>) {
        let tensors = read_safetensors(io).expect("fixture is safetensors");
        let (_, tensor) = tensors
            .into_iter()
            .find(|(k, _)| k == name)
            .expect("fixture tensor");
        (tensor.to_f32(name).expect("f32"), tensor.shape.clone())
    }

    fn input(io: &[u8]) -> Tensor<4> {
        let (values, shape) = read(io, "input");
        Tensor::from_data(TensorData::new(values, shape), &cpu_device())
    }

    /// Same tolerance and reasoning as the safetensors import tests (`import.rs`).
    fn assert_close(got: &[f32], expected: &[f32], what: &str) {
        assert_eq!(got.len(), expected.len(), "{what}");
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "{what}[{i}]: burn {g} vs PyTorch {e}"
            );
        }
    }

    fn logits(model: &DenseNet, images: Tensor<4>) -> Vec<f32> {
        model
            .forward(images)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")
    }

    #[test]
    fn torchvision_pth_with_legacy_names_matches_pytorch() {
        let weights = Pretrained::read(TORCHVISION).expect("fixture is recognised");
        assert_eq!(weights.format, WeightsFormat::TorchSave);
        assert_eq!(weights.family, WeightsFamily::Other);
        assert_eq!(weights.config.block_config, vec![2, 2]);
        assert_eq!((weights.config.growth_rate, weights.config.bn_size), (4, 2));
        assert_eq!(weights.input(64).normalization, Normalization::IMAGENET);
        let model = weights.load(&cpu_device()).expect("weights fit");
        let (expected, _) = read(TORCHVISION_IO, "logits");
        assert_close(&logits(&model, input(TORCHVISION_IO)), &expected, "logits");
    }

    #[test]
    fn xrv_pickled_module_matches_pytorch() {
        let weights = Pretrained::read(XRV).expect("fixture is recognised");
        assert_eq!(weights.family, WeightsFamily::TorchXRayVision);
        assert_eq!(weights.config.in_channels, 1);
        assert_eq!(weights.config.num_classes, 18);
        assert_eq!(weights.findings(), Finding::ALL.to_vec());
        assert_eq!(weights.input(224).normalization, XRV_NORMALIZATION);
        assert_eq!(
            weights.describe(),
            "torchxrayvision DenseNet (blocks [2, 2], growth 4), 18 outputs, 1 channel, 14 \
             mapped to NIH findings (torch.save)"
        );
        let model = weights.load(&cpu_device()).expect("weights fit");
        let (expected, _) = read(XRV_IO, "logits");
        assert_close(&logits(&model, input(XRV_IO)), &expected, "logits");
    }

    #[test]
    fn xrv_in_the_legacy_format_matches_pytorch() {
        // The format of xrv's published files (saved before PyTorch 1.6).
        let weights = Pretrained::read(XRV_LEGACY).expect("legacy fixture is recognised");
        assert_eq!(weights.family, WeightsFamily::TorchXRayVision);
        assert_eq!(weights.format, WeightsFormat::TorchSave);
        let model = weights.load(&cpu_device()).expect("weights fit");
        let (expected, _) = read(XRV_IO, "logits");
        assert_close(&logits(&model, input(XRV_IO)), &expected, "logits");
    }

    #[test]
    fn xrv_classifies_the_nih_findings_in_nih_order() {
        let (model, meta) = Pretrained::read(XRV)
            .expect("recognised")
            .classifier(&cpu_device())
            .expect("xrv weights classify as they are");
        assert_eq!(meta.outputs, Output::findings(&Finding::ALL));
        assert_eq!(meta.input.side, XRV_SIDE);
        assert_eq!(meta.input.channels, 1);
        meta.check().expect("consistent metadata");
        let (xrv_logits, _) = read(XRV_IO, "logits");
        let ours = logits(&model, input(XRV_IO));
        for (i, finding) in Finding::ALL.iter().enumerate() {
            let row = XRV_PATHOLOGIES
                .iter()
                .position(|p| *p == finding.name())
                .expect("every NIH finding is an xrv output");
            for image in 0..2 {
                let (got, want) = (ours[image * 14 + i], xrv_logits[image * 18 + row]);
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{finding:?}"
                );
            }
        }
    }

    #[test]
    fn training_keeps_named_rows_and_starts_others_fresh() {
        let weights = Pretrained::read(XRV).expect("recognised");
        let outputs = [Output::Finding(Finding::Effusion), Output::Abnormal];
        let device = cpu_device().autodiff();
        let (model, config) = weights.model_for(&outputs, 7, &device).expect("fits");
        assert_eq!(config.num_classes, 2);
        let got = logits(&model.valid(), input(XRV_IO));
        let (xrv_logits, _) = read(XRV_IO, "logits");
        let effusion = 7;
        for image in 0..2 {
            let (g, e) = (got[image * 2], xrv_logits[image * 18 + effusion]);
            assert!((g - e).abs() <= 1e-4 * (1.0 + e.abs()), "{g} vs {e}");
        }
        // Every parameter, the spliced classifier included, still learns: as many gradients
        // as a freshly built model of the same architecture gets.
        let images = Tensor::<4>::from_data(input(XRV_IO).into_data(), &device);
        let gradients = |model: &DenseNet| {
            GradientsParams::from_grads(model.forward(images.clone()).sum().backward(), model).len()
        };
        assert_eq!(gradients(&model), gradients(&config.init(&device)));
        assert!(gradients(&model) > 30);
    }

    #[test]
    fn safetensors_are_recognised_by_content() {
        let weights = Pretrained::read(GRAY_SAFETENSORS).expect("recognised");
        assert_eq!(weights.format, WeightsFormat::Safetensors);
        assert_eq!(weights.family, WeightsFamily::Other);
        assert_eq!(weights.input(64).normalization, Normalization::Samplewise);
        assert!(weights.describe().contains("3 outputs, 1 channel"));
    }

    #[test]
    fn wrong_files_get_a_sentence() {
        let not_weights = Pretrained::read(b"hello, I am a text file").expect_err("refused");
        assert!(not_weights.contains("not a weights file"), "{not_weights}");
        let io = Pretrained::read(XRV_IO).expect_err("tensors, but not a DenseNet");
        assert!(io.contains("not a torchvision-style DenseNet"), "{io}");
        let truncated = Pretrained::read(&XRV[..XRV.len() / 2]).expect_err("truncated");
        assert!(truncated.contains("PyTorch"), "{truncated}");
        let imagenet_like = Pretrained::read(TORCHVISION)
            .expect("recognised")
            .classifier(&cpu_device())
            .expect_err("no finding to classify");
        assert!(imagenet_like.contains("initial weights"), "{imagenet_like}");
        // Sanity: the io fixture is valid safetensors.
        assert!(SafeTensors::deserialize(XRV_IO).is_ok());
    }

    #[test]
    fn xrv_normalisation_is_xrv_s_formula() {
        let input = InputSpec {
            side: 2,
            channels: 1,
            normalization: XRV_NORMALIZATION,
        };
        let pixels = [0u8, 255, 128, 64];
        let x = crate::train::preprocess::preprocess(&pixels, 2, &input);
        for (got, p) in x.iter().zip(pixels) {
            // xrv.datasets.normalize(img, 255): (2 * img / 255 - 1) * 1024.
            let want = (2.0 * f32::from(p) / 255.0 - 1.0) * 1024.0;
            assert!((got - want).abs() < 1e-2, "{got} vs {want}");
        }
    }

    /// Full-size DenseNet121 files written by `make_fixture.py --full DIR` (too big to commit):
    /// torchvision's published layout (legacy names, 1,000 classes) and a whole pickled xrv
    /// DenseNet121. Prints how long recognising and loading take.
    #[test]
    #[ignore = "needs CXR_PTH_FULL=DIR from make_fixture.py --full DIR"]
    fn full_size_files() {
        let dir = std::path::PathBuf::from(std::env::var("CXR_PTH_FULL").expect("CXR_PTH_FULL"));
        for (name, io, family, channels, classes) in [
            (
                "torchvision_legacy.pth",
                "torchvision_legacy",
                WeightsFamily::TorchvisionImageNet,
                3,
                1000,
            ),
            (
                "xrv_tiny.pt",
                "xrv_tiny",
                WeightsFamily::TorchXRayVision,
                1,
                18,
            ),
            (
                "xrv_tiny_legacy.pt",
                "xrv_tiny",
                WeightsFamily::TorchXRayVision,
                1,
                18,
            ),
        ] {
            let bytes = std::fs::read(dir.join(name)).expect("full file");
            let io = std::fs::read(dir.join(format!("{io}.io.safetensors"))).expect("io");
            let started = std::time::Instant::now();
            let weights = Pretrained::read(&bytes).expect("recognised");
            let read_s = started.elapsed().as_secs_f64();
            assert_eq!(weights.family, family);
            assert_eq!(weights.config.block_config, vec![6, 12, 24, 16]);
            assert_eq!(
                (weights.config.in_channels, weights.config.num_classes),
                (channels, classes)
            );
            let started = std::time::Instant::now();
            let model = weights.load(&cpu_device()).expect("fits");
            let load_s = started.elapsed().as_secs_f64();
            let (expected, _) = read(&io, "logits");
            assert_close(&logits(&model, input(&io)), &expected, name);
            println!(
                "{name}: {} MB, {} tensors; recognised in {read_s:.3} s, loaded in {load_s:.2} s; \
                 {}",
                bytes.len() / 1_000_000,
                weights.tensors.len(),
                weights.describe()
            );
        }
    }
}
