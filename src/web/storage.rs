//! Files in the browser's Origin Private File System (OPFS), where the worker keeps the training
//! checkpoint: private to this origin, never uploaded, kept across reloads.
//!
//! Called through `js_sys::Reflect` rather than web-sys bindings: the web-sys features for OPFS
//! would rebuild burn for wasm. A write goes through `createWritable()`, which writes to a swap
//! file and replaces the old file only on `close()`, so a tab closed mid-write keeps the
//! previous checkpoint whole.

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Writes `bytes` to the file `name`, replacing it.
///
/// # Errors
/// The browser's message (no OPFS, quota exceeded).
pub async fn write_file(name: &str, bytes: &[u8]) -> Result<(), String> {
    let handle = file_handle(name, true).await?;
    let writable = call_async(&handle, "createWritable", &[]).await?;
    let data = Uint8Array::from(bytes);
    let written = call_async(&writable, "write", &[data.into()]).await;
    if let Err(e) = written {
        // Drop the swap file; the old file stays as it was.
        let _ = call_async(&writable, "abort", &[]).await;
        return Err(e);
    }
    call_async(&writable, "close", &[]).await.map(|_| ())
}

/// The file `name`'s bytes, or `None` when there is no such file.
///
/// # Errors
/// The browser's message (no OPFS, a read failure).
pub async fn read_file(name: &str) -> Result<Option<Vec<u8>>, String> {
    let handle = match file_handle(name, false).await {
        Ok(handle) => handle,
        Err(e) if e.contains("NotFoundError") => return Ok(None),
        Err(e) => return Err(e),
    };
    let file = call_async(&handle, "getFile", &[]).await?;
    let buffer = call_async(&file, "arrayBuffer", &[]).await?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}

/// Removes the file `name`; no file is not an error.
///
/// # Errors
/// The browser's message.
pub async fn remove_file(name: &str) -> Result<(), String> {
    let dir = root().await?;
    match call_async(&dir, "removeEntry", &[name.into()]).await {
        Err(e) if !e.contains("NotFoundError") => Err(e),
        _ => Ok(()),
    }
}

/// `navigator.storage.getDirectory()`.
async fn root() -> Result<JsValue, String> {
    let global = js_sys::global();
    let navigator = get(&global, "navigator")?;
    let storage = get(&navigator, "storage")?;
    call_async(&storage, "getDirectory", &[]).await
}

/// `root.getFileHandle(name, {create})`.
async fn file_handle(name: &str, create: bool) -> Result<JsValue, String> {
    let dir = root().await?;
    let options = Object::new();
    Reflect::set(&options, &"create".into(), &create.into()).map_err(describe)?;
    call_async(&dir, "getFileHandle", &[name.into(), options.into()]).await
}

fn get(target: &JsValue, key: &str) -> Result<JsValue, String> {
    let value = Reflect::get(target, &key.into()).map_err(describe)?;
    if value.is_undefined() {
        Err(format!(
            "this browser has no {key} here (the Origin Private File System is needed)"
        ))
    } else {
        Ok(value)
    }
}

/// Calls `target.method(...args)` and awaits the promise it returns.
async fn call_async(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let function: Function = get(target, method)?
        .dyn_into()
        .map_err(|_| format!("{method} is not a function"))?;
    let array: js_sys::Array = args.iter().collect();
    let promise: Promise = function
        .apply(target, &array)
        .map_err(describe)?
        .dyn_into()
        .map_err(|_| format!("{method} did not return a promise"))?;
    JsFuture::from(promise).await.map_err(describe)
}

/// A JS error as text: `name: message` (`NotFoundError: …`), else its string form.
fn describe(error: JsValue) -> String {
    let field = |key: &str| {
        Reflect::get(&error, &key.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    match (field("name"), field("message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        _ => error.as_string().unwrap_or_else(|| format!("{error:?}")),
    }
}
