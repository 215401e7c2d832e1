//! Adam's step of one parameter in one pass over its elements, for parameters on the CPU.
//!
//! burn's `Adam::step` is ~12 tensor ops (weight decay, two moments, their bias corrections,
//! the square root, the division, the update), each a pass that reads and writes the whole
//! parameter: ~1 GB of memory traffic per DenseNet121 step, ~8 % of a 64² training step on two
//! cores. Here each element is read once and written once. The operations are burn's, in burn's
//! order, on f32 (flex runs an f32 tensor op element by element, without fused multiply-adds),
//! so a step gives the same bits as burn's (tested in `adam.rs` against `AdamConfig::init()`).

use burn::optim::AdamConfig;
use burn::tensor::{DType, Tensor, TensorData};
use serde::Deserialize;

use super::adam::Moments;

/// The hyper-parameters the one-pass step needs, read from an [`AdamConfig`] (whose fields are
/// private) through its serde form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Hyper {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Weight decay's L2 penalty, if any.
    penalty: Option<f32>,
}

/// The fields of [`AdamConfig`]'s serde form that the step reads.
#[derive(Deserialize)]
struct ConfigFields {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    amsgrad: bool,
    weight_decay: Option<PenaltyField>,
}

#[derive(Deserialize)]
struct PenaltyField {
    penalty: f32,
}

impl Hyper {
    /// `config`'s hyper-parameters; `None` where the one-pass step does not apply (AMSGrad keeps
    /// a third moment) or the config's serde form is not the one expected.
    pub(crate) fn of(config: &AdamConfig) -> Option<Self> {
        let fields: ConfigFields =
            serde_json::from_value(serde_json::to_value(config).ok()?).ok()?;
        (!fields.amsgrad).then_some(Hyper {
            beta_1: fields.beta_1,
            beta_2: fields.beta_2,
            epsilon: fields.epsilon,
            penalty: fields.weight_decay.map(|w| w.penalty),
        })
    }
}

/// Whether [`step`] takes these tensors: all f32 (what flex runs without conversion).
pub(crate) fn applies<'a>(tensors: impl IntoIterator<Item = &'a Tensor<1>>) -> bool {
    tensors.into_iter().all(|t| t.dtype() == DType::F32)
}

/// One Adam step of `value` with gradient `grad` and the moments so far (`None` before the
/// first step). The reads are synchronous: only for tensors on the CPU, where they move the
/// memory out when nothing else holds it (the moments; the value, whose place in the module
/// `PathAdam` fills with an empty tensor meanwhile) and copy it otherwise. Returns the new value
/// and moments, flattened.
pub(crate) fn step(
    hyper: Hyper,
    learning_rate: f64,
    value: Tensor<1>,
    grad: Tensor<1>,
    moments: Option<Moments>,
) -> (Tensor<1>, Moments) {
    let device = value.device();
    let len = value.dims()[0];
    let mut value = f32s(value);
    let grad = f32s(grad);
    let (time, mut first, mut second, started) = match moments {
        Some(m) => (m.time + 1, f32s(m.first), f32s(m.second), true),
        None => (1, vec![0.0; len], vec![0.0; len], false),
    };

    // As burn's `AdaptiveMomentum::transform`, scalar by scalar.
    let Hyper {
        beta_1,
        beta_2,
        epsilon,
        penalty,
    } = hyper;
    let t = i32::try_from(time).unwrap_or(i32::MAX);
    let (factor_1, factor_2) = (1.0 - beta_1, 1.0 - beta_2);
    let bias_correction2_sqrt = (1.0 - beta_2.powi(t)).sqrt();
    let combined_factor = bias_correction2_sqrt / (1.0 - beta_1.powi(t));
    let denominator_epsilon = epsilon * bias_correction2_sqrt;
    // flex applies an f64 scalar to an f32 tensor as f32.
    let learning_rate = learning_rate as f32;

    for (((x, &g), m), v) in value.iter_mut().zip(&grad).zip(&mut first).zip(&mut second) {
        let g = penalty.map_or(g, |penalty| *x * penalty + g);
        // Before the first step burn starts the moments from the gradient alone (not from
        // zeros decayed: `0 * beta + x` would turn a -0 gradient into +0).
        *m = if started {
            *m * beta_1 + g * factor_1
        } else {
            g * factor_1
        };
        *v = if started {
            *v * beta_2 + (g * g) * factor_2
        } else {
            (g * g) * factor_2
        };
        let update = (*m * combined_factor) / (v.sqrt() + denominator_epsilon);
        *x -= update * learning_rate;
    }

    let tensor = |values: Vec<f32>| Tensor::<1>::from_data(TensorData::new(values, [len]), &device);
    let moments = Moments {
        time,
        first: tensor(first),
        second: tensor(second),
    };
    (tensor(value), moments)
}

/// A CPU tensor's f32 values (moved out where nothing else holds them).
fn f32s(tensor: Tensor<1>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("`applies` checked the tensor is f32")
}

#[cfg(test)]
mod tests {
    use burn::optim::decay::WeightDecayConfig;

    use super::*;

    #[test]
    fn the_hyper_parameters_are_the_configs() {
        let config = AdamConfig::new()
            .with_beta_1(0.8)
            .with_beta_2(0.95)
            .with_epsilon(1e-7)
            .with_weight_decay(Some(WeightDecayConfig::new(0.05)));
        let expected = Hyper {
            beta_1: 0.8,
            beta_2: 0.95,
            epsilon: 1e-7,
            penalty: Some(0.05),
        };
        assert_eq!(Hyper::of(&config), Some(expected));
        let defaults = Hyper::of(&AdamConfig::new()).expect("applies");
        assert_eq!((defaults.beta_1, defaults.beta_2), (0.9, 0.999));
        assert_eq!((defaults.epsilon, defaults.penalty), (1e-5, None));
        assert_eq!(Hyper::of(&AdamConfig::new().with_amsgrad(true)), None);
    }
}
