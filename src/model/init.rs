//! Reproducible weights on every backend.
//!
//! burn initialises parameters lazily, with the random generator of the device they land on, so
//! the same seed gives different weights on WebGPU and on the CPU. To compare backends (and to
//! make a run reproducible whatever the backend) a model is built on the CPU with a seed, every
//! parameter is materialised there, and only then is the model forked to its device.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use crate::backend::cpu_device;

/// Builds a module on the CPU with `seed` and moves it to `device` with its weights fixed.
///
/// `build` receives the CPU device. The result is an independent copy on `device`, with its own
/// autodiff graph when `device` has autodiff.
pub fn seeded_on<M: Module>(seed: u64, device: &Device, build: impl FnOnce(&Device) -> M) -> M {
    // `fork` keeps the source's autodiff association, so build where gradients will be wanted.
    let cpu = if device.is_autodiff() {
        cpu_device().autodiff()
    } else {
        cpu_device()
    };
    // The CPU device's generator is shared by everything on it: another thread drawing between
    // the seed and the last parameter (parallel tests, the CLI's data loading) would change the
    // weights. Seeding and materialising happen under one lock.
    let _guard = SEEDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cpu.seed(seed);
    let module = build(&cpu);
    module.visit(&mut Materialise);
    module.fork(device)
}

/// Held while a module is seeded and materialised; see [`seeded_on`].
static SEEDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Reads every float parameter once, which forces burn's lazy initialisation on the CPU.
struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // `val` initialises a lazy parameter on its own device and returns it; the value is
        // dropped here, the parameter keeps it.
        let _ = param.val();
    }
}
