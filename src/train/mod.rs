//! Training: losses and the steps that update a model.

pub mod loss;
pub mod smoke_step;
