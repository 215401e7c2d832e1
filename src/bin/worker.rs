//! The compute worker's entry point (trunk `data-type="worker"`).

#[cfg(target_arch = "wasm32")]
pub fn main() {
    call_ctors_once();
    use gloo_worker::Registrable as _;
    console_error_panic_hook::set_once();
    cxr_lab::web::worker::ComputeWorker::registrar().register();
}

#[cfg(not(target_arch = "wasm32"))]
pub fn main() {
    eprintln!("The worker runs in a browser: build it with `trunk build --release`.");
    std::process::exit(2);
}

/// Runs the static constructors (`inventory` registrations of cubecl) once, by hand.
///
/// A wasm bin is linked by wasm-ld as a "new-style command": without an explicit call to
/// `__wasm_call_ctors` in the input, wasm-ld wraps *every* export (`*.command_export`) so that
/// it runs all constructors again — on each call from JavaScript into Rust, ~1 ms here. That made
/// reading files on the page ~30 ms per file. With this explicit call, wasm-ld leaves the
/// exports alone (LLVM D81689: "disabled when the input has an explicit call to
/// __wasm_call_ctors"), and the constructors run once, here.
///
/// It lives in each binary, not in the library: there it would also be linked into the
/// wasm-bindgen-test binaries, whose harness never calls it, and wasm-ld would then run no
/// constructor at all (tried: cubecl panics on its first kernel).
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // Reason: the one FFI call above; it takes no arguments and runs once.
fn call_ctors_once() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: called first thing in `main`, before any code that relies on constructors.
    unsafe { __wasm_call_ctors() }
}
