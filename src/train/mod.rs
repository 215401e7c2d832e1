//! Training: losses and the steps that update a model.

#[cfg(test)]
mod densenet_step_tests;
pub mod loss;
pub mod predict;
pub mod preprocess;
pub mod smoke_step;
