//! From an unpickled `torch.save` value to named tensors, as `state_dict()` would name them.
//!
//! Three shapes are read:
//! - a dict of tensors (`torch.save(model.state_dict())`): its keys;
//! - a dict around one (`{"state_dict": …, "epoch": …}`, DataParallel's `module.` prefix): the
//!   dotted path, then the one leading component all keys share is dropped while no key starts
//!   with `features.` yet;
//! - a pickled `nn.Module` (`torch.save(model)`): an inert object whose `BUILD` state is the
//!   module's `__dict__`; its `_parameters`, persistent `_buffers` and `_modules` are walked as
//!   `state_dict()` does, and other attributes are ignored.
//!
//! A tensor is the record of a call to `torch._utils._rebuild_tensor_v2(storage, offset, size,
//! stride, …)` (wrapped in `_rebuild_parameter` for an `nn.Parameter`), its storage a persistent
//! id `('storage', torch.FloatStorage, key, location, numel)` naming the archive entry
//! `data/<key>`.

use super::PthError;
use super::PthFile;
use super::pickle::{Object, Value};
use crate::model::import::{StoredDtype, StoredTensor};

/// How deep the walk goes: DenseNet's modules nest 4 deep; a cyclic or absurd pickle stops here
/// instead of overflowing the stack.
const MAX_DEPTH: usize = 64;

/// How many values the walk visits at most. DenseNet121 pickled whole is about 2,000; the memo
/// lets a small pickle reference one dict from many places, so a hostile file could otherwise
/// make a walk of 2^64 steps out of 64 nested pairs of references.
const MAX_VISITS: usize = 1_000_000;

/// What the walk found.
struct Collector<'a, 'f> {
    storage: &'f dyn Fn(&str) -> Option<&'a [u8]>,
    tensors: Vec<(String, StoredTensor<'a>)>,
    visits: usize,
}

/// Walks `root`; `storage(key)` gives the bytes of archive entry `data/<key>`.
pub(super) fn collect<'a>(
    root: &Value,
    storage: &dyn Fn(&str) -> Option<&'a [u8]>,
) -> Result<PthFile<'a>, PthError> {
    let mut collector = Collector {
        storage,
        tensors: Vec::new(),
        visits: 0,
    };
    collector.walk(root, "", 0)?;
    let mut tensors = collector.tensors;
    if tensors.is_empty() {
        return Err(PthError(
            "this PyTorch file holds no tensors (is it a model's weights?)".to_owned(),
        ));
    }
    strip_common_prefix(&mut tensors);
    let (module_class, labels) = match root {
        Value::Object(object) => module_attributes(&object.borrow()),
        _ => (None, None),
    };
    Ok(PthFile {
        tensors,
        module_class,
        labels,
    })
}

impl<'a> Collector<'a, '_> {
    fn walk(&mut self, value: &Value, path: &str, depth: usize) -> Result<(), PthError> {
        self.visits += 1;
        if depth > MAX_DEPTH || self.visits > MAX_VISITS {
            return Err(PthError(
                "the PyTorch file nests deeper or wider than any model does".to_owned(),
            ));
        }
        match value {
            Value::Dict(items) => {
                for (key, child) in items.borrow().iter() {
                    let Some(name) = key_name(key) else { continue };
                    self.walk(child, &join(path, &name), depth + 1)?;
                }
            }
            Value::Object(object) => {
                let object = object.borrow();
                let class = &object.class;
                if class.is("torch._utils", "_rebuild_tensor_v2") {
                    let tensor = self.tensor(&object, path)?;
                    self.tensors.push((path.to_owned(), tensor));
                } else if class.module == "torch._utils"
                    && class.name.starts_with("_rebuild_parameter")
                {
                    if let Some(data) = first_arg(&object) {
                        self.walk(&data, path, depth + 1)?;
                    }
                } else if class.module == "torch._utils" && class.name.starts_with("_rebuild") {
                    return Err(PthError(format!(
                        "`{path}` is stored with {class}, which this reader does not support \
                         (only dense CPU tensors are)"
                    )));
                } else if let Some(state) = &object.state
                    && state.get("_modules").is_some()
                {
                    self.walk_module(state, path, depth)?;
                } else {
                    // An OrderedDict subclass (items added by SETITEMS), or anything else: its
                    // items, if any, are walked like a dict's.
                    for (key, child) in &object.items {
                        let Some(name) = key_name(key) else { continue };
                        self.walk(child, &join(path, &name), depth + 1)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An `nn.Module`'s `__dict__`: parameters, then persistent buffers, then children, as
    /// `state_dict()` orders them.
    fn walk_module(&mut self, state: &Value, path: &str, depth: usize) -> Result<(), PthError> {
        let non_persistent: Vec<String> = match state.get("_non_persistent_buffers_set") {
            Some(Value::List(names)) => names
                .borrow()
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        for field in ["_parameters", "_buffers", "_modules"] {
            let Some(Value::Dict(items)) = state.get(field) else {
                continue;
            };
            for (key, child) in items.borrow().iter() {
                let Some(name) = key_name(key) else { continue };
                if field == "_buffers" && non_persistent.contains(&name) {
                    continue;
                }
                self.walk(child, &join(path, &name), depth + 1)?;
            }
        }
        Ok(())
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, …)`.
    fn tensor(&self, call: &Object, path: &str) -> Result<StoredTensor<'a>, PthError> {
        let bad = |what: &str| PthError(format!("tensor `{path}`: {what}"));
        let Value::Tuple(args) = &call.args else {
            return Err(bad("its rebuild arguments are not a tuple"));
        };
        let [
            Value::PersistentId(id),
            offset,
            Value::Tuple(size),
            Value::Tuple(stride),
            ..,
        ] = &args[..]
        else {
            return Err(bad(
                "its rebuild arguments are not (storage, offset, size, stride)",
            ));
        };
        let Value::Tuple(id) = &**id else {
            return Err(bad("its storage id is not a tuple"));
        };
        // Legacy files add a sixth element, a view of another storage (PyTorch < 0.4).
        let [
            kind,
            Value::Global(storage_type),
            key,
            _location,
            numel,
            view @ ..,
        ] = &id[..]
        else {
            return Err(bad(
                "its storage id is not ('storage', type, key, location, numel)",
            ));
        };
        if view.iter().any(|v| !matches!(v, Value::None)) {
            return Err(bad("its storage is a view of another (PyTorch before 0.4)"));
        }
        if kind.as_str() != Some("storage") {
            return Err(bad("its storage id is not a storage"));
        }
        let key = match key {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return Err(bad("its storage key is not a name")),
        };
        let dtype = storage_dtype(&storage_type.name);
        let element = element_size(&storage_type.name)
            .ok_or_else(|| bad(&format!("its storage type {storage_type} is unknown")))?;
        let dims = |values: &[Value]| -> Option<Vec<usize>> {
            values
                .iter()
                .map(|v| v.as_int().and_then(|i| usize::try_from(i).ok()))
                .collect()
        };
        let shape = dims(size).ok_or_else(|| bad("its size is not a list of counts"))?;
        let strides = dims(stride).ok_or_else(|| bad("its stride is not a list of counts"))?;
        let offset = offset
            .as_int()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| bad("its offset is not a count"))?;
        let numel = numel
            .as_int()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| bad("its storage size is not a count"))?;
        if strides.len() != shape.len() {
            return Err(bad("its size and stride differ in length"));
        }
        if !is_contiguous(&shape, &strides) {
            return Err(bad(
                "it is a strided view; save `{k: v.contiguous() for k, v in state.items()}`",
            ));
        }
        let count = shape
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .ok_or_else(|| bad("its size overflows"))?;
        let storage = (self.storage)(&key).ok_or_else(|| {
            bad(&format!(
                "its storage data/{key} is missing from the archive"
            ))
        })?;
        let storage_bytes = numel.checked_mul(element);
        if storage_bytes.is_none_or(|n| n > storage.len()) {
            return Err(bad(&format!(
                "its storage data/{key} is shorter than declared"
            )));
        }
        let range = offset
            .checked_add(count)
            .filter(|end| *end <= numel)
            .and_then(|end| Some(offset.checked_mul(element)?..end.checked_mul(element)?))
            .ok_or_else(|| bad("it reaches past the end of its storage"))?;
        Ok(StoredTensor {
            shape,
            dtype,
            data: &storage[range],
        })
    }
}

/// Row-major strides for every dimension longer than 1 (a length-1 dimension's stride is
/// arbitrary in PyTorch).
fn is_contiguous(shape: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1usize;
    for (dim, stride) in shape.iter().zip(strides).rev() {
        if *dim > 1 && *stride != expected {
            return false;
        }
        expected = expected.saturating_mul(*dim);
    }
    true
}

fn storage_dtype(name: &str) -> StoredDtype {
    match name {
        "FloatStorage" => StoredDtype::F32,
        "DoubleStorage" => StoredDtype::F64,
        "HalfStorage" => StoredDtype::F16,
        "BFloat16Storage" => StoredDtype::BF16,
        other => StoredDtype::Other(other.to_owned()),
    }
}

pub(super) fn element_size(name: &str) -> Option<usize> {
    Some(match name {
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "FloatStorage" | "IntStorage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "ByteStorage" | "CharStorage" | "BoolStorage" => 1,
        "ComplexDoubleStorage" => 16,
        _ => return None,
    })
}

fn first_arg(object: &Object) -> Option<Value> {
    match &object.args {
        Value::Tuple(items) => items.first().cloned(),
        _ => None,
    }
}

fn key_name(key: &Value) -> Option<String> {
    match key {
        Value::Str(s) => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Drops a leading component every key shares (`state_dict.`, `model.`, `module.`) until some
/// key starts with `features.`, the first name of every DenseNet key.
fn strip_common_prefix(tensors: &mut [(String, StoredTensor<'_>)]) {
    loop {
        if tensors.iter().any(|(k, _)| k.starts_with("features.")) {
            return;
        }
        let Some(first) = tensors
            .first()
            .and_then(|(k, _)| k.split_once('.'))
            .map(|(head, _)| format!("{head}."))
        else {
            return;
        };
        if !tensors.iter().all(|(k, _)| k.starts_with(&first)) {
            return;
        }
        for (key, _) in tensors.iter_mut() {
            key.drain(..first.len());
        }
    }
}

/// A pickled module's class name and its output labels, where it records them (torchxrayvision
/// sets `targets`/`pathologies` on models built with named weights).
fn module_attributes(object: &Object) -> (Option<String>, Option<Vec<String>>) {
    let Some(state) = &object.state else {
        return (None, None);
    };
    if state.get("_modules").is_none() {
        return (None, None);
    }
    let labels = ["targets", "pathologies"].iter().find_map(|name| {
        let Some(Value::List(list)) = state.get(name) else {
            return None;
        };
        list.borrow()
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
    });
    (Some(object.class.to_string()), labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(key: &str) -> (String, StoredTensor<'static>) {
        (
            key.to_owned(),
            StoredTensor {
                shape: vec![],
                dtype: StoredDtype::F32,
                data: &[0; 4],
            },
        )
    }

    #[test]
    fn wrapper_prefixes_are_dropped_up_to_features() {
        let mut tensors = vec![
            tensor("state_dict.module.features.conv0.weight"),
            tensor("state_dict.module.classifier.bias"),
        ];
        strip_common_prefix(&mut tensors);
        assert_eq!(tensors[0].0, "features.conv0.weight");
        assert_eq!(tensors[1].0, "classifier.bias");

        let mut plain = vec![tensor("features.conv0.weight"), tensor("classifier.bias")];
        strip_common_prefix(&mut plain);
        assert_eq!(plain[0].0, "features.conv0.weight");
    }

    #[test]
    fn shared_references_cannot_make_the_walk_exponential() {
        // d0 = {}; d(i+1) = {"a": d(i), "b": d(i)}: 2^41 paths through 40 small dicts.
        let mut pickle = b"\x80\x02}q\x00".to_vec();
        for i in 0..40u8 {
            pickle.extend_from_slice(b"}(X\x01\x00\x00\x00ah");
            pickle.push(i);
            pickle.extend_from_slice(b"X\x01\x00\x00\x00bh");
            pickle.push(i);
            pickle.extend_from_slice(b"uq");
            pickle.push(i + 1);
        }
        pickle.push(b'.');
        let root = super::super::pickle::unpickle(&pickle).expect("a valid pickle");
        let started = std::time::Instant::now();
        let result = collect(&root, &|_| None);
        assert!(result.is_err());
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn contiguity_ignores_length_one_dimensions() {
        assert!(is_contiguous(&[2, 3], &[3, 1]));
        assert!(is_contiguous(&[1, 3], &[99, 1]));
        assert!(!is_contiguous(&[2, 3], &[1, 2]));
        assert!(is_contiguous(&[], &[]));
    }
}
