//! DenseNet (Huang et al., "Densely Connected Convolutional Networks", 2017) with exactly
//! torchvision's topology, so that ImageNet and CheXNet checkpoints load without surgery.
//!
//! The module tree mirrors torchvision's state-dict names: `features.conv0`, `features.norm0`,
//! `features.denseblocks.{i}.denselayers.{j}.{norm1,conv1,norm2,conv2}`,
//! `features.transitions.{i}.{norm,conv}`, `features.norm5` and `classifier`. Only the dense
//! blocks and transitions differ (burn numbers a `Vec` from 0, torchvision names
//! `denseblock1.denselayer1`), because their count is configurable; [`super::import`] maps one
//! onto the other.
//!
//! The network returns logits: the class-weighted BCE in [`crate::train::loss`] applies the
//! sigmoid itself, in its numerically stable form. For Grad-CAM, [`DenseNet::forward_features`]
//! hands out the last dense block's feature maps and [`DenseNet::head`] finishes the pass.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

use crate::backend::fused::batch_norm_relu;
use crate::backend::runs_on_cpu;

/// Configuration of [`DenseNet`]. Defaults are DenseNet121's (torchvision `densenet121`).
#[derive(Config, Debug)]
pub struct DenseNetConfig {
    /// Output logits, one per finding (14 for NIH ChestX-ray14, 1000 for ImageNet).
    pub num_classes: usize,
    /// Input channels: 1 for grey X-rays, 3 for ImageNet weights. Default: 1.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Feature maps each dense layer adds (`k` in the paper). Default: 32.
    #[config(default = 32)]
    pub growth_rate: usize,
    /// Dense layers per block. Default: `[6, 12, 24, 16]` (DenseNet121).
    #[config(default = "vec![6, 12, 24, 16]")]
    pub block_config: Vec<usize>,
    /// Feature maps of the stem convolution. Default: 64.
    #[config(default = 64)]
    pub num_init_features: usize,
    /// The bottleneck 1x1 convolution outputs `bn_size * growth_rate` maps. Default: 4.
    #[config(default = 4)]
    pub bn_size: usize,
}

/// DenseNet: a convolutional feature extractor and a linear classifier.
#[derive(Module, Debug)]
pub struct DenseNet {
    /// Everything before the global pool (torchvision's `features`).
    pub features: DenseNetFeatures,
    /// `Linear(num_features, num_classes)` (torchvision's `classifier`).
    pub classifier: Linear,
}

/// Stem, dense blocks with transitions between them, and the final batch norm.
#[derive(Module, Debug)]
pub struct DenseNetFeatures {
    /// 7x7 stride-2 convolution, no bias.
    pub conv0: Conv2d,
    /// Batch norm after `conv0`.
    pub norm0: BatchNorm,
    /// 3x3 stride-2 max pool, padding 1.
    pub pool0: MaxPool2d,
    /// torchvision's `denseblock1`, `denseblock2`, … (index 0 is `denseblock1`).
    pub denseblocks: Vec<DenseBlock>,
    /// torchvision's `transition1`, … : one fewer than the blocks.
    pub transitions: Vec<Transition>,
    /// Batch norm on the last block's output.
    pub norm5: BatchNorm,
}

/// Dense layers whose inputs are the concatenation of all earlier outputs in the block.
#[derive(Module, Debug)]
pub struct DenseBlock {
    /// torchvision's `denselayer1`, … (index 0 is `denselayer1`).
    pub denselayers: Vec<DenseLayer>,
}

/// BN → ReLU → 1x1 conv (bottleneck) → BN → ReLU → 3x3 conv, adding `growth_rate` maps.
#[derive(Module, Debug)]
pub struct DenseLayer {
    /// Batch norm on the concatenated input.
    pub norm1: BatchNorm,
    /// 1x1 bottleneck to `bn_size * growth_rate` maps.
    pub conv1: Conv2d,
    /// Batch norm on the bottleneck.
    pub norm2: BatchNorm,
    /// 3x3 convolution, padding 1, to `growth_rate` maps.
    pub conv2: Conv2d,
}

/// BN → ReLU → 1x1 conv halving the maps (compression 0.5) → 2x2 average pool, stride 2.
#[derive(Module, Debug)]
pub struct Transition {
    /// Batch norm on the block's output.
    pub norm: BatchNorm,
    /// 1x1 compression convolution.
    pub conv: Conv2d,
    /// 2x2 average pool, stride 2.
    pub pool: AvgPool2d,
}

impl DenseNetConfig {
    /// DenseNet121: growth 32, blocks (6, 12, 24, 16), 64 stem maps, bottleneck 4.
    pub fn densenet121(num_classes: usize, in_channels: usize) -> Self {
        Self::new(num_classes).with_in_channels(in_channels)
    }

    /// Channels the last dense block hands to `norm5` and the classifier (1024 for DenseNet121).
    pub fn num_features(&self) -> usize {
        let mut channels = self.num_init_features;
        for (i, &layers) in self.block_config.iter().enumerate() {
            channels += layers * self.growth_rate;
            if i + 1 < self.block_config.len() {
                channels /= 2;
            }
        }
        channels
    }

    /// Builds the network on `device`, initialised as torchvision does: Kaiming-normal
    /// convolutions, BN weight 1 and bias 0, classifier bias 0.
    ///
    /// # Panics
    /// If a size is zero (burn's layer constructors assert it).
    pub fn init(&self, device: &Device) -> DenseNet {
        let mut channels = self.num_init_features;
        let mut denseblocks = Vec::with_capacity(self.block_config.len());
        let mut transitions = Vec::with_capacity(self.block_config.len().saturating_sub(1));
        for (i, &layers) in self.block_config.iter().enumerate() {
            let denselayers = (0..layers)
                .map(|j| self.dense_layer(channels + j * self.growth_rate, device))
                .collect();
            denseblocks.push(DenseBlock { denselayers });
            channels += layers * self.growth_rate;
            if i + 1 < self.block_config.len() {
                transitions.push(Transition {
                    norm: BatchNormConfig::new(channels).init(device),
                    conv: conv(channels, channels / 2, 1, 1, 0, device),
                    pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                });
                channels /= 2;
            }
        }
        let features = DenseNetFeatures {
            conv0: conv(self.in_channels, self.num_init_features, 7, 2, 3, device),
            norm0: BatchNormConfig::new(self.num_init_features).init(device),
            pool0: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            denseblocks,
            transitions,
            norm5: BatchNormConfig::new(channels).init(device),
        };
        let mut classifier = LinearConfig::new(channels, self.num_classes).init(device);
        // torchvision keeps PyTorch's default (Kaiming-uniform, a = √5, i.e. burn's default) for
        // the weight but zeroes the bias.
        classifier.bias = Some(Initializer::Zeros.init([self.num_classes], device));
        DenseNet {
            features,
            classifier,
        }
    }

    fn dense_layer(&self, in_channels: usize, device: &Device) -> DenseLayer {
        let bottleneck = self.bn_size * self.growth_rate;
        DenseLayer {
            norm1: BatchNormConfig::new(in_channels).init(device),
            conv1: conv(in_channels, bottleneck, 1, 1, 0, device),
            norm2: BatchNormConfig::new(bottleneck).init(device),
            conv2: conv(bottleneck, self.growth_rate, 3, 1, 1, device),
        }
    }
}

/// A square convolution without bias (every convolution in DenseNet is followed by BN, which
/// makes a bias redundant), Kaiming-normal as torchvision's `nn.init.kaiming_normal_`:
/// std = √(2 / fan_in).
fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: core::f64::consts::SQRT_2,
            fan_out_only: false,
        })
        .init(device)
}

impl DenseNet {
    /// Logits for a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`
    /// - output: `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head(self.forward_features(images))
    }

    /// Per-class probabilities: the sigmoid of [`forward`](Self::forward) (findings are not
    /// exclusive, so no softmax).
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`
    /// - output: `[batch, num_classes]`, each in (0, 1)
    pub fn forward_probabilities(&self, images: Tensor<4>) -> Tensor<2> {
        sigmoid(self.forward(images))
    }

    /// The last dense block's feature maps after `norm5` and ReLU: what Grad-CAM weighs.
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`
    /// - output: `[batch, num_features, height / 32, width / 32]` for four blocks (1024 maps of
    ///   7x7 for DenseNet121 at 224²)
    pub fn forward_features(&self, images: Tensor<4>) -> Tensor<4> {
        relu(self.features.forward(images))
    }

    /// Global average pool and classifier on the output of
    /// [`forward_features`](Self::forward_features).
    ///
    /// # Shapes
    /// - `features`: `[batch, num_features, h, w]`
    /// - output: `[batch, num_classes]`
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        let pooled = features.mean_dims(&[2, 3]); // [B, C, 1, 1]
        self.classifier.forward(pooled.flatten(1, 3)) // [B, classes]
    }
}

impl DenseNetFeatures {
    /// torchvision's `features(x)`: stem, blocks and transitions, `norm5` (no final ReLU).
    ///
    /// # Shapes
    /// - `images`: `[batch, in_channels, height, width]`
    /// - output: `[batch, num_features, h, w]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let x = self.conv0.forward(images); // [B, init, H/2, W/2]
        let x = batch_norm_relu(&self.norm0, x);
        let mut x = self.pool0.forward(x); // [B, init, H/4, W/4]
        for (i, block) in self.denseblocks.iter().enumerate() {
            x = block.forward(x); // [B, C + layers·k, h, w]
            if let Some(transition) = self.transitions.get(i) {
                x = transition.forward(x); // [B, (C + layers·k) / 2, h/2, w/2]
            }
        }
        self.norm5.forward(x)
    }
}

impl DenseBlock {
    /// Each layer sees the concatenation of the block's input and every earlier layer's output.
    ///
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`
    /// - output: `[batch, c + layers · growth_rate, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if x.device().is_autodiff() || !runs_on_cpu(&x.device()) {
            self.forward_concatenating(x)
        } else {
            self.forward_in_one_buffer(x)
        }
    }

    /// Concatenating one layer at a time, which is what torchvision computes (it concatenates
    /// the list of all earlier outputs before each layer; the memory cost is the same). Every
    /// layer copies all the earlier maps again.
    fn forward_concatenating(&self, x: Tensor<4>) -> Tensor<4> {
        self.denselayers.iter().fold(x, |x, layer| {
            let new = layer.forward(x.clone()); // [B, k, h, w]
            Tensor::cat(vec![x, new], 1)
        })
    }

    /// The same maps grown in one buffer of the block's final width, for inference on the CPU:
    /// each layer reads the leading channels filled so far (a view, which flex's batch norm
    /// reads where it lies) and its output is written after them, in place (`flex` writes into
    /// a buffer nothing else holds). Concatenating instead copied every earlier map once per
    /// layer: ~8 % of 128² inference's CPU time.
    ///
    /// Not under autodiff, whose graph keeps each view (so every write would copy the whole
    /// buffer), nor on wgpu, where neither the in-place write nor the view is promised.
    fn forward_in_one_buffer(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        let growth: Vec<usize> = self
            .denselayers
            .iter()
            .map(|layer| layer.conv2.weight.dims()[0])
            .collect();
        let total = channels + growth.iter().sum::<usize>();
        let mut features = Tensor::empty([batch, total, height, width], &x.device())
            .slice_assign([0..batch, 0..channels], x);
        let mut filled = channels;
        for (layer, k) in self.denselayers.iter().zip(growth) {
            let new = layer.forward(features.clone().slice([0..batch, 0..filled])); // [B, k, h, w]
            features = features.slice_assign([0..batch, filled..filled + k], new);
            filled += k;
        }
        features
    }
}

impl DenseLayer {
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`
    /// - output: `[batch, growth_rate, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv1.forward(batch_norm_relu(&self.norm1, x)); // [B, bn_size·k, h, w]
        self.conv2.forward(batch_norm_relu(&self.norm2, x)) // [B, k, h, w]
    }
}

impl Transition {
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`
    /// - output: `[batch, c / 2, h / 2, w / 2]`
    ///
    /// torchvision's order is norm, ReLU, convolution, pool. The 1x1 convolution is the same
    /// linear map at every pixel and the pool a mean of pixels, so the two commute (the pool's
    /// window has no padding): pooling first gives the same output from a quarter of the
    /// convolution's work. The three transitions' convolutions were 11 % of DenseNet121's
    /// multiply-adds at any input size (15 % with the 3x3 convolutions by Winograd).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv
            .forward(self.pool.forward(batch_norm_relu(&self.norm, x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use crate::model::params::trainable_params;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn densenet121_has_torchvision_parameter_count() {
        // `sum(p.numel() for p in torchvision.models.densenet121().parameters())` in torchvision
        // 0.29.2: BN running statistics are buffers there, not parameters.
        let device = cpu_device().autodiff();
        let config = DenseNetConfig::densenet121(1000, 3);
        assert_eq!(config.num_features(), 1024);
        let model = config.init(&device);
        assert_eq!(trainable_params(&model), 7_978_856);
        // burn's own count adds the 83,648 running means and variances (torchvision's buffers
        // without `num_batches_tracked`).
        assert_eq!(model.num_params(), 7_978_856 + 83_648);
    }

    #[test]
    fn tiny_densenet_output_shapes() {
        let device = cpu_device();
        let config = DenseNetConfig::new(3)
            .with_growth_rate(4)
            .with_block_config(vec![2, 3])
            .with_num_init_features(8)
            .with_bn_size(2);
        let model = config.init(&device);
        // 8 + 2·4 = 16 → transition 8 → 8 + 3·4 = 20.
        assert_eq!(config.num_features(), 20);
        let images = Tensor::<4>::random([2, 1, 64, 48], Distribution::Default, &device);
        // Stem /4, one transition /2: 64x48 → 8x6.
        let features = model.forward_features(images.clone());
        assert_eq!(features.dims(), [2, 20, 8, 6]);
        assert_eq!(model.head(features).dims(), [2, 3]);
        let probabilities = model.forward_probabilities(images);
        assert_eq!(probabilities.dims(), [2, 3]);
        let values = probabilities
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 data");
        assert!(values.iter().all(|p| *p > 0.0 && *p < 1.0), "{values:?}");
    }

    #[test]
    fn a_block_grown_in_one_buffer_equals_the_concatenations() {
        // Inference on the CPU grows the block's maps in one buffer; the reference is
        // torchvision's concatenation, the path autodiff and wgpu take.
        let device = cpu_device();
        let config = DenseNetConfig::new(2)
            .with_growth_rate(4)
            .with_block_config(vec![3])
            .with_num_init_features(6)
            .with_bn_size(2);
        let mut block = config.init(&device).features.denseblocks.remove(0);
        // Running statistics other than (0, 1), so that batch norm is not an identity on views.
        for (i, layer) in block.denselayers.iter_mut().enumerate() {
            for norm in [&mut layer.norm1, &mut layer.norm2] {
                let [channels] = norm.gamma.dims();
                let mean = Tensor::<1>::random([channels], Distribution::Normal(0.5, 1.0), &device);
                let variance =
                    Tensor::<1>::random([channels], Distribution::Uniform(0.5, 2.0), &device);
                norm.running_mean = burn::module::RunningState::new(mean.add_scalar(i as f64));
                norm.running_var = burn::module::RunningState::new(variance);
            }
        }
        let x = Tensor::<4>::random([3, 6, 5, 7], Distribution::Normal(0.0, 1.0), &device);
        let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32 data");
        let grown = block.forward(x.clone());
        assert_eq!(grown.dims(), [3, 6 + 3 * 4, 5, 7]);
        assert_eq!(read(grown), read(block.forward_concatenating(x)));
    }

    #[test]
    fn a_transition_pooling_first_equals_torchvisions_order() {
        // torchvision's transition: norm, ReLU, convolution, then pool. Outputs and the
        // gradients of the input and the convolution's weight (under autodiff) must agree, on
        // an even and on an odd size (the pool drops the last row and column).
        let device = cpu_device().autodiff();
        let transition = Transition {
            norm: BatchNormConfig::new(6).init(&device),
            conv: conv(6, 3, 1, 1, 0, &device),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        };
        let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32 data");
        for [h, w] in [[6, 8], [5, 7]] {
            let x = Tensor::<4>::random([2, 6, h, w], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let textbook = transition.pool.forward(
                transition
                    .conv
                    .forward(relu(transition.norm.forward(x.clone()))),
            );
            let pooled_first = transition.forward(x.clone());
            assert_eq!(pooled_first.dims(), [2, 3, h / 2, w / 2]);
            let weights =
                Tensor::<4>::random(pooled_first.dims(), Distribution::Normal(0.0, 1.0), &device);
            let gradients = |y: Tensor<4>| {
                let grads = (y * weights.clone()).sum().backward();
                let dx = x.grad(&grads).expect("input gradient");
                let dw = transition
                    .conv
                    .weight
                    .grad(&grads)
                    .expect("weight gradient");
                (
                    read(dx),
                    dw.into_data().try_to_vec::<f32>().expect("f32 data"),
                )
            };
            let (want_dx, want_dw) = gradients(textbook.clone());
            let (got_dx, got_dw) = gradients(pooled_first.clone());
            for (what, got, want) in [
                ("output", read(pooled_first), read(textbook)),
                ("input gradient", got_dx, want_dx),
                ("weight gradient", got_dw, want_dw),
            ] {
                assert_eq!(got.len(), want.len(), "{what}");
                for (g, e) in got.iter().zip(&want) {
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{what}: {g} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn densenet121_maps_224_to_7x7() {
        // The shapes torchvision's densenet121 gives for a 224² image: 1024 maps of 7x7.
        let device = cpu_device();
        let model = DenseNetConfig::densenet121(14, 1).init(&device);
        let images = Tensor::<4>::from_data(TensorData::zeros::<f32, _>([1, 1, 224, 224]), &device);
        assert_eq!(model.forward_features(images).dims(), [1, 1024, 7, 7]);
    }
}
