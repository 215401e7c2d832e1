//! The compute worker's entry point (trunk `data-type="worker"`).

#[cfg(target_arch = "wasm32")]
fn main() {
    cxr_lab::web::start::run_static_constructors_once();
    use gloo_worker::Registrable as _;
    console_error_panic_hook::set_once();
    cxr_lab::web::worker::ComputeWorker::registrar().register();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The worker runs in a browser: build it with `trunk build --release`.");
    std::process::exit(2);
}
