//! [`PathAdam`]: burn's Adam, with its per-parameter state kept here, keyed by the parameter's
//! module path, so that a checkpoint can read it back and a resumed run can put it back.
//!
//! Why not burn's `ModuleOptimizer`: its `to_record` reads the moments synchronously
//! (`into_data`), which panics on WebGPU in the browser, and its state is keyed by `ParamId`,
//! which a model loaded from a checkpoint does not keep. The arithmetic is burn's own
//! ([`Adam`]'s `Optimizer::step`, or on the CPU the same operations in one pass), so a run
//! takes exactly the steps it took with `AdamConfig::init()` (tested below). AMSGrad's third
//! moment is not kept: the app's `adam_config` does not ask for AMSGrad.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, GradientsParams, Optimizer as _,
};
use burn::tensor::{Device, Shape, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::adam_in_one_pass::{self, Hyper};

/// One parameter's Adam moments, flattened (the parameter's shape gives them back their rank).
#[derive(Clone)]
pub(super) struct Moments {
    /// Steps taken (Adam's `t`, for the bias correction).
    pub time: usize,
    pub first: Tensor<1>,
    pub second: Tensor<1>,
}

/// Adam whose state can be saved and restored; see the module doc.
#[derive(Clone)]
pub struct PathAdam {
    adam: Adam,
    /// What the one-pass CPU step needs (`None` where it does not apply).
    hyper: Option<Hyper>,
    states: BTreeMap<String, Moments>,
}

/// A [`PathAdam`]'s state read back from the device: plain numbers, per parameter path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdamSnapshot {
    /// `(path, steps taken, first moment, second moment)`, in path order.
    pub parameters: Vec<(String, usize, Vec<f32>, Vec<f32>)>,
}

impl PathAdam {
    /// A fresh optimizer (no state yet) with `config`'s hyper-parameters.
    #[must_use]
    pub fn new(config: &AdamConfig) -> Self {
        PathAdam {
            adam: config.build(),
            hyper: Hyper::of(config),
            states: BTreeMap::new(),
        }
    }

    /// Updates `module`'s parameters that have a gradient in `grads`, at `learning_rate`.
    ///
    /// In three passes: the parameters with a gradient are taken out (flattened: Adam is
    /// element-wise, so the arithmetic is the same), stepped, and put back. On the CPU each
    /// parameter is stepped in one pass over its memory (`adam_in_one_pass`) instead of burn's
    /// ~12 tensor ops, and natively the parameters are stepped side by side on rayon's pool
    /// (DenseNet121's are all below flex's threshold for spreading one op over threads): from
    /// ~40 ms to ~12 ms of a 64² DenseNet121 step on two cores.
    pub fn step<M: Module>(&mut self, learning_rate: f64, module: M, grads: GradientsParams) -> M {
        let mut taker = Taker {
            grads,
            states: &mut self.states,
            path: Vec::new(),
            taken: Vec::new(),
        };
        let module = module.map(&mut taker);
        let mut values = HashMap::new();
        for (place, value, moments) in step_all(&self.adam, self.hyper, learning_rate, taker.taken)
        {
            if let Some(moments) = moments {
                self.states.insert(place.path.clone(), moments);
            }
            values.insert(place.id, (place, value));
        }
        module.map(&mut Putter { values })
    }

    /// The state, read back with one async read (a synchronous read panics on WebGPU).
    ///
    /// # Errors
    /// The device's read error, as text.
    pub async fn snapshot(&self) -> Result<AdamSnapshot, String> {
        if self.states.is_empty() {
            return Ok(AdamSnapshot::default());
        }
        // One concatenated read rather than two per parameter: each is a GPU round trip.
        let tensors: Vec<Tensor<1>> = self
            .states
            .values()
            .flat_map(|m| [m.first.clone(), m.second.clone()])
            .collect();
        let values = Tensor::cat(tensors, 0)
            .into_data_async()
            .await
            .map_err(|e| format!("{e:?}"))?
            .try_into_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let mut rest = values.as_slice();
        let mut parameters = Vec::with_capacity(self.states.len());
        for (path, moments) in &self.states {
            let len = moments.first.dims()[0];
            let (first, after) = rest
                .split_at_checked(len)
                .ok_or("the device returned too few values")?;
            let (second, after) = after
                .split_at_checked(len)
                .ok_or("the device returned too few values")?;
            rest = after;
            parameters.push((path.clone(), moments.time, first.to_vec(), second.to_vec()));
        }
        Ok(AdamSnapshot { parameters })
    }

    /// `config`'s optimizer with the state of `snapshot`, its moments on `device`.
    #[must_use]
    pub fn restore(config: &AdamConfig, snapshot: &AdamSnapshot, device: &Device) -> Self {
        let device = device.clone().without_autodiff();
        let moment = |values: &[f32]| {
            Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device)
        };
        let states = snapshot
            .parameters
            .iter()
            .map(|(path, time, first, second)| {
                (
                    path.clone(),
                    Moments {
                        time: *time,
                        first: moment(first),
                        second: moment(second),
                    },
                )
            })
            .collect();
        PathAdam {
            adam: config.build(),
            hyper: Hyper::of(config),
            states,
        }
    }
}

/// One parameter to step: where it goes back, its value and gradient flattened, and its
/// moments so far.
struct Taken {
    place: Place,
    value: Tensor<1>,
    grad: Tensor<1>,
    moments: Option<Moments>,
}

/// Where a taken parameter goes back to, stepped: its id, path, shape and whether it requires
/// a gradient.
struct Place {
    id: ParamId,
    path: String,
    shape: Shape,
    require_grad: bool,
}

/// Adam's step of each taken parameter, with its new value (flattened) and moments. On the CPU
/// each parameter is stepped in one pass (`adam_in_one_pass`), and natively side by side on
/// rayon's pool; on a GPU burn's ops are queued one after another.
fn step_all(
    adam: &Adam,
    hyper: Option<Hyper>,
    learning_rate: f64,
    taken: Vec<Taken>,
) -> Vec<(Place, Tensor<1>, Option<Moments>)> {
    let on_cpu = taken
        .first()
        .is_some_and(|t| crate::backend::runs_on_cpu(&t.value.device()));
    let step = |taken: Taken| {
        let Taken {
            place,
            value,
            grad,
            moments,
        } = taken;
        if let Some(hyper) = hyper.filter(|_| on_cpu) {
            let tensors = [&value, &grad]
                .into_iter()
                .chain(moments.iter().flat_map(|m| [&m.first, &m.second]));
            if adam_in_one_pass::applies(tensors) {
                let (value, moments) =
                    adam_in_one_pass::step(hyper, learning_rate, value, grad, moments);
                return (place, value, Some(moments));
            }
        }
        let state =
            moments.map(|m| AdamState::new(AdaptiveMomentumState::new(m.time, m.first, m.second)));
        let (value, state) = adam.step(learning_rate, value, grad, state);
        let moments = state.map(|state| Moments {
            time: state.momentum.time,
            first: state.momentum.moment_1,
            second: state.momentum.moment_2,
        });
        (place, value, moments)
    };
    #[cfg(not(target_arch = "wasm32"))]
    if on_cpu {
        use rayon::prelude::*;
        return taken.into_par_iter().map(step).collect();
    }
    taken.into_iter().map(step).collect()
}

/// Walks a module once, taking out each parameter that has a gradient. On a GPU the module keeps
/// its value until [`Putter`] replaces it; on the CPU an empty tensor holds its place, so that
/// the one-pass step can write into the value's own memory instead of a copy.
struct Taker<'a> {
    grads: GradientsParams,
    states: &'a mut BTreeMap<String, Moments>,
    path: Vec<String>,
    taken: Vec<Taken>,
}

impl ModuleMapper for Taker<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        // Frozen or unused: no gradient, no step (as burn's ModuleOptimizer).
        if let Some(grad) = self.grads.remove::<D>(id) {
            let shape = tensor.shape();
            let len = shape.num_elements();
            let path = self.path.join(".");
            let require_grad = tensor.is_require_grad();
            let device = tensor.device();
            let in_place = if crate::backend::runs_on_cpu(&device) {
                Tensor::empty([0; D], &device)
            } else {
                tensor.clone()
            };
            self.taken.push(Taken {
                moments: self.states.remove(&path),
                place: Place {
                    id,
                    path,
                    shape,
                    require_grad,
                },
                // As burn's ModuleOptimizer: the step works on the tensor without its autodiff
                // node.
                value: tensor.inner().reshape([len]),
                grad: grad.reshape([len]),
            });
            return Param::from_mapped_value(id, in_place, mapper);
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Walks a module again, putting each stepped parameter back in its shape.
struct Putter {
    /// Each stepped value (flattened), and where it goes.
    values: HashMap<ParamId, (Place, Tensor<1>)>,
}

impl ModuleMapper for Putter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some((place, value)) = self.values.remove(&id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let mut updated = Tensor::from_inner(value.reshape(place.shape));
        if place.require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::optim::decay::WeightDecayConfig;

    use super::*;

    #[derive(Module, Debug)]
    struct Net {
        a: Linear,
        b: Linear,
    }

    fn net(device: &Device) -> Net {
        Net {
            a: LinearConfig::new(3, 4).init(device),
            b: LinearConfig::new(4, 2).init(device),
        }
    }

    fn grads(net: &Net, device: &Device, i: usize) -> GradientsParams {
        let x = Tensor::<2>::from_data(
            TensorData::new((0..6).map(|v| (v + i) as f32 * 0.3 - 1.0).collect(), [2, 3]),
            device,
        );
        let loss = net.b.forward(net.a.forward(x).tanh()).powi_scalar(2).mean();
        GradientsParams::from_grads(loss.backward(), net)
    }

    fn weights(net: &Net) -> Vec<f32> {
        [
            net.a.weight.val().into_data(),
            net.b.weight.val().into_data(),
            net.b.bias.as_ref().expect("bias").val().into_data(),
        ]
        .into_iter()
        .flat_map(|d| d.try_into_vec::<f32>().expect("f32"))
        .collect()
    }

    fn config() -> AdamConfig {
        AdamConfig::new().with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
    }

    /// Configs with and without weight decay, burn's defaults and others. (Not AMSGrad: its
    /// third moment is not kept here, and the app does not use it.)
    fn configs() -> [AdamConfig; 3] {
        [
            config(),
            AdamConfig::new(),
            AdamConfig::new()
                .with_beta_1(0.8)
                .with_beta_2(0.95)
                .with_epsilon(1e-7)
                .with_weight_decay(Some(WeightDecayConfig::new(0.05))),
        ]
    }

    #[test]
    fn path_adam_takes_exactly_burns_adam_steps() {
        let device = crate::backend::cpu_device().autodiff();
        for config in configs() {
            let mut ours = net(&device);
            let mut theirs = ours.clone();
            let mut path_adam = PathAdam::new(&config);
            let mut burn_adam = config.init();
            for i in 0..4 {
                let g = grads(&ours, &device, i);
                ours = path_adam.step(1e-2, ours, g);
                let g = grads(&theirs, &device, i);
                theirs = burn_adam.step(1e-2, theirs, g);
            }
            assert_eq!(weights(&ours), weights(&theirs), "{config}");
        }
    }

    #[test]
    fn a_restored_adam_continues_as_the_original() {
        let device = crate::backend::cpu_device().autodiff();
        let mut first = net(&device);
        let mut adam = PathAdam::new(&config());
        for i in 0..3 {
            let g = grads(&first, &device, i);
            first = adam.step(1e-2, first, g);
        }
        let snapshot = pollster::block_on(adam.snapshot()).expect("reads");
        assert_eq!(snapshot.parameters.len(), 4, "a and b, weight and bias");
        let mut restored = PathAdam::restore(&config(), &snapshot, &device);
        let mut second = first.clone();
        for i in 3..6 {
            let g = grads(&first, &device, i);
            first = adam.step(1e-2, first, g);
            let g = grads(&second, &device, i);
            second = restored.step(1e-2, second, g);
        }
        assert_eq!(weights(&first), weights(&second));
    }
}
