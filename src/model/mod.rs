//! Models: the networks the worker trains and runs.

pub mod densenet;
pub mod file;
pub mod grad_cam;
#[cfg(test)]
mod grad_cam_tests;
pub mod import;
pub mod init;
pub mod params;
pub mod pretrained;
pub mod pth;
pub mod tiny_cnn;
