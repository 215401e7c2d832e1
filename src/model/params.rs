//! Counting what an optimiser trains.
//!
//! burn's `Module::num_params` counts every float tensor in a module, BatchNorm's running mean
//! and variance included; PyTorch's `parameters()` (and so every published parameter count)
//! leaves those buffers out. [`trainable_params`] counts what PyTorch counts.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Number of scalars that require a gradient, i.e. that an optimiser would update.
///
/// Running statistics (`RunningState`) never require a gradient; parameters only do on an
/// autodiff device, so call this on a module built there (on a plain device it returns 0).
/// Lazily initialised parameters are initialised by the count.
pub fn trainable_params<M: Module>(module: &M) -> usize {
    let mut counter = TrainableCounter(0);
    module.visit(&mut counter);
    counter.0
}

struct TrainableCounter(usize);

impl ModuleVisitor for TrainableCounter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // burn keeps "requires grad" on the tensor itself; `val` initialises a lazy parameter
        // with its configured setting.
        let value = param.val();
        if value.is_require_grad() {
            self.0 += value.shape().num_elements();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use burn::nn::{BatchNormConfig, LinearConfig};

    #[test]
    fn batch_norm_statistics_are_not_trainable() {
        let device = cpu_device().autodiff();
        // γ and β: 2·5 trainable; running mean and variance: 2·5 more in burn's count.
        let norm = BatchNormConfig::new(5).init(&device);
        assert_eq!(trainable_params(&norm), 10);
        assert_eq!(norm.num_params(), 20);
        // 3·4 weights + 4 biases.
        assert_eq!(trainable_params(&LinearConfig::new(3, 4).init(&device)), 16);
    }
}
