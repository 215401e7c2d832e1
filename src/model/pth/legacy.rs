//! PyTorch's legacy `torch.save` format (before 1.6, and `_use_new_zipfile_serialization=False`
//! since): no zip, but five pickles one after another — torch's magic number, the format
//! version (1001), the saving machine's `sys_info`, the object, and the sorted list of storage
//! keys — then each storage in that order as its element count (`i64`) and its raw bytes.
//!
//! torchxrayvision's published DenseNet weights predate PyTorch 1.6 (xrv patches
//! `_non_persistent_buffers_set` into them when it loads them), so this is the format of the
//! files users bring. Storage element sizes are not in the stream: they come from the storage
//! types the object pickle names in its persistent ids.

use std::collections::HashMap;

use super::pickle::{Value, unpickle_prefix};
use super::tree::{self, element_size};
use super::{PthError, PthFile, is_legacy_torch_save};

/// The magic-number pickle's length: PROTO 2, LONG1 of 10 bytes, STOP.
const MAGIC_PICKLE_LEN: usize = 15;
/// The only legacy format version PyTorch ever wrote.
const PROTOCOL_VERSION: i64 = 1001;

/// Reads a legacy `torch.save` stream.
///
/// # Errors
/// A [`PthError`] sentence: not this format, a big-endian file, a truncated stream, a storage
/// whose type is unknown.
pub fn read_legacy(bytes: &[u8]) -> Result<PthFile<'_>, PthError> {
    if !is_legacy_torch_save(bytes) || bytes.get(MAGIC_PICKLE_LEN - 1) != Some(&b'.') {
        return Err(PthError("not a legacy PyTorch file".to_owned()));
    }
    let mut at = MAGIC_PICKLE_LEN;
    let mut next = |what: &str| -> Result<_, PthError> {
        let rest = bytes.get(at..).unwrap_or_default();
        let pickle = unpickle_prefix(rest)
            .map_err(|e| PthError(format!("not a readable PyTorch file ({what}): {e}")))?;
        at += pickle.len;
        Ok(pickle)
    };
    let version = next("format version")?.value;
    if version.as_int() != Some(PROTOCOL_VERSION) {
        return Err(PthError(format!(
            "an unknown legacy PyTorch format version ({version:?})"
        )));
    }
    let sys_info = next("sys_info")?.value;
    if !matches!(sys_info.get("little_endian"), Some(Value::Bool(true))) {
        return Err(PthError(
            "this PyTorch file was saved on a big-endian machine; only little-endian files are \
             read"
                .to_owned(),
        ));
    }
    let object = next("object")?;
    let keys = next("storage keys")?.value;

    // Each storage key's element size, from the storage types the object names.
    let mut element_sizes = HashMap::new();
    for id in &object.persistent_ids {
        if let Value::Tuple(items) = &**id
            && let [kind, Value::Global(storage_type), key, ..] = &items[..]
            && kind.as_str() == Some("storage")
            && let Some(key) = key.as_str()
        {
            let size = element_size(&storage_type.name).ok_or_else(|| {
                PthError(format!("storage {key} has an unknown type {storage_type}"))
            })?;
            element_sizes.insert(key.to_owned(), size);
        }
    }

    let Value::List(keys) = keys else {
        return Err(PthError(
            "not a readable PyTorch file: the storage keys are not a list".to_owned(),
        ));
    };
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for key in keys.borrow().iter() {
        let key = key.as_str().ok_or_else(|| {
            PthError("not a readable PyTorch file: a storage key is not a string".to_owned())
        })?;
        let size = *element_sizes.get(key).ok_or_else(|| {
            PthError(format!(
                "storage {key} is in the file but no tensor names its type"
            ))
        })?;
        let truncated = || PthError("the PyTorch file is truncated".to_owned());
        let count = bytes.get(at..at + 8).ok_or_else(truncated)?;
        let mut word = [0; 8];
        word.copy_from_slice(count);
        at += 8;
        let len = usize::try_from(u64::from_le_bytes(word))
            .ok()
            .and_then(|n| n.checked_mul(size))
            .ok_or_else(truncated)?;
        let end = at.checked_add(len).ok_or_else(truncated)?;
        storages.insert(key.to_owned(), bytes.get(at..end).ok_or_else(truncated)?);
        at = end;
    }
    tree::collect(&object.value, &|key| storages.get(key).copied())
}
