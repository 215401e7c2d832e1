//! Training: losses and the steps that update a model.

pub mod adam;
mod adam_in_one_pass;
pub mod augmenter;
pub mod bench;
pub mod checkpoint;
#[cfg(test)]
mod checkpoint_tests;
pub mod classify;
pub mod config;
#[cfg(test)]
mod densenet_step_tests;
pub mod examples;
pub mod loss;
pub mod memory;
pub mod predict;
pub mod preprocess;
pub mod session;
pub mod smoke_step;
pub mod trainer;
