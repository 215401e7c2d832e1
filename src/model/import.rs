//! Loads torchvision DenseNet weights (ImageNet, CheXNet, …) into a [`DenseNet`].
//!
//! Input is the bytes of a `.safetensors` file holding a torchvision `state_dict()`: in the
//! browser a dropped file is bytes, not a path. The importer is strict, like PyTorch's
//! `load_state_dict(strict=True)`: every parameter and running statistic of the model must be in
//! the file with the same shape, and every tensor in the file must be used; otherwise it returns
//! an [`ImportError`] that lists the offending keys, and the model is not returned half-loaded.
//!
//! Names are mapped one way, from burn's module path to torchvision's key:
//! - `features.denseblocks.{i}.denselayers.{j}` ↔ `features.denseblock{i+1}.denselayer{j+1}`
//!   and `features.transitions.{i}` ↔ `features.transition{i+1}`: burn numbers `Vec` items
//!   from 0, torchvision names its `nn.ModuleDict`/`nn.Sequential` children from 1.
//! - BatchNorm `gamma`/`beta` ↔ `weight`/`bias`: burn's names for the same tensors.
//! - `classifier.weight` is transposed: burn's `Linear` stores `[in, out]`, PyTorch `[out, in]`.
//! - File keys in the legacy form of torchvision's published checkpoints
//!   (`denselayer1.norm.1.weight`) are rewritten to the current form (`denselayer1.norm1.weight`)
//!   first, as torchvision's `_load_state_dict` does.
//! - `num_batches_tracked` is skipped: it only matters to BatchNorm with `momentum=None`.
//!
//! The tensors come as [`StoredTensor`]s (shape, stored type, little-endian bytes), so the same
//! loader serves safetensors files ([`load_torchvision_safetensors`]) and PyTorch's own
//! `.pth`/`.pt` archives, read from bytes by [`super::pth`] (burn-store 0.22.1 reads those only
//! from a path, which a browser does not have).

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::densenet::DenseNet;

/// Why a weight file could not be loaded into a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are not a safetensors file (a `.pth` file, say, or a truncated download).
    #[error("not a safetensors file ({0})")]
    NotSafetensors(String),
    /// A tensor the model needs is stored in a type that is not floating point.
    #[error("tensor `{key}` is stored as {dtype}; only F32, F64, F16 and BF16 can be loaded")]
    UnsupportedDtype {
        /// The key in the file.
        key: String,
        /// safetensors' name for the stored type.
        dtype: String,
    },
    /// The file's tensors do not match the model's: missing, unexpected or of another shape.
    #[error("{0}")]
    Mismatch(MismatchReport),
}

/// Which keys did not fit, in torchvision's names and layouts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MismatchReport {
    /// Keys the model needs that the file lacks.
    pub missing: Vec<String>,
    /// Keys in the file that the model has no place for.
    pub unexpected: Vec<String>,
    /// Keys present in both with different shapes.
    pub wrong_shape: Vec<WrongShape>,
}

/// One tensor whose shape in the file differs from the model's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongShape {
    /// torchvision's key.
    pub key: String,
    /// The shape in the file.
    pub in_file: Vec<usize>,
    /// The shape the model expects, in PyTorch's layout.
    pub in_model: Vec<usize>,
}

impl MismatchReport {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.wrong_shape.is_empty()
    }
}

impl fmt::Display for MismatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the weights do not fit this DenseNet")?;
        if !self.missing.is_empty() {
            write!(
                f,
                "; {} missing: {}",
                self.missing.len(),
                self.missing.join(", ")
            )?;
        }
        if !self.unexpected.is_empty() {
            write!(
                f,
                "; {} unexpected: {}",
                self.unexpected.len(),
                self.unexpected.join(", ")
            )?;
        }
        if !self.wrong_shape.is_empty() {
            let shapes: Vec<String> = self
                .wrong_shape
                .iter()
                .map(|w| {
                    format!(
                        "{} is {:?} in the file, {:?} in the model",
                        w.key, w.in_file, w.in_model
                    )
                })
                .collect();
            write!(
                f,
                "; {} of another shape: {}",
                shapes.len(),
                shapes.join(", ")
            )?;
        }
        write!(
            f,
            ". Check that num_classes, in_channels and block_config match the checkpoint \
             (DenseNet121 ImageNet weights: 1000 classes, 3 channels)"
        )
    }
}

/// How a tensor is stored in a weights file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredDtype {
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// Anything else (integers, booleans), under the file format's name for it.
    Other(String),
}

/// One tensor of a weights file, borrowed from the file's bytes: row-major, little-endian, and
/// `data` holds exactly the tensor's elements.
#[derive(Debug, Clone)]
pub struct StoredTensor<'a> {
    /// The shape, in PyTorch's layout.
    pub shape: Vec<usize>,
    /// The stored type.
    pub dtype: StoredDtype,
    /// The elements' bytes.
    pub data: &'a [u8],
}

impl<'a> StoredTensor<'a> {
    fn from_safetensors(view: &TensorView<'a>) -> Self {
        let dtype = match view.dtype() {
            Dtype::F32 => StoredDtype::F32,
            Dtype::F64 => StoredDtype::F64,
            Dtype::F16 => StoredDtype::F16,
            Dtype::BF16 => StoredDtype::BF16,
            other => StoredDtype::Other(format!("{other:?}")),
        };
        StoredTensor {
            shape: view.shape().to_vec(),
            dtype,
            data: view.data(),
        }
    }

    /// The values as f32.
    ///
    /// # Errors
    /// [`ImportError::UnsupportedDtype`] for a type that is not floating point, or bytes that do
    /// not hold the shape's element count.
    pub fn to_f32(&self, key: &str) -> Result<Vec<f32>, ImportError> {
        let unsupported = |dtype: String| ImportError::UnsupportedDtype {
            key: key.to_owned(),
            dtype,
        };
        let width = match &self.dtype {
            StoredDtype::F32 => 4,
            StoredDtype::F64 => 8,
            StoredDtype::F16 | StoredDtype::BF16 => 2,
            StoredDtype::Other(name) => return Err(unsupported(name.clone())),
        };
        let count = self.shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d));
        if count.and_then(|n| n.checked_mul(width)) != Some(self.data.len()) {
            return Err(unsupported(format!(
                "{:?} with {} bytes for shape {:?}",
                self.dtype,
                self.data.len(),
                self.shape
            )));
        }
        let bytes = self.data;
        Ok(match self.dtype {
            StoredDtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            // Checkpoints in f64 lose nothing that matters: burn trains in f32.
            StoredDtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            StoredDtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            // `Other` was refused above.
            StoredDtype::BF16 | StoredDtype::Other(_) => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        })
    }
}

/// The tensors of a safetensors file, in the file's order.
///
/// # Errors
/// [`ImportError::NotSafetensors`] when the bytes are not a safetensors file.
pub fn read_safetensors(bytes: &[u8]) -> Result<Vec<(String, StoredTensor<'_>)>, ImportError> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| ImportError::NotSafetensors(e.to_string()))?;
    let mut tensors: Vec<(String, StoredTensor<'_>)> = file
        .iter()
        .map(|(key, view)| (key.to_owned(), StoredTensor::from_safetensors(&view)))
        .collect();
    // `iter` follows the header's (hash) order; offsets give the order the tensors were written.
    tensors.sort_by_key(|(_, t)| t.data.as_ptr() as usize);
    Ok(tensors)
}

/// Loads a torchvision DenseNet `state_dict` saved as safetensors into `model`.
///
/// The model keeps its device (and autodiff setting); its parameters are replaced, not
/// initialised first. On error nothing is returned: the model is consumed.
pub fn load_torchvision_safetensors(
    model: DenseNet,
    bytes: &[u8],
) -> Result<DenseNet, ImportError> {
    load_state_dict(model, read_safetensors(bytes)?)
}

/// Loads a torchvision DenseNet `state_dict`, as named tensors (from a safetensors or a `.pth`
/// file), into `model`; see the module's documentation for the rules.
///
/// # Errors
/// [`ImportError::Mismatch`] when the tensors do not fit the model (nothing is returned
/// half-loaded), [`ImportError::UnsupportedDtype`] for a parameter stored as integers.
pub fn load_state_dict(
    model: DenseNet,
    stored: Vec<(String, StoredTensor<'_>)>,
) -> Result<DenseNet, ImportError> {
    let mut tensors = HashMap::new();
    // A file holding one tensor under both its legacy and its current name is ambiguous: the
    // second one is reported as unexpected rather than silently preferred.
    let mut duplicates = Vec::new();
    for (key, tensor) in stored {
        if key.ends_with(".num_batches_tracked") {
            continue;
        }
        match tensors.entry(current_key(&key)) {
            Entry::Occupied(_) => duplicates.push(key),
            Entry::Vacant(slot) => {
                slot.insert((key, tensor));
            }
        }
    }
    let mut loader = Loader {
        tensors,
        path: Vec::new(),
        used: BTreeSet::new(),
        report: MismatchReport::default(),
        dtype_error: None,
    };
    let model = model.map(&mut loader);
    if let Some(error) = loader.dtype_error {
        return Err(error);
    }
    let mut report = loader.report;
    report.unexpected = loader
        .tensors
        .values()
        .filter(|(original, _)| !loader.used.contains(original))
        .map(|(original, _)| original.clone())
        .chain(duplicates)
        .collect();
    report.unexpected.sort();
    if report.is_empty() {
        Ok(model)
    } else {
        Err(ImportError::Mismatch(report))
    }
}

/// The torchvision keys `model` expects, each with its shape in PyTorch's layout, in module
/// order (`num_batches_tracked` aside, as [`load_torchvision_safetensors`] ignores it).
pub fn torchvision_keys<M: Module>(model: &M) -> Vec<(String, Vec<usize>)> {
    let mut lister = KeyLister {
        path: Vec::new(),
        keys: Vec::new(),
    };
    model.visit(&mut lister);
    lister.keys
}

/// One parameter or running statistic of a model under its torchvision key: what
/// [`super::file::save_model`] writes.
pub(crate) struct TorchTensor {
    /// torchvision's key, e.g. `features.denseblock1.denselayer1.norm1.running_var`.
    pub key: String,
    /// The shape in PyTorch's layout (`[out, in]` for the classifier weight).
    pub shape: Vec<usize>,
    /// burn holds it transposed relative to PyTorch (`Linear` weights), so the values read back
    /// must be transposed before they are written.
    pub transposed: bool,
    /// The values in burn's layout, flattened, still on the model's device: reading them is
    /// async on WebGPU, which a (synchronous) visitor cannot do.
    pub values: Tensor<1>,
}

/// Every tensor [`torchvision_keys`] lists, in the same order, with its values on the device.
pub(crate) fn torchvision_tensors<M: Module>(model: &M) -> Vec<TorchTensor> {
    let mut collector = TensorCollector {
        path: Vec::new(),
        tensors: Vec::new(),
    };
    model.visit(&mut collector);
    collector.tensors
}

/// torchvision's rewrite of its legacy DenseNet keys, without a regex engine:
/// `^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$`
/// becomes group 1 + group 2, e.g. `features.denseblock1.denselayer1.norm.1.weight` →
/// `features.denseblock1.denselayer1.norm1.weight`. Other keys are returned unchanged.
pub fn current_key(key: &str) -> String {
    let mut parts = key.rsplitn(4, '.');
    let (Some(param), Some(index), Some(kind), Some(layer)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return key.to_owned();
    };
    let layer_number = layer.trim_end_matches(|c: char| c.is_ascii_digit());
    let is_legacy = matches!(param, "weight" | "bias" | "running_mean" | "running_var")
        && matches!(index, "1" | "2")
        && matches!(kind, "norm" | "relu" | "conv")
        && layer_number.len() < layer.len()
        && layer_number.ends_with("denselayer");
    if is_legacy {
        format!("{layer}.{kind}{index}.{param}")
    } else {
        key.to_owned()
    }
}

/// Where a burn parameter lives in a torchvision state dict.
struct TorchTarget {
    key: String,
    /// burn stores it transposed (`Linear` weights).
    transposed: bool,
}

/// Maps a burn module path, as `(field or index, container type)` pairs from
/// `enter_module`, to torchvision's key.
fn torch_target(path: &[(String, String)]) -> TorchTarget {
    let mut parts: Vec<String> = Vec::with_capacity(path.len());
    let mut iter = path.iter().peekable();
    while let Some((name, _)) = iter.next() {
        // A `Vec` field is followed by its index (container type "Vec"): fold the two into
        // torchvision's 1-based child name.
        let singular = match name.as_str() {
            "denseblocks" => Some("denseblock"),
            "denselayers" => Some("denselayer"),
            "transitions" => Some("transition"),
            _ => None,
        };
        if let (Some(singular), Some((index, container))) = (singular, iter.peek())
            && container == "Vec"
            && let Ok(index) = index.parse::<usize>()
        {
            parts.push(format!("{singular}{}", index + 1));
            iter.next();
            continue;
        }
        parts.push(name.clone());
    }
    let parent = path.last().map_or("", |(_, container)| container.as_str());
    let mut transposed = false;
    if let Some(leaf) = parts.last_mut() {
        match (parent, leaf.as_str()) {
            // burn's BatchNorm names PyTorch's weight and bias after the paper's γ and β.
            ("Struct:BatchNorm", "gamma") => *leaf = "weight".to_owned(),
            ("Struct:BatchNorm", "beta") => *leaf = "bias".to_owned(),
            ("Struct:Linear", "weight") => transposed = true,
            _ => {}
        }
    }
    TorchTarget {
        key: parts.join("."),
        transposed,
    }
}

/// The model's shape in PyTorch's layout.
fn torch_shape(burn_shape: &[usize], transposed: bool) -> Vec<usize> {
    let mut shape = burn_shape.to_vec();
    if transposed {
        shape.reverse();
    }
    shape
}

struct KeyLister {
    path: Vec<(String, String)>,
    keys: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for KeyLister {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_owned(), container_type.to_owned()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let target = torch_target(&self.path);
        let shape = torch_shape(param.lazy_shape().as_slice(), target.transposed);
        self.keys.push((target.key, shape));
    }
}

struct TensorCollector {
    path: Vec<(String, String)>,
    tensors: Vec<TorchTensor>,
}

impl ModuleVisitor for TensorCollector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_owned(), container_type.to_owned()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let target = torch_target(&self.path);
        let value = param.val();
        let burn_shape = value.dims();
        let len = burn_shape.iter().product::<usize>();
        self.tensors.push(TorchTensor {
            shape: torch_shape(&burn_shape, target.transposed),
            key: target.key,
            transposed: target.transposed,
            values: value.reshape([len]),
        });
    }
}

struct Loader<'a> {
    /// Current key → (key as written in the file, tensor).
    tensors: HashMap<String, (String, StoredTensor<'a>)>,
    path: Vec<(String, String)>,
    /// File keys (as written) that found a place in the model.
    used: BTreeSet<String>,
    report: MismatchReport,
    /// The first tensor that could not be converted to f32.
    dtype_error: Option<ImportError>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_owned(), container_type.to_owned()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let target = torch_target(&self.path);
        let burn_shape = param.lazy_shape().to_vec();
        let in_model = torch_shape(&burn_shape, target.transposed);
        let Some((original, view)) = self.tensors.get(&target.key) else {
            self.report.missing.push(target.key);
            return param;
        };
        self.used.insert(original.clone());
        if view.shape != in_model {
            self.report.wrong_shape.push(WrongShape {
                key: original.clone(),
                in_file: view.shape.clone(),
                in_model,
            });
            return param;
        }
        let values = match view.to_f32(original) {
            Ok(values) => values,
            Err(error) => {
                self.dtype_error.get_or_insert(error);
                return param;
            }
        };
        let values = if target.transposed {
            transpose(&values, in_model[0], in_model[1])
        } else {
            values
        };
        // Built straight on the parameter's device, so a lazy parameter is never initialised
        // only to be overwritten; `transform_for_load` keeps its autodiff setting.
        let tensor =
            Tensor::<D>::from_data(TensorData::new(values, burn_shape), &param.lazy_device());
        let id = param.id;
        param.transform_for_load(tensor, id)
    }
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
pub(crate) fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use crate::model::densenet::DenseNetConfig;
    use burn::tensor::Device;

    const GRAY_WEIGHTS: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/gray.weights.safetensors");
    const GRAY_LEGACY: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/gray.weights_legacy.safetensors");
    const GRAY_IO: &[u8] = include_bytes!("../../tests/fixtures/densenet_tiny/gray.io.safetensors");
    const RGB_WEIGHTS: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/rgb.weights.safetensors");
    const RGB_LEGACY: &[u8] =
        include_bytes!("../../tests/fixtures/densenet_tiny/rgb.weights_legacy.safetensors");
    const RGB_IO: &[u8] = include_bytes!("../../tests/fixtures/densenet_tiny/rgb.io.safetensors");
    /// `torchvision.models.densenet121().state_dict()`: every key and shape, one per line.
    const DENSENET121_KEYS: &str =
        include_str!("../../tests/fixtures/densenet_tiny/densenet121_state_dict.txt");

    /// The architecture `make_fixture.py` builds with torchvision.
    fn tiny(in_channels: usize) -> DenseNetConfig {
        DenseNetConfig::new(3)
            .with_in_channels(in_channels)
            .with_growth_rate(4)
            .with_block_config(vec![2, 2])
            .with_num_init_features(8)
            .with_bn_size(2)
    }

    fn read(io: &[u8], name: &str) -> (Vec<f32>, Vec<usize>) {
        let file = SafeTensors::deserialize(io).expect("fixture is safetensors");
        let view = file.tensor(name).expect("fixture tensor");
        (
            StoredTensor::from_safetensors(&view)
                .to_f32(name)
                .expect("fixture is f32"),
            view.shape().to_vec(),
        )
    }

    fn assert_close(got: Tensor<2>, expected: &[f32], what: &str) {
        let got = got.into_data().try_to_vec::<f32>().expect("f32 data");
        assert_eq!(got.len(), expected.len(), "{what}");
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            // PyTorch and burn sum the same f32 products in different orders (GEMM blocking,
            // pooling), so results differ in the last bits: the largest difference seen here is
            // 4.3e-6. 1e-4 (absolute plus relative) leaves room for other CPUs' SIMD paths and
            // still catches a wrong weight, layout or BatchNorm mode: batch statistics instead of
            // running ones move the logits by 0.18.
            let tolerance = 1e-4 * (1.0 + e.abs());
            assert!(
                (g - e).abs() <= tolerance,
                "{what}[{i}]: burn {g} vs PyTorch {e}"
            );
        }
    }

    fn check_against_pytorch(weights: &[u8], io: &[u8], in_channels: usize, device: &Device) {
        let model = tiny(in_channels).init(device);
        let model = load_torchvision_safetensors(model, weights).expect("fixture weights load");
        let (input, input_shape) = read(io, "input");
        let (logits, _) = read(io, "logits");
        let (features, features_shape) = read(io, "features");
        let images = Tensor::<4>::from_data(TensorData::new(input, input_shape), device);

        let got_features = model.forward_features(images.clone());
        assert_eq!(got_features.dims().to_vec(), features_shape);
        assert_close(got_features.flatten(1, 3), &features, "features");
        assert_close(model.forward(images.clone()), &logits, "logits");
        let probabilities: Vec<f32> = logits.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
        assert_close(
            model.forward_probabilities(images),
            &probabilities,
            "probabilities",
        );
    }

    #[test]
    fn gray_densenet_matches_pytorch_eval() {
        // A plain (non-autodiff) device: burn's BatchNorm uses running statistics there, as
        // PyTorch's does in eval mode.
        check_against_pytorch(GRAY_WEIGHTS, GRAY_IO, 1, &cpu_device());
    }

    #[test]
    fn legacy_key_names_load_to_the_same_outputs() {
        check_against_pytorch(GRAY_LEGACY, GRAY_IO, 1, &cpu_device());
        check_against_pytorch(RGB_LEGACY, RGB_IO, 3, &cpu_device());
    }

    #[test]
    fn rgb_densenet_matches_pytorch_eval() {
        check_against_pytorch(RGB_WEIGHTS, RGB_IO, 3, &cpu_device());
    }

    #[test]
    fn valid_on_an_autodiff_device_matches_pytorch_eval() {
        // Weights loaded into a training model, then evaluated with `valid()` as the worker
        // does: `valid` drops autodiff and training flags, so BatchNorm uses running statistics.
        let device = cpu_device().autodiff();
        let model = load_torchvision_safetensors(tiny(1).init(&device), GRAY_WEIGHTS)
            .expect("fixture weights load");
        let (input, shape) = read(GRAY_IO, "input");
        let (logits, _) = read(GRAY_IO, "logits");
        let model = model.valid();
        let images = Tensor::<4>::from_data(TensorData::new(input, shape), &cpu_device());
        assert_close(model.forward(images), &logits, "logits");
    }

    #[test]
    fn densenet121_keys_and_shapes_are_torchvision_s() {
        let model = DenseNetConfig::densenet121(1000, 3).init(&cpu_device());
        let ours: BTreeSet<(String, Vec<usize>)> = torchvision_keys(&model).into_iter().collect();
        let theirs: BTreeSet<(String, Vec<usize>)> = DENSENET121_KEYS
            .lines()
            .filter(|line| !line.is_empty() && !line.contains("num_batches_tracked"))
            .map(|line| {
                let (key, shape) = line.split_once(' ').expect("`key dims` line");
                let shape = shape
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| d.parse().expect("a dimension"))
                    .collect();
                (key.to_owned(), shape)
            })
            .collect();
        let only_ours: Vec<_> = ours.difference(&theirs).collect();
        let only_theirs: Vec<_> = theirs.difference(&ours).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "only in burn: {only_ours:?}\nonly in torchvision: {only_theirs:?}"
        );
        assert_eq!(
            ours.len(),
            727 - 121,
            "torchvision: 727 keys, 121 num_batches_tracked"
        );
    }

    #[test]
    fn legacy_keys_follow_torchvision_s_regex() {
        let cases = [
            (
                "features.denseblock1.denselayer1.norm.1.weight",
                "features.denseblock1.denselayer1.norm1.weight",
            ),
            (
                "features.denseblock4.denselayer16.conv.2.weight",
                "features.denseblock4.denselayer16.conv2.weight",
            ),
            (
                "module.features.denseblock2.denselayer3.norm.2.running_var",
                "module.features.denseblock2.denselayer3.norm2.running_var",
            ),
            // Not matched by the regex: left alone.
            (
                "features.denseblock1.denselayer1.norm.1.num_batches_tracked",
                "features.denseblock1.denselayer1.norm.1.num_batches_tracked",
            ),
            (
                "features.denseblock1.denselayer1.norm.3.weight",
                "features.denseblock1.denselayer1.norm.3.weight",
            ),
            (
                "features.transition1.norm.weight",
                "features.transition1.norm.weight",
            ),
            (
                "features.denseblock1.denselayer.norm.1.weight",
                "features.denseblock1.denselayer.norm.1.weight",
            ),
            ("classifier.weight", "classifier.weight"),
        ];
        for (legacy, current) in cases {
            assert_eq!(current_key(legacy), current, "{legacy}");
        }
    }

    #[test]
    fn wrong_class_count_is_reported_by_key() {
        let model = DenseNetConfig::new(5)
            .with_growth_rate(4)
            .with_block_config(vec![2, 2])
            .with_num_init_features(8)
            .with_bn_size(2)
            .init(&cpu_device());
        let Err(ImportError::Mismatch(report)) = load_torchvision_safetensors(model, GRAY_WEIGHTS)
        else {
            panic!("3-class weights must not load into a 5-class model");
        };
        assert_eq!(
            report.wrong_shape,
            vec![
                WrongShape {
                    key: "classifier.weight".into(),
                    in_file: vec![3, 16],
                    in_model: vec![5, 16],
                },
                WrongShape {
                    key: "classifier.bias".into(),
                    in_file: vec![3],
                    in_model: vec![5],
                },
            ]
        );
        assert!(report.missing.is_empty() && report.unexpected.is_empty());
        let message = ImportError::Mismatch(report).to_string();
        assert!(
            message.contains("classifier.weight is [3, 16] in the file, [5, 16] in the model"),
            "{message}"
        );
    }

    #[test]
    fn missing_and_unexpected_keys_are_listed() {
        // A three-block model against two-block weights: block 3 and transition 2 are missing.
        let model = tiny(1).with_block_config(vec![2, 2, 1]).init(&cpu_device());
        let Err(ImportError::Mismatch(report)) = load_torchvision_safetensors(model, GRAY_WEIGHTS)
        else {
            panic!("two-block weights must not load into a three-block model");
        };
        assert!(
            report
                .missing
                .contains(&"features.denseblock3.denselayer1.conv2.weight".to_owned()),
            "{report:?}"
        );
        assert!(
            report
                .missing
                .contains(&"features.transition2.norm.running_mean".to_owned()),
            "{report:?}"
        );
        // norm5 and the classifier see more channels than the file has: 12 + 4 = 16 vs 20.
        assert!(
            report
                .wrong_shape
                .iter()
                .any(|w| w.key == "features.norm5.weight"),
            "{report:?}"
        );

        // A one-block model: the file's block 2 and transition 1 have nowhere to go.
        let model = tiny(1).with_block_config(vec![2]).init(&cpu_device());
        let Err(ImportError::Mismatch(report)) = load_torchvision_safetensors(model, GRAY_WEIGHTS)
        else {
            panic!("two-block weights must not load into a one-block model");
        };
        assert!(
            report
                .unexpected
                .contains(&"features.transition1.conv.weight".to_owned()),
            "{report:?}"
        );
        assert!(
            report
                .unexpected
                .iter()
                .all(|k| k.contains("denseblock2") || k.contains("transition1")),
            "{report:?}"
        );
    }

    #[test]
    fn a_tensor_under_both_names_is_reported() {
        // Every tensor of the gray file, plus one of them again under its legacy name.
        let file = SafeTensors::deserialize(GRAY_WEIGHTS).expect("fixture is safetensors");
        let mut tensors: Vec<(String, TensorView<'_>)> = file.tensors();
        let (_, norm1) = tensors
            .iter()
            .find(|(k, _)| k == "features.denseblock1.denselayer1.norm1.weight")
            .expect("fixture has the key")
            .clone();
        tensors.push((
            "features.denseblock1.denselayer1.norm.1.weight".to_owned(),
            norm1,
        ));
        let bytes = safetensors::serialize(tensors, None).expect("serialisable");
        let Err(ImportError::Mismatch(report)) =
            load_torchvision_safetensors(tiny(1).init(&cpu_device()), &bytes)
        else {
            panic!("a key present twice must be an error");
        };
        assert_eq!(report.unexpected.len(), 1, "{report:?}");
        assert!(report.unexpected[0].starts_with("features.denseblock1.denselayer1.norm"));
    }

    #[test]
    fn bytes_that_are_not_safetensors_are_an_error() {
        // A PyTorch .pth starts with a zip header.
        let result = load_torchvision_safetensors(tiny(1).init(&cpu_device()), b"PK\x03\x04rest");
        assert!(
            matches!(result, Err(ImportError::NotSafetensors(_))),
            "{result:?}"
        );
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        // [[1, 2, 3], [4, 5, 6]] → [[1, 4], [2, 5], [3, 6]].
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
