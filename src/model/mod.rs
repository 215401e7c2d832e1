//! Models: the networks the worker trains and runs.

pub mod init;
pub mod tiny_cnn;
