//! PyTorch's `torch.save` files (`.pth`, `.pt`) read from bytes, for the browser as for the CLI:
//! a zip archive ([`zip`]) holding a pickle (`data.pkl`, read by the inert machine in
//! [`pickle`]) and one entry per tensor storage (`data/0`, `data/1`, …). [`tree`] walks what the
//! pickle describes — a `state_dict`, a checkpoint dict around one, or a whole pickled
//! `nn.Module` such as torchxrayvision's published models — to named tensors that borrow the
//! archive's bytes.
//!
//! Nothing in the file is executed: Python's `torch.load(weights_only=False)` would import and
//! call every class the pickle names; here they stay names.
//!
//! The legacy format of PyTorch before 1.6 (pickles followed by raw storages, no zip; the format
//! of torchxrayvision's published weights) is read by [`legacy`].

mod legacy;
pub mod pickle;
mod tree;
pub mod zip;

use std::fmt;

use super::import::StoredTensor;

/// Why a `.pth`/`.pt` file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PthError(pub String);

impl fmt::Display for PthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PthError {}

impl From<zip::ZipError> for PthError {
    fn from(e: zip::ZipError) -> Self {
        PthError(format!("not a readable PyTorch file: {e}"))
    }
}

impl From<pickle::PickleError> for PthError {
    fn from(e: pickle::PickleError) -> Self {
        PthError(format!("not a readable PyTorch file: {e}"))
    }
}

/// What a `torch.save` file holds, as far as weights go.
#[derive(Debug)]
pub struct PthFile<'a> {
    /// Every tensor, under its `state_dict` key (`features.conv0.weight`), in file order.
    pub tensors: Vec<(String, StoredTensor<'a>)>,
    /// For a pickled module, its class (`torchxrayvision.models.DenseNet`).
    pub module_class: Option<String>,
    /// For a pickled module with a `targets` or `pathologies` attribute (torchxrayvision), the
    /// name of each output.
    pub labels: Option<Vec<String>>,
}

/// Whether `bytes` look like PyTorch's legacy (pre-1.6) format: a bare pickle, protocol 2, that
/// starts with torch's magic number.
#[must_use]
pub fn is_legacy_torch_save(bytes: &[u8]) -> bool {
    // PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c.
    bytes.starts_with(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19")
}

/// Reads a `torch.save` file: a zip archive, or the legacy format.
///
/// # Errors
/// A [`PthError`] sentence: not a zip, no `data.pkl`, a big-endian file, a tensor whose storage
/// is missing or too short, a strided view.
pub fn read_pth(bytes: &[u8]) -> Result<PthFile<'_>, PthError> {
    if is_legacy_torch_save(bytes) {
        return legacy::read_legacy(bytes);
    }
    let entries = zip::read_entries(bytes)?;
    let pickle = entries
        .iter()
        .find(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
        .ok_or_else(|| {
            PthError("a zip archive, but not a PyTorch file (no data.pkl)".to_owned())
        })?;
    // torch names the archive's folder after the file (older versions) or `archive`.
    let prefix = &pickle.name[..pickle.name.len() - "data.pkl".len()];
    let entry = |name: &str| {
        entries
            .iter()
            .find(|e| e.name.strip_prefix(prefix) == Some(name))
            .map(|e| e.data)
    };
    if let Some(order) = entry("byteorder")
        && order != b"little"
    {
        return Err(PthError(
            "this PyTorch file was saved on a big-endian machine; only little-endian files are \
             read"
                .to_owned(),
        ));
    }
    let root = pickle::unpickle(pickle.data)?;
    tree::collect(&root, &|key| entry(&format!("data/{key}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::import::StoredDtype;

    const TORCHVISION: &[u8] = include_bytes!("../../../tests/fixtures/pth/torchvision_legacy.pth");
    const XRV: &[u8] = include_bytes!("../../../tests/fixtures/pth/xrv_tiny.pt");
    const XRV_LEGACY: &[u8] = include_bytes!("../../../tests/fixtures/pth/xrv_tiny_legacy.pt");

    #[test]
    fn a_state_dict_gives_its_keys_in_order() {
        let file = read_pth(TORCHVISION).expect("fixture reads");
        assert!(file.module_class.is_none() && file.labels.is_none());
        let first = &file.tensors[0];
        assert_eq!(first.0, "features.conv0.weight");
        assert_eq!(first.1.shape, vec![8, 3, 7, 7]);
        assert_eq!(first.1.dtype, StoredDtype::F32);
        assert_eq!(first.1.data.len(), 8 * 3 * 49 * 4);
        assert!(
            file.tensors
                .iter()
                .any(|(k, _)| k == "features.denseblock1.denselayer1.norm.1.weight")
        );
        let tracked = file
            .tensors
            .iter()
            .find(|(k, _)| k.ends_with("num_batches_tracked"))
            .expect("BatchNorm counters are in a state dict");
        assert_eq!(tracked.1.dtype, StoredDtype::Other("LongStorage".into()));
        assert_eq!(tracked.1.data, 7i64.to_le_bytes());
    }

    #[test]
    fn a_pickled_module_gives_its_state_dict_keys() {
        let file = read_pth(XRV).expect("fixture reads");
        assert_eq!(
            file.module_class.as_deref(),
            Some("torchxrayvision.models.DenseNet")
        );
        let keys: Vec<&str> = file.tensors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys[0], "op_threshs");
        assert!(keys.contains(&"features.denseblock2.denselayer2.conv2.weight"));
        assert!(keys.contains(&"features.norm5.running_var"));
        let classifier = file
            .tensors
            .iter()
            .find(|(k, _)| k == "classifier.weight")
            .expect("a classifier");
        assert_eq!(classifier.1.shape, vec![18, 16]);
    }

    #[test]
    fn the_legacy_format_gives_the_same_tensors() {
        let zip = read_pth(XRV).expect("zip fixture reads");
        let legacy = read_pth(XRV_LEGACY).expect("legacy fixture reads");
        assert_eq!(legacy.module_class, zip.module_class);
        assert_eq!(legacy.tensors.len(), zip.tensors.len());
        for ((lk, lt), (zk, zt)) in legacy.tensors.iter().zip(&zip.tensors) {
            assert_eq!(lk, zk);
            assert_eq!(
                (&lt.shape, &lt.dtype, lt.data),
                (&zt.shape, &zt.dtype, zt.data),
                "{lk}"
            );
        }
    }

    #[test]
    fn damaged_legacy_files_are_errors_not_panics() {
        for len in (0..XRV_LEGACY.len()).step_by(61) {
            assert!(read_pth(&XRV_LEGACY[..len]).is_err(), "truncated at {len}");
        }
        for at in (0..XRV_LEGACY.len()).step_by(11) {
            let mut bad = XRV_LEGACY.to_vec();
            bad[at] ^= 0xA5;
            let _ = read_pth(&bad);
        }
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        for len in (0..XRV.len()).step_by(97) {
            assert!(read_pth(&XRV[..len]).is_err(), "truncated at {len}");
        }
        for at in (0..XRV.len()).step_by(13) {
            let mut bad = XRV.to_vec();
            bad[at] ^= 0xA5;
            let _ = read_pth(&bad);
        }
    }
}
