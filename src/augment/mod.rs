//! Image augmentation: the spec (Keras's `ImageDataGenerator` parameters plus X-ray extras), a
//! reader for pasted Keras calls, the seeded parameter sampler, and the CPU reference that
//! applies the parameters exactly as Keras does.
//!
//! The flow: an [`AugmentSpec`] (a preset, JSON, or [`parse_keras_call`]) → per image,
//! [`sample`] draws [`TransformParams`] from a seeded [`SplitMix64`](crate::rng::SplitMix64) →
//! [`augment_image`] applies them to a grey [`Plane`] → [`standardize`] normalises as Keras's
//! `standardize` does. Everything here is plain Rust over slices, with no burn, yew or DOM, so
//! it builds for wasm32 and natively and serves as the reference the GPU path is tested
//! against. The affine path is checked against real Keras output in `golden_tests`.
//!
//! [`gpu`] (feature `engine`) is the same augmentation for a whole batch with burn tensor ops on
//! any device: WebGPU in the browser, `flex` on the CPU. It uses the same `sample`d parameters
//! and is tested against this CPU reference and the Keras goldens.

pub mod affine;
pub mod blur;
pub mod clahe;
pub mod flip_crop;
#[cfg(feature = "engine")]
pub mod gpu;
pub mod intensity;
pub mod keras_call;
pub mod line_sampler;
pub mod noise;
pub mod normalize;
pub mod params;
pub mod pipeline;
pub mod plane;
pub mod preview;
mod python_call;
pub mod spec;
pub mod validate;

#[cfg(test)]
mod golden_tests;

pub use keras_call::{KerasCall, KerasCallError, parse_keras_call};
pub use normalize::{FeaturewiseStats, StandardizeError, standardize, standardize_in_place};
pub use params::{TransformParams, sample};
pub use pipeline::{augment_image, keras_apply_transform, prepare_image};
pub use plane::Plane;
pub use spec::{AugmentSpec, FillMode, ShiftRange, ZoomRange};
pub use validate::SpecError;
