//! A small CNN (convolution, batch norm, linear head): the smallest network that exercises
//! every kind of layer DenseNet uses, for the page's "training step" and backend comparisons.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Configuration of [`TinyCnn`].
#[derive(Config, Debug)]
pub struct TinyCnnConfig {
    /// Output logits, one per finding.
    pub num_outputs: usize,
    /// Input channels: 1 for grey X-rays.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Feature maps of the convolution.
    #[config(default = 8)]
    pub channels: usize,
}

/// conv 3x3 → batch norm → ReLU → global average pool → linear.
#[derive(Module, Debug)]
pub struct TinyCnn {
    conv: Conv2d,
    norm: BatchNorm,
    pool: AdaptiveAvgPool2d,
    head: Linear,
}

impl TinyCnnConfig {
    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> TinyCnn {
        TinyCnn {
            conv: Conv2dConfig::new([self.in_channels, self.channels], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            norm: BatchNormConfig::new(self.channels).init(device),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(self.channels, self.num_outputs).init(device),
        }
    }
}

impl TinyCnn {
    /// Logits for a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`
    /// - output: `[batch, num_outputs]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.conv.forward(images); // [B, C, H, W]
        let x = relu(self.norm.forward(x));
        let x = self.pool.forward(x); // [B, C, 1, 1]
        self.head.forward(x.flatten(1, 3)) // [B, outputs]
    }
}
