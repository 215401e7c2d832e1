//! Known-answer test of Grad-CAM: a small DenseNet learns to tell noise images with a bright
//! square from noise alone, and its heatmap must then point at the square. Where the evidence
//! is, is known by construction; nothing here comes from the Grad-CAM code. Compiled only for
//! tests; natively on `flex`.
//!
//! Sizes: 64² images, 16-pixel squares. The network's stem divides by 4 and its one transition
//! by 2, so the feature map is 8×8, one cell per 8×8 pixels, and each cell's receptive field
//! spans most of the image: the maps are broad blobs round the square with a flat top, and the
//! argmax wanders within that top. With 8-pixel squares (one cell) the peak was often a cell off
//! the square; with 16-pixel squares it lands on the square or within `MARGIN` = 4 pixels of it
//! (half a cell: a border cell's value is clamped over its outer 4 pixels by the upsampling, and
//! ties go to the first pixel). Checked with a second set of seeds (model 18, training stream 5,
//! test stream 7): 24 of 24 peaks within the margin; the farthest were 4 pixels out, at the
//! image border.
//!
//! 400 Adam steps of 16 images: about 17 s on a busy 2-core machine.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

use crate::backend::cpu_device;
use crate::metrics::auc;
use crate::model::densenet::{DenseNet, DenseNetConfig};
use crate::model::grad_cam::grad_cam;
use crate::model::init::seeded_on;
use crate::rng::SplitMix64;
use crate::train::loss::binary_cross_entropy_with_logits;
use crate::train::preprocess::{InputSpec, Normalization, preprocess};

const SIDE: u32 = 64;
const SQUARE: u32 = 16;
/// Half the feature map's stride of 8 pixels: see the module doc.
const MARGIN: u32 = 4;

/// A fixed normalisation, centring the background: uniform noise in 60..140 has mean
/// 99.5 / 255 ≈ 0.390 and standard deviation 80 / √12 / 255 ≈ 0.0906.
///
/// Not the app's default (samplewise): a square raises an image's standard deviation and so
/// shrinks the normalised background noise of every positive, and the network can then tell
/// the classes apart from the background alone; Grad-CAM then (rightly) lights the background.
/// A first version of this test did exactly that. Not `[0, 1]` either: burn's zero padding is
/// then darker than any background, a dark frame round every image that the network used as a
/// landmark, and peaks drifted to the border cells. With a fixed map, the background of both
/// classes has one distribution, padding looks like average background, and the square is the
/// only evidence there is.
const INPUT: InputSpec = InputSpec {
    side: SIDE,
    channels: 1,
    normalization: Normalization::Fixed {
        mean: [0.390; 3],
        std: [0.0906; 3],
    },
};

/// One grey image: uniform noise in 60..140, and for a positive a `SQUARE`-pixel square of
/// 200..255 at a random place; returns the pixels and the square's top-left corner.
fn example(rng: &mut SplitMix64, positive: bool) -> (Vec<u8>, Option<(u32, u32)>) {
    let mut pixels: Vec<u8> = (0..SIDE * SIDE).map(|_| 60 + rng.below(80) as u8).collect();
    if !positive {
        return (pixels, None);
    }
    let x0 = rng.below(u64::from(SIDE - SQUARE + 1)) as u32;
    let y0 = rng.below(u64::from(SIDE - SQUARE + 1)) as u32;
    for y in y0..y0 + SQUARE {
        for x in x0..x0 + SQUARE {
            pixels[(y * SIDE + x) as usize] = 200 + rng.below(56) as u8;
        }
    }
    (pixels, Some((x0, y0)))
}

/// `n` preprocessed images, half positive in random order, and their labels.
fn batch(rng: &mut SplitMix64, n: usize, device: &Device) -> (Tensor<4>, Vec<bool>) {
    let mut images = Vec::with_capacity(n * INPUT.len());
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let positive = rng.below(2) == 1;
        images.extend(preprocess(&example(rng, positive).0, SIDE, &INPUT));
        labels.push(positive);
    }
    let side = SIDE as usize;
    let x = Tensor::from_data(TensorData::new(images, [n, 1, side, side]), device);
    (x, labels)
}

fn train(device: &Device) -> DenseNet {
    let mut model = seeded_on(17, device, |cpu| {
        DenseNetConfig::new(1)
            .with_growth_rate(8)
            .with_block_config(vec![2, 2])
            .with_num_init_features(16)
            .with_bn_size(2)
            .init(cpu)
    });
    let mut optimizer = AdamConfig::new().init();
    let mut rng = SplitMix64::new(1);
    for _ in 0..STEPS {
        let (x, labels) = batch(&mut rng, BATCH, device);
        let targets: Vec<f32> = labels.iter().map(|l| f32::from(u8::from(*l))).collect();
        let y = Tensor::<2>::from_data(TensorData::new(targets, [BATCH, 1]), device);
        let loss = binary_cross_entropy_with_logits(model.forward(x), y, None, None);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(LEARNING_RATE, model, grads);
    }
    model
}

const STEPS: usize = 400;
const BATCH: usize = 16;
const LEARNING_RATE: f64 = 3e-3;

#[test]
fn the_heatmap_peaks_on_the_square_the_model_learnt_to_find() {
    let device = cpu_device().autodiff();
    let model = train(&device);

    // It separates held-out images (a different generator stream from training).
    let plain = cpu_device();
    let mut rng = SplitMix64::new(2);
    let (x, labels) = batch(&mut rng, 128, &plain);
    let probabilities = model
        .valid()
        .forward_probabilities(x)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 data");
    let held_out_auc = auc(&probabilities, &labels).expect("both classes drawn");
    let correct = probabilities
        .iter()
        .zip(&labels)
        .filter(|(p, l)| (**p > 0.5) == **l)
        .count();
    eprintln!("held-out AUC {held_out_auc:.4}, accuracy {correct}/128");
    assert!(held_out_auc > 0.98, "AUC {held_out_auc}");
    assert!(correct >= 120, "accuracy {correct}/128");

    // Its heatmap on held-out positives peaks on the square, within the margin, for at least 10
    // of 12.
    let mut rng = SplitMix64::new(3);
    let mut misses = Vec::new();
    for i in 0..12 {
        let (pixels, square) = example(&mut rng, true);
        let (x0, y0) = square.expect("a positive has a square");
        let side = SIDE as usize;
        let x = Tensor::<4>::from_data(
            TensorData::new(preprocess(&pixels, SIDE, &INPUT), [1, 1, side, side]),
            &device,
        );
        let cam = pollster::block_on(grad_cam(&model, x, 0, &device)).expect("Grad-CAM");
        assert_eq!((cam.heatmap.width, cam.heatmap.height), (8, 8));
        let (px, py) = cam.heatmap.upsample(SIDE).peak().expect("a non-empty map");
        let inside = |p: u32, start: u32| p + MARGIN >= start && p <= start + SQUARE - 1 + MARGIN;
        eprintln!(
            "image {i}: square at ({x0}, {y0})..({}, {}), peak ({px}, {py}), p = {:.3}",
            x0 + SQUARE - 1,
            y0 + SQUARE - 1,
            cam.probability
        );
        if !(inside(px, x0) && inside(py, y0)) {
            misses.push((i, (x0, y0), (px, py)));
        }
    }
    // Most, not all: the training's floating-point order depends on flex's thread pool and
    // kernels (the 1x1 convolutions as GEMM moved 2 of 12 peaks off a square at one point), and
    // a small network's Grad-CAM can favour an edge of the image. Chance would put a peak on
    // the square ~10 % of the time.
    assert!(misses.len() <= 2, "peaks off the square: {misses:?}");
}
