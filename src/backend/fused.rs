//! Ops that `flex` runs in one pass where burn composes them out of several: the models call
//! these on the CPU in inference, where nothing needs the intermediate tensor, and burn's ops
//! everywhere else (under autodiff, on wgpu).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::runs_on_cpu;

/// `relu(norm.forward(x))`. On flex without autodiff, one pass over `x` (the vendored
/// burn-flex's `batch_norm_relu`, the same values as its `relu` of its `batch_norm`) instead of
/// batch norm writing its whole output and ReLU reading and writing it again.
///
/// # Shapes
/// - `x`: `[batch, channels, …]`, `channels` = the norm's features
/// - output: as `x`
pub fn batch_norm_relu<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if device.is_autodiff() || !runs_on_cpu(&device) {
        return relu(norm.forward(x));
    }
    let [features] = norm.gamma.dims();
    assert_eq!(
        x.dims()[1],
        features,
        "batch_norm_relu: {features} features, input {:?}",
        x.dims()
    );
    let output = burn::backend::flex::ops::batch_norm_relu(
        on_flex(x),
        on_flex(norm.gamma.val()),
        on_flex(norm.beta.val()),
        on_flex(norm.running_mean.value().to_device(&device)),
        on_flex(norm.running_var.value().to_device(&device)),
        norm.epsilon,
    );
    Tensor::from_primitive::<Flex>(output)
}

/// The flex tensor under a tensor on the CPU device.
fn on_flex<const D: usize>(tensor: Tensor<D>) -> FlexTensor {
    tensor
        .try_into_primitive::<Flex>()
        .expect("the CPU device's tensors are flex's")
}

#[cfg(test)]
mod tests {
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Tensor, TensorData};

    use super::*;
    use crate::backend::cpu_device;

    /// The fused pass gives flex's `relu(batch_norm(x))` bit for bit (running statistics away
    /// from 0 and 1, NaN, ±0 and values on both sides of the ReLU), on a whole tensor and on a
    /// view of its leading channels (as DenseNet's blocks pass their features).
    #[test]
    fn the_fused_pass_is_relu_of_batch_norm_bit_for_bit() {
        let device = cpu_device();
        let [batch, channels, side] = [3, 6, 5];
        let mut norm = BatchNormConfig::new(channels).init(&device);
        let per_channel = |f: fn(usize) -> f32| {
            Tensor::<1>::from_data(
                TensorData::new((0..channels).map(f).collect::<Vec<_>>(), [channels]),
                &device,
            )
        };
        norm.gamma = norm.gamma.map(|_| per_channel(|c| 0.5 + 0.3 * c as f32));
        norm.beta = norm.beta.map(|_| per_channel(|c| 0.2 * c as f32 - 0.5));
        norm.running_mean = burn::module::RunningState::new(per_channel(|c| 0.1 * c as f32));
        norm.running_var = burn::module::RunningState::new(per_channel(|c| 0.5 + c as f32));
        let len = batch * channels * side * side;
        let mut values: Vec<f32> = (0..len)
            .map(|i| ((i * 7919) % 101) as f32 / 25.0 - 2.0)
            .collect();
        values[3] = f32::NAN;
        values[10] = 0.0;
        values[11] = -0.0;
        let x = Tensor::<4>::from_data(
            TensorData::new(values, [batch, channels, side, side]),
            &device,
        );
        let bits = |t: Tensor<4>| -> Vec<u32> {
            t.into_data()
                .try_to_vec::<f32>()
                .expect("f32 tensor")
                .into_iter()
                .map(f32::to_bits)
                .collect()
        };
        for x in [x.clone(), x.slice([0..batch, 0..channels - 2])] {
            let mut norm = norm.clone();
            let [_, c, _, _] = x.dims();
            if c != channels {
                norm.gamma = norm.gamma.map(|t| t.narrow(0, 0, c));
                norm.beta = norm.beta.map(|t| t.narrow(0, 0, c));
                norm.running_mean =
                    burn::module::RunningState::new(norm.running_mean.value().narrow(0, 0, c));
                norm.running_var =
                    burn::module::RunningState::new(norm.running_var.value().narrow(0, 0, c));
            }
            let fused = bits(batch_norm_relu(&norm, x.clone()));
            let composed = bits(relu(norm.forward(x.clone())));
            assert_eq!(fused, composed, "{c} channels");
            // The kernel itself, called directly (the function above could have composed).
            let direct = bits(Tensor::from_primitive::<Flex>(
                burn::backend::flex::ops::batch_norm_relu(
                    on_flex(x),
                    on_flex(norm.gamma.val()),
                    on_flex(norm.beta.val()),
                    on_flex(norm.running_mean.value()),
                    on_flex(norm.running_var.value()),
                    norm.epsilon,
                ),
            ));
            assert_eq!(direct, composed, "{c} channels, called directly");
            // Both sides of the ReLU are there.
            let zeros = fused.iter().filter(|&&b| b == 0).count();
            assert!(
                zeros > 0 && zeros < fused.len(),
                "ReLU cut {zeros} of {}",
                fused.len()
            );
            assert!(fused.iter().any(|&b| f32::from_bits(b).is_nan()));
        }
    }
}
