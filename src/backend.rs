//! Which compute backend runs, described as plain data the page and the CLI can show.
//!
//! The device itself is picked once per entry point (the worker in the browser, the CLI
//! natively); everything below that takes a `&Device`. This module holds what the user is told
//! about that choice, the CPU device every entry point falls back to, and natively the GPU
//! through wgpu (Vulkan, Metal or DX12; Mesa's lavapipe on a machine without a GPU), which
//! `cxr --backend wgpu` and `tests/wgpu_native.rs` use.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::memory::BufferLimits;

/// The kind of backend that runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendKind {
    /// burn's wgpu backend: the browser's WebGPU, or natively Vulkan, Metal or DX12 through
    /// wgpu. One kind for both, so that the worker protocol stays as it is.
    WebGpu,
    /// burn's `flex` backend on the CPU: the fallback when there is no usable GPU.
    Cpu,
}

/// What the page says about the backend in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// Which backend runs.
    pub kind: BackendKind,
    /// The adapter's name, e.g. "google swiftshader — software fallback adapter" in the
    /// browser, "llvmpipe (LLVM 15.0.6, 256 bits), Vulkan" natively, or "flex, wasm SIMD128,
    /// 1 thread" for the CPU ([`cpu_path`]).
    pub adapter: String,
    /// Why the CPU runs, when WebGPU was wanted but could not be used; `None` on WebGPU.
    pub fallback_reason: Option<String>,
    /// The GPU adapter's limits on one buffer, which cap the batch
    /// ([`crate::train::memory::cap_batch`]); `None` on the CPU.
    pub limits: Option<BufferLimits>,
}

impl BackendInfo {
    /// The CPU backend, with the reason WebGPU was not used.
    pub fn cpu(fallback_reason: Option<String>) -> Self {
        Self {
            kind: BackendKind::Cpu,
            adapter: cpu_path(),
            fallback_reason,
            limits: None,
        }
    }

    /// Which path runs, for the training progress and the CLI's reports: "WebGPU (google
    /// swiftshader)" in the browser, "wgpu (llvmpipe (LLVM 15.0.6, 256 bits), Vulkan)" natively,
    /// or "CPU (flex, wasm SIMD128, 1 thread)".
    #[must_use]
    pub fn path(&self) -> String {
        format!("{} ({})", self.kind.label(), self.adapter)
    }

    /// One line for the page's status bar.
    pub fn summary(&self) -> String {
        format!("{} — {}", self.kind.label(), self.adapter)
    }
}

impl BackendKind {
    /// "WebGPU" in the browser, "wgpu" natively (where it is Vulkan, Metal or DX12 underneath),
    /// "CPU".
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            BackendKind::WebGpu if cfg!(target_arch = "wasm32") => "WebGPU",
            BackendKind::WebGpu => "wgpu",
            BackendKind::Cpu => "CPU",
        }
    }
}

/// How the CPU backend runs in this build. In the browser it names the worker build, with or
/// without relaxed SIMD (src/web/simd.rs), and `flex` has one thread: threads would
/// need wasm `atomics` and a standard library rebuilt with them (nightly `-Z build-std`) plus a
/// cross-origin isolated page; see the README. Natively it runs on rayon's global pool
/// (burn-flex's `rayon` feature, see `Cargo.toml`): as many threads as cores, or
/// `RAYON_NUM_THREADS`.
#[must_use]
pub fn cpu_path() -> String {
    if cfg!(all(target_arch = "wasm32", feature = "relaxed-simd")) {
        "flex, wasm SIMD128 and relaxed SIMD, 1 thread".to_owned()
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "flex, wasm SIMD128, 1 thread".to_owned()
    } else if cfg!(target_arch = "wasm32") {
        "flex, wasm without SIMD, 1 thread".to_owned()
    } else {
        threads_path(native_threads())
    }
}

/// "flex, 1 thread", "flex, 2 threads".
fn threads_path(threads: usize) -> String {
    if threads == 1 {
        "flex, 1 thread".to_owned()
    } else {
        format!("flex, {threads} threads")
    }
}

/// The threads flex's kernels are spread over: rayon's global pool.
#[cfg(not(target_arch = "wasm32"))]
fn native_threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(target_arch = "wasm32")]
fn native_threads() -> usize {
    1
}

/// Makes the calling thread one of the threads of rayon's global pool, which flex's kernels run
/// on (natively; it must come before anything uses the pool). Call it from the thread that runs
/// the model, at the start of `main`. Returns whether it took effect (not if the pool was
/// already built).
///
/// Why: otherwise the thread that runs the model hands each parallel op to the pool's threads
/// (as many as cores) and sleeps until they are done; every op then pays a futex wake-up of the
/// pool's threads and one of the caller, and ops too small to spread run on a core the pool's
/// threads also want. As one of the pool's threads (rayon's `use_current_thread`; the count is
/// unchanged, the caller included), the caller splits each op and works on a part itself while
/// the others steal the rest. DenseNet121 training at 64² on 2 cores went from 28.1 / 30.0 /
/// 25.0 to 32.5 / 32.2 / 28.7 images/s in alternating runs, with 10 % less CPU time and 25 MiB
/// less peak memory. Other threads can still use the pool; they get its other threads (with
/// `RAYON_NUM_THREADS=1` there are none, and their parallel ops wait until this thread calls
/// into rayon: `cxr` and the benchmarks run all their tensor work on this one thread).
#[cfg(not(target_arch = "wasm32"))]
pub fn run_cpu_kernels_on_this_thread() -> bool {
    rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
        .is_ok()
}

/// The CPU device: burn's `flex` backend, which trains DenseNet121 ~28x faster than `ndarray`
/// on these machines (see `../shared/RECIPES.md`) and also runs on wasm32.
pub fn cpu_device() -> Device {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_freed_memory();
    Device::flex()
}

/// Makes glibc keep freed memory in the process, once per process.
///
/// Why: flex allocates every op's output afresh, tens of MiB at a time. Above its (adaptive)
/// mmap threshold glibc maps such a buffer on its own and unmaps it when freed, and it trims
/// the heap top back to the kernel, so the next op's buffer arrives as fresh pages that the
/// kernel must fault in and zero, on the calling thread while rayon's workers wait. Serving
/// them from the heap instead (buffers up to 32 MiB, glibc's largest threshold, and no
/// trimming) took DenseNet121 training at 128² from 7.0 to 8.3 images/s on 2 cores in
/// alternating runs (`GLIBC_TUNABLES` with the same values), with the same peak memory: the
/// heap only keeps what the step needs anyway. Elsewhere (wasm32's allocator never returns
/// memory; other C libraries) nothing is changed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `mallopt` only sets two of glibc's allocator thresholds; it takes no pointers
        // and is safe to call at any time, from any thread.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    });
}

/// Whether `device` (or the device an autodiff device wraps) is the CPU's `flex`, as opposed to
/// a GPU through wgpu. Per-pixel work that a GPU does in parallel is better done by plain Rust
/// on the CPU, where burn's tensor ops only add overhead.
#[must_use]
pub fn runs_on_cpu(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// Which backend a native command was asked for (`--backend cpu|wgpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// burn's `flex` on the CPU (the default: it always works).
    #[default]
    Cpu,
    /// burn's wgpu backend on the first GPU wgpu finds (Vulkan, Metal, DX12); on a machine
    /// without one, Mesa's lavapipe (a Vulkan driver that runs on the CPU) if installed.
    Wgpu,
}

impl BackendChoice {
    /// `cpu`, or `wgpu` (also spelled `webgpu` or `gpu`).
    ///
    /// # Errors
    /// A sentence naming the value and the choices.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "cpu" => Ok(BackendChoice::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(BackendChoice::Wgpu),
            other => Err(format!("--backend {other}: expected cpu or wgpu")),
        }
    }
}

/// Why the GPU cannot be used natively.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// wgpu found no adapter on any graphics API it was built with.
    #[error(
        "wgpu found no GPU adapter ({detail}). Without a GPU, install \
         Mesa's lavapipe, a Vulkan driver that runs on the CPU (Debian: apt-get install \
         mesa-vulkan-drivers libvulkan1, which scripts/setup.sh does); or use --backend cpu"
    )]
    NoAdapter {
        /// What wgpu said.
        detail: String,
    },
    /// An adapter was found but burn's wgpu runtime could not be started on it.
    #[error("the GPU could not be started through wgpu: {detail}; use --backend cpu")]
    Init {
        /// What wgpu or cubecl said.
        detail: String,
    },
}

/// The GPU through burn's wgpu backend, and what to tell the user about it (the adapter's name
/// and graphics API, its buffer limits).
///
/// burn registers one wgpu runtime per process and refuses a second `init`, so the first
/// answer, device or error, is kept and handed out again.
///
/// # Errors
/// [`GpuError::NoAdapter`] when wgpu finds no adapter (no GPU and no lavapipe), with a sentence
/// saying what to install; [`GpuError::Init`] when the runtime cannot start on the adapter.
#[cfg(not(target_arch = "wasm32"))]
pub fn wgpu_device() -> Result<(Device, BackendInfo), GpuError> {
    static DEVICE: std::sync::OnceLock<Result<(Device, BackendInfo), GpuError>> =
        std::sync::OnceLock::new();
    DEVICE.get_or_init(init_wgpu).clone()
}

#[cfg(not(target_arch = "wasm32"))]
fn init_wgpu() -> Result<(Device, BackendInfo), GpuError> {
    use burn::tensor::wgpu::WgpuInitError;

    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(|e| match e {
            WgpuInitError::AdapterUnavailable { message, .. } => {
                GpuError::NoAdapter { detail: message }
            }
            other => GpuError::Init {
                detail: other.to_string(),
            },
        })?;
    let info = setup.adapter.get_info();
    // cubecl requests the device with the adapter's own limits; the device's are the ones the
    // batch must fit.
    let limits = setup.device.limits();
    Ok((
        device,
        BackendInfo {
            kind: BackendKind::WebGpu,
            adapter: adapter_name(&info.name, info.backend, info.device_type),
            fallback_reason: None,
            limits: Some(BufferLimits {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
            }),
        },
    ))
}

/// "NVIDIA GeForce RTX 4070, Vulkan", or "llvmpipe (LLVM 15.0.6, 256 bits), Vulkan — a CPU
/// driver" for a software adapter such as lavapipe.
#[cfg(not(target_arch = "wasm32"))]
fn adapter_name(
    name: &str,
    api: burn::tensor::wgpu::wgpu::Backend,
    kind: burn::tensor::wgpu::wgpu::DeviceType,
) -> String {
    let name = if name.is_empty() {
        "unnamed adapter"
    } else {
        name
    };
    // `Debug` spells the API as its makers do: Vulkan, Metal, Dx12, Gl.
    let mut text = format!("{name}, {api:?}");
    if kind == burn::tensor::wgpu::wgpu::DeviceType::Cpu {
        text.push_str(" — a CPU driver");
    }
    text
}

/// The device `choice` names, natively, and what to tell the user about it.
///
/// # Errors
/// [`GpuError`] when the GPU was asked for and cannot be used; the CPU always works.
#[cfg(not(target_arch = "wasm32"))]
pub fn native_device(choice: BackendChoice) -> Result<(Device, BackendInfo), GpuError> {
    match choice {
        BackendChoice::Cpu => Ok((cpu_device(), BackendInfo::cpu(None))),
        BackendChoice::Wgpu => wgpu_device(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_device_runs_on_the_cpu_with_or_without_autodiff() {
        let device = cpu_device();
        assert!(runs_on_cpu(&device));
        assert!(runs_on_cpu(&device.autodiff()));
    }

    #[test]
    fn summary_names_the_backend_and_adapter() {
        let info = BackendInfo {
            kind: BackendKind::WebGpu,
            adapter: "google swiftshader".into(),
            fallback_reason: None,
            limits: None,
        };
        // Natively the same kind is wgpu (Vulkan, Metal, DX12), not the browser's WebGPU.
        let label = if cfg!(target_arch = "wasm32") {
            "WebGPU"
        } else {
            "wgpu"
        };
        assert_eq!(info.summary(), format!("{label} — google swiftshader"));
        assert_eq!(info.path(), format!("{label} (google swiftshader)"));
        let cpu = BackendInfo::cpu(Some("no adapter".into()));
        assert!(cpu.summary().starts_with("CPU"));
        assert_eq!(cpu.path(), format!("CPU ({})", cpu_path()));
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn native_flex_names_rayons_thread_count() {
        let threads = rayon::current_num_threads();
        assert!(threads >= 1);
        assert_eq!(cpu_path(), threads_path(threads));
        assert_eq!(threads_path(1), "flex, 1 thread");
        assert_eq!(threads_path(2), "flex, 2 threads");
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn adapters_are_named_with_their_api_and_software_ones_say_so() {
        use burn::tensor::wgpu::wgpu::{Backend, DeviceType};
        assert_eq!(
            adapter_name(
                "llvmpipe (LLVM 15.0.6, 256 bits)",
                Backend::Vulkan,
                DeviceType::Cpu
            ),
            "llvmpipe (LLVM 15.0.6, 256 bits), Vulkan — a CPU driver"
        );
        assert_eq!(
            adapter_name("NVIDIA H200", Backend::Vulkan, DeviceType::DiscreteGpu),
            "NVIDIA H200, Vulkan"
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn no_adapter_says_what_to_install() {
        let error = GpuError::NoAdapter {
            detail: "no adapter found on the requested graphics API".into(),
        };
        let text = error.to_string();
        assert!(text.contains("mesa-vulkan-drivers"), "{text}");
        assert!(text.contains("--backend cpu"), "{text}");
    }

    #[test]
    fn backend_choices_parse() {
        assert_eq!(BackendChoice::parse("cpu"), Ok(BackendChoice::Cpu));
        assert_eq!(BackendChoice::parse("wgpu"), Ok(BackendChoice::Wgpu));
        assert_eq!(BackendChoice::parse("webgpu"), Ok(BackendChoice::Wgpu));
        let error = BackendChoice::parse("tpu").expect_err("not a backend");
        assert!(error.contains("expected cpu or wgpu"), "{error}");
    }
}

pub mod fused;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod flex_kernel_tests;
