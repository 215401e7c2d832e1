//! Saving bytes as a file on the user's machine: a `Blob`, an object URL and a click on an
//! `<a download>`. Nothing is sent anywhere; the file goes from the tab to the disk.
//!
//! Called through `js_sys::Reflect` so that no extra web-sys feature (and no rebuild of
//! everything that depends on web-sys) is needed.

use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::JsCast as _;

/// Offers `bytes` as a download named `name` with the MIME type `mime`.
///
/// # Errors
/// A sentence for the user when the browser refuses.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let fail = |what: &str| format!("could not save {name}: {what}");
    let parts = Array::of1(&Uint8Array::from(bytes).into());
    let options = js_sys::Object::new();
    Reflect::set(&options, &"type".into(), &mime.into()).map_err(|_| fail("options"))?;
    let global = js_sys::global();
    let blob_class = Reflect::get(&global, &"Blob".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| fail("no Blob"))?;
    let blob = Reflect::construct(&blob_class, &Array::of2(&parts.into(), &options.into()))
        .map_err(|_| fail("new Blob failed"))?;
    let url_class = Reflect::get(&global, &"URL".into()).map_err(|_| fail("no URL"))?;
    let create = Reflect::get(&url_class, &"createObjectURL".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| fail("no createObjectURL"))?;
    let url = create
        .call1(&url_class, &blob)
        .map_err(|_| fail("createObjectURL failed"))?;
    let document = Reflect::get(&global, &"document".into()).map_err(|_| fail("no document"))?;
    let create_element = Reflect::get(&document, &"createElement".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| fail("no createElement"))?;
    let anchor = create_element
        .call1(&document, &"a".into())
        .map_err(|_| fail("no anchor"))?;
    Reflect::set(&anchor, &"href".into(), &url).map_err(|_| fail("href"))?;
    Reflect::set(&anchor, &"download".into(), &name.into()).map_err(|_| fail("download"))?;
    let click = Reflect::get(&anchor, &"click".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| fail("no click"))?;
    click.call0(&anchor).map_err(|_| fail("click failed"))?;
    // The download has started from the URL; it can be let go.
    if let Some(revoke) = Reflect::get(&url_class, &"revokeObjectURL".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    {
        let _ = revoke.call1(&url_class, &url);
    }
    Ok(())
}

/// A click handler that downloads `contents` as `name`, telling `on_error` if the browser
/// refuses. For the page's "Download (CSV / SVG / JSON)" buttons.
#[must_use]
pub fn on_click_download(
    name: &'static str,
    mime: &'static str,
    contents: String,
    on_error: yew::Callback<String>,
) -> yew::Callback<yew::MouseEvent> {
    yew::Callback::from(move |_| {
        if let Err(why) = download(name, mime, contents.as_bytes()) {
            on_error.emit(why);
        }
    })
}
