//! The page's entry point (trunk `data-type="main"`).

#[cfg(target_arch = "wasm32")]
fn main() {
    cxr_lab::web::start::run_static_constructors_once();
    console_error_panic_hook::set_once();
    yew::Renderer::<cxr_lab::ui::app::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The page runs in a browser: build it with `trunk build --release`.");
    std::process::exit(2);
}
