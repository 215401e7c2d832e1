//! Tests that a DenseNet trains end to end on the CPU: forward, class-weighted BCE, backward and
//! Adam, on burn's `flex` autodiff device. The training loop itself comes later; this pins the
//! pieces it will be made of. Compiled only for tests.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Distribution, Tensor, TensorData};

use crate::backend::cpu_device;
use crate::model::densenet::{DenseNet, DenseNetConfig};
use crate::model::init::seeded_on;
use crate::train::loss::binary_cross_entropy_with_logits;

/// Counts the parameter tensors an optimiser updates.
struct TrainableTensors(usize);

impl ModuleVisitor for TrainableTensors {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0 += usize::from(param.val().is_require_grad());
    }
}

fn tiny_densenet(device: &burn::tensor::Device) -> DenseNet {
    seeded_on(11, device, |cpu| {
        DenseNetConfig::new(3)
            .with_growth_rate(4)
            .with_block_config(vec![2, 2])
            .with_num_init_features(8)
            .with_bn_size(2)
            .init(cpu)
    })
}

#[test]
fn one_adam_step_lowers_the_class_weighted_loss() {
    let device = cpu_device().autodiff();
    let model = tiny_densenet(&device);
    let cpu = cpu_device();
    cpu.seed(5);
    let images = Tensor::<4>::random([6, 1, 32, 32], Distribution::Normal(0.0, 1.0), &cpu)
        .to_device(&device);
    let targets = [
        [1.0f32, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 1.0],
        [0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
    ];
    // Weights as in CheXNet: positives weighted by the negatives' frequency and vice versa,
    // here from the batch itself (2, 2 and 1 positives out of 6).
    let positives = [2.0f32, 2.0, 1.0];
    let w_pos: Vec<f32> = positives.iter().map(|p| (6.0 - p) / 6.0).collect();
    let w_neg: Vec<f32> = positives.iter().map(|p| p / 6.0).collect();
    let targets = Tensor::<2>::from_data(TensorData::from(targets), &device);
    let weights = || {
        Some((
            Tensor::<1>::from_data(TensorData::new(w_pos.clone(), [3]), &device),
            Tensor::<1>::from_data(TensorData::new(w_neg.clone(), [3]), &device),
        ))
    };
    let loss = |model: &DenseNet| {
        binary_cross_entropy_with_logits(
            model.forward(images.clone()),
            targets.clone(),
            weights(),
            None,
        )
    };

    let loss_before = loss(&model);
    let before: f32 = loss_before.clone().into_scalar();
    let grads = GradientsParams::from_grads(loss_before.backward(), &model);
    // Every parameter takes part: torchvision's
    // `len(list(DenseNet(4, (2, 2), 8, 2, num_classes=3).parameters()))` is 34.
    let mut trainable = TrainableTensors(0);
    model.visit(&mut trainable);
    assert_eq!(trainable.0, 34);
    assert_eq!(grads.len(), 34);

    let mut optimizer = AdamConfig::new().init();
    let model = optimizer.step(1e-2, model, grads);
    let after: f32 = loss(&model).into_scalar();
    assert!(
        before.is_finite() && after.is_finite(),
        "{before} → {after}"
    );
    assert!(
        after < before,
        "one Adam step should lower the loss: {before} → {after}"
    );
}
