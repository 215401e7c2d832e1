//! What the user hands the page, as a list of [`PickedFile`]s (a path and a way to read its
//! bytes): dropped files and folders, the file and folder pickers, and the built-in demo set.
//!
//! All three end up the same way — `(path, bytes)` pairs sent to the compute worker in batches —
//! so the demo exercises exactly the code path of the user's own data. Nothing is read until
//! [`PickedFile::read`] is awaited, so a folder of thousands of X-rays is listed at once and
//! read batch by batch, behind the worker.
//!
//! Dropped folders are walked with the File and Directory Entries API
//! (`DataTransferItem.webkitGetAsEntry()`, `FileSystemDirectoryReader.readEntries()`, called
//! until it returns nothing, as it hands out at most 100 entries at a time in Chromium). Those
//! callback APIs are called through `js_sys::Reflect` and wrapped in `Promise`s, so no unstable
//! web-sys feature is needed. A file that cannot be listed or read stays in the list and fails
//! on [`PickedFile::read`], so it gets its own line in "Issues with your data".

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DataTransfer, File, HtmlInputElement};

/// Where the built-in demo set lives, relative to the page (trunk copies `www/demo` there).
pub const DEMO_BASE: &str = "./demo/";

/// One file the user gave, not read yet.
#[derive(Clone, Debug)]
pub struct PickedFile {
    /// Its path inside what was dropped or picked (`nih800/train/0_normal/x.png`), `/`-separated.
    pub path: String,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    /// A local file (drop or picker).
    Local(File),
    /// A file of the page's own origin (the demo set).
    Url(String),
    /// Could not even be listed; the reason.
    Failed(String),
}

impl PickedFile {
    /// Reads the whole file.
    ///
    /// # Errors
    /// A sentence for the user when the browser cannot read it (removed since it was picked,
    /// no permission, a failed request for a demo file).
    pub async fn read(&self) -> Result<Vec<u8>, String> {
        match &self.source {
            Source::Local(file) => JsFuture::from(file.array_buffer())
                .await
                .map(|buffer| Uint8Array::new(&buffer).to_vec())
                .map_err(|e| {
                    format!(
                        "{}: the browser could not read the file ({}); check that it still exists",
                        self.path,
                        describe(&e)
                    )
                }),
            Source::Url(url) => fetch_bytes(url)
                .await
                .map_err(|e| format!("{}: could not load it ({e})", self.path)),
            Source::Failed(why) => Err(format!("{}: {why}", self.path)),
        }
    }
}

/// The files of an `<input type=file>`: with `webkitdirectory`, each keeps its path inside the
/// picked folder (`webkitRelativePath`), else its name.
#[must_use]
pub fn from_input(input: &HtmlInputElement) -> Vec<PickedFile> {
    let Some(list) = input.files() else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|file| {
            let relative = property(&file, "webkitRelativePath")
                .as_string()
                .unwrap_or_default();
            let path = if relative.is_empty() {
                file.name()
            } else {
                relative
            };
            PickedFile {
                path: clean(&path),
                source: Source::Local(file),
            }
        })
        .collect()
}

/// The entries of a drop. Must be called *during* the `drop` event: the `DataTransfer` is
/// emptied once the handler returns. Walk them afterwards with [`walk`].
#[must_use]
pub fn drop_entries(data: &DataTransfer) -> Vec<JsValue> {
    let items = data.items();
    let mut entries = Vec::new();
    for i in 0..items.length() {
        let Some(item) = items.get(i) else { continue };
        if item.kind() != "file" {
            continue;
        }
        let entry = call0(&item, "webkitGetAsEntry").unwrap_or(JsValue::NULL);
        if !entry.is_null() && !entry.is_undefined() {
            entries.push(entry);
        } else if let Ok(Some(file)) = item.get_as_file() {
            // A browser without the entries API: the file itself, without folders.
            entries.push(file.into());
        }
    }
    entries
}

/// Every file under the dropped entries, folders walked recursively, in a stable order (by
/// path).
pub async fn walk(entries: Vec<JsValue>) -> Vec<PickedFile> {
    let mut files = Vec::new();
    let mut stack = entries;
    while let Some(entry) = stack.pop() {
        if let Some(file) = entry.dyn_ref::<File>() {
            files.push(PickedFile {
                path: clean(&file.name()),
                source: Source::Local(file.clone()),
            });
            continue;
        }
        let path = clean(
            &property(&entry, "fullPath")
                .as_string()
                .or_else(|| property(&entry, "name").as_string())
                .unwrap_or_default(),
        );
        if property(&entry, "isDirectory").as_bool().unwrap_or(false) {
            match read_directory(&entry).await {
                Ok(children) => stack.extend(children),
                Err(e) => files.push(PickedFile {
                    path,
                    source: Source::Failed(format!("the folder could not be listed ({e})")),
                }),
            }
        } else {
            let source = match callback_promise(&entry, "file", &[]).await {
                Ok(file) => match file.dyn_into::<File>() {
                    Ok(file) => Source::Local(file),
                    Err(_) => Source::Failed("the browser gave no file for it".to_owned()),
                },
                Err(e) => Source::Failed(format!("the browser could not open it ({e})")),
            };
            files.push(PickedFile { path, source });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The demo set's files, from `demo/manifest.json` (`{"files": ["nih800/…", …]}`).
///
/// # Errors
/// When the manifest cannot be fetched or read.
pub async fn demo_files() -> Result<Vec<PickedFile>, String> {
    let bytes = fetch_bytes(&format!("{DEMO_BASE}manifest.json")).await?;
    let text = String::from_utf8(bytes).map_err(|_| "the manifest is not UTF-8".to_owned())?;
    let json = js_sys::JSON::parse(&text).map_err(|e| format!("bad manifest: {}", describe(&e)))?;
    let list = property(&json, "files");
    if !Array::is_array(&list) {
        return Err("the manifest has no \"files\" list".to_owned());
    }
    Ok(Array::from(&list)
        .iter()
        .filter_map(|v| v.as_string())
        .map(|path| PickedFile {
            source: Source::Url(format!("{DEMO_BASE}{path}")),
            path: clean(&path),
        })
        .collect())
}

/// GETs a same-origin URL.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let fetch = property(&js_sys::global(), "fetch")
        .dyn_into::<Function>()
        .map_err(|_| "this browser has no fetch".to_owned())?;
    let response = JsFuture::from(promise(fetch.call1(&js_sys::global(), &url.into()))?)
        .await
        .map_err(|e| describe(&e))?;
    let status = property(&response, "status").as_f64().unwrap_or(0.0);
    if !property(&response, "ok").as_bool().unwrap_or(false) {
        return Err(format!("HTTP {status}"));
    }
    let buffer = JsFuture::from(promise(
        call0(&response, "arrayBuffer").ok_or_else(|| "no arrayBuffer()".to_owned()),
    )?)
    .await
    .map_err(|e| describe(&e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// All children of a `FileSystemDirectoryEntry`: `readEntries` until it returns none.
async fn read_directory(entry: &JsValue) -> Result<Vec<JsValue>, String> {
    let reader = call0(entry, "createReader").ok_or_else(|| "no createReader()".to_owned())?;
    let mut children = Vec::new();
    loop {
        let batch = callback_promise(&reader, "readEntries", &[]).await?;
        let batch = Array::from(&batch);
        if batch.length() == 0 {
            return Ok(children);
        }
        children.extend(batch.iter());
    }
}

/// Calls `target.method(...args, resolve, reject)` — the success/error callback style of the
/// entries API — as a future.
async fn callback_promise(
    target: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, String> {
    let function = property(target, method)
        .dyn_into::<Function>()
        .map_err(|_| format!("no {method}()"))?;
    let mut call_error = None;
    let promise = Promise::new(&mut |resolve, reject| {
        let all: Array = args.iter().cloned().collect();
        all.push(&resolve);
        all.push(&reject);
        if let Err(e) = function.apply(target, &all) {
            call_error = Some(describe(&e));
        }
    });
    if let Some(e) = call_error {
        return Err(e);
    }
    JsFuture::from(promise).await.map_err(|e| describe(&e))
}

fn promise(value: Result<JsValue, impl Into<JsValue>>) -> Result<Promise, String> {
    value
        .map_err(|e| describe(&e.into()))?
        .dyn_into::<Promise>()
        .map_err(|_| "not a promise".to_owned())
}

fn call0(target: &JsValue, method: &str) -> Option<JsValue> {
    property(target, method)
        .dyn_into::<Function>()
        .ok()?
        .call0(target)
        .ok()
}

fn property(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A JS error as text (`DOMException` name and message where there is one).
fn describe(e: &JsValue) -> String {
    let name = property(e, "name").as_string();
    let message = property(e, "message").as_string();
    match (name, message) {
        (Some(n), Some(m)) if !m.is_empty() => format!("{n}: {m}"),
        (Some(n), _) => n,
        _ => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    }
}

/// `/`-separated, without a leading `/` (entries' `fullPath` starts with one).
fn clean(path: &str) -> String {
    path.trim_start_matches('/').replace('\\', "/")
}
