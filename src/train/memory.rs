//! The largest single GPU buffer a DenseNet training step needs, and the batch that fits a
//! device's per-buffer limits (WebGPU's `maxStorageBufferBindingSize` and `maxBufferSize`).
//!
//! Total memory is the GPU driver's business, but no single buffer may exceed those limits:
//! cubecl allocates each tensor in one buffer, and one that is too large loses the device. The
//! estimate is the largest of, per image, in `f32`:
//!
//! - the stem convolution's output, `[F0, H/2, W/2]`;
//! - each dense block's concatenated features, `[C_in + L·k, h, w]` at the block's resolution;
//! - the im2col columns of every convolution wider than 1x1 in the backward pass. burn-cubecl
//!   0.22.1's `dgrad_im2col` and `wgrad_im2col` (`kernel/conv/im2col.rs`, autotune candidates
//!   for the input and weight gradients) materialise `[B·h·w, taps·C_in]` in one buffer: for
//!   a dense layer's 3x3 convolution on its `bn_size·k` bottleneck maps that is `9·bn_size·k`
//!   values per output pixel, ~4.5x the block's features in DenseNet121; for the stem's 7x7
//!   weight gradient `49·C_in` per pixel at `H/2`, which dominates in small networks. The 1x1
//!   convolutions' columns are their input (no copy), smaller than the concatenated features.
//!
//! Every term is proportional to the batch, so the largest batch that fits is a division.

use serde::{Deserialize, Serialize};

use crate::model::densenet::DenseNetConfig;
use crate::protocol::{ModelChoice, TrainRequest};

/// A device's limits on one buffer, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferLimits {
    /// WebGPU `maxStorageBufferBindingSize`.
    pub max_storage_buffer_binding_size: u64,
    /// WebGPU `maxBufferSize`.
    pub max_buffer_size: u64,
}

impl BufferLimits {
    /// The largest single buffer a kernel can use: the smaller of the two.
    #[must_use]
    pub fn per_buffer(&self) -> u64 {
        self.max_storage_buffer_binding_size
            .min(self.max_buffer_size)
    }
}

/// The largest buffer of a training step for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LargestBuffer {
    /// Bytes per image in the batch.
    pub bytes_per_image: u64,
    /// What it holds, for the user ("the im2col columns of dense block 1's 3x3 convolution").
    pub what: String,
}

/// The output side of a convolution or pool.
fn out_side(side: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (side + 2 * padding).saturating_sub(kernel) / stride + 1
}

/// The largest buffer a training step of `model` on `side`×`side` images needs, per image.
#[must_use]
pub fn largest_buffer(model: &DenseNetConfig, side: usize) -> LargestBuffer {
    const F32: u64 = 4;
    let mut candidates: Vec<(usize, String)> = Vec::new();
    // Stem: 7x7 stride 2 padding 3, then a 3x3 stride 2 padding 1 max pool.
    let stem = out_side(side, 7, 2, 3);
    candidates.push((
        49 * model.in_channels * stem * stem,
        "the im2col columns of the stem convolution".to_owned(),
    ));
    candidates.push((
        model.num_init_features * stem * stem,
        "the stem convolution's output".to_owned(),
    ));
    let mut h = out_side(stem, 3, 2, 1);
    let mut channels = model.num_init_features;
    let bottleneck = model.bn_size * model.growth_rate;
    for (i, &layers) in model.block_config.iter().enumerate() {
        channels += layers * model.growth_rate;
        candidates.push((
            channels * h * h,
            format!("dense block {}'s concatenated features", i + 1),
        ));
        if layers > 0 {
            candidates.push((
                9 * bottleneck * h * h,
                format!(
                    "the im2col columns of dense block {}'s 3x3 convolutions",
                    i + 1
                ),
            ));
        }
        if i + 1 < model.block_config.len() {
            channels /= 2;
            h /= 2;
        }
    }
    let (values, what) =
        candidates.into_iter().fold(
            (0, String::new()),
            |best, c| if c.0 > best.0 { c } else { best },
        );
    LargestBuffer {
        bytes_per_image: values as u64 * F32,
        what,
    }
}

/// The batch a run will use, and why it is smaller than asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCap {
    /// The batch asked for.
    pub requested: usize,
    /// The largest batch whose largest buffer fits (at least 1).
    pub batch: usize,
    /// Bytes of the largest buffer at the requested batch.
    pub requested_bytes: u64,
    /// The device's limit per buffer.
    pub limit_bytes: u64,
}

impl BatchCap {
    /// Whether the batch was lowered.
    #[must_use]
    pub fn capped(&self) -> bool {
        self.batch < self.requested
    }

    /// "Batch 128 needs a 1.7 GiB buffer; this GPU allows 1 GiB per buffer: training with
    /// batch 74."
    #[must_use]
    pub fn message(&self) -> String {
        format!(
            "Batch {} needs a {} buffer; this GPU allows {} per buffer: training with batch {}.",
            self.requested,
            gigabytes(self.requested_bytes),
            gigabytes(self.limit_bytes),
            self.batch
        )
    }
}

/// Bytes in binary units, as the limits are set: "1 GiB", "1.7 GiB", "128 MiB".
#[must_use]
pub fn gigabytes(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        let tenths = (gib * 10.0).round();
        if tenths % 10.0 == 0.0 {
            format!("{:.0} GiB", tenths / 10.0)
        } else {
            format!("{:.1} GiB", tenths / 10.0)
        }
    } else {
        format!("{:.0} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}

/// The largest batch, at most `requested`, whose largest buffer fits `limits`. Never below 1:
/// a single image that does not fit is left to fail with the device's own error.
#[must_use]
pub fn cap_batch(
    model: &DenseNetConfig,
    side: usize,
    requested: usize,
    limits: &BufferLimits,
) -> BatchCap {
    let per_image = largest_buffer(model, side).bytes_per_image.max(1);
    let limit = limits.per_buffer();
    let fits = usize::try_from(limit / per_image).unwrap_or(usize::MAX);
    BatchCap {
        requested,
        batch: requested.min(fits).max(1),
        requested_bytes: per_image.saturating_mul(requested as u64),
        limit_bytes: limit,
    }
}

/// The architecture `request` trains, as far as buffer sizes go (the outputs do not matter):
/// DenseNet121 on 3 channels with initial weights, as [`crate::train::session::Session::start`]
/// builds it.
#[must_use]
pub fn request_architecture(model: ModelChoice, with_weights: bool) -> DenseNetConfig {
    if with_weights {
        DenseNetConfig::densenet121(1, 3)
    } else {
        crate::train::session::architecture(model, 1, 1)
    }
}

/// Lowers `request`'s batch to the largest that fits `limits`; `Some` (for the user) when it
/// did.
pub fn cap_request(request: &mut TrainRequest, limits: &BufferLimits) -> Option<BatchCap> {
    let model = request_architecture(request.model, request.weights.is_some());
    let side = request.config.input.side as usize;
    let cap = cap_batch(&model, side, request.config.batch_size, limits);
    request.config.batch_size = cap.batch;
    cap.capped().then_some(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const SWIFTSHADER: BufferLimits = BufferLimits {
        max_storage_buffer_binding_size: GIB,
        max_buffer_size: GIB,
    };

    fn small() -> DenseNetConfig {
        request_architecture(ModelChoice::Small, false)
    }

    #[test]
    fn densenet121_at_224_is_dominated_by_the_first_blocks_im2col_columns() {
        // Stem 112², pool 56². Block 1: 64 + 6·32 = 256 maps at 56² (802,816 values, as the
        // stem's 64 × 112²); its 3x3 convolutions read 4·32 = 128 maps: 9 · 128 · 56² =
        // 3,612,672 values = 14,450,688 bytes per image.
        let largest = largest_buffer(&DenseNetConfig::densenet121(14, 1), 224);
        assert_eq!(largest.bytes_per_image, 14_450_688);
        assert_eq!(
            largest.what,
            "the im2col columns of dense block 1's 3x3 convolutions"
        );
        // 1 GiB / 14,450,688 = 74.3.
        let cap = cap_batch(&DenseNetConfig::densenet121(14, 1), 224, 128, &SWIFTSHADER);
        assert_eq!(cap.batch, 74);
        assert!(cap.capped());
        assert_eq!(cap.requested_bytes, 128 * 14_450_688);
        assert_eq!(
            cap.message(),
            "Batch 128 needs a 1.7 GiB buffer; this GPU allows 1 GiB per buffer: training with batch 74."
        );
    }

    #[test]
    fn the_small_densenet_at_320() {
        // Stem 160², pool 80². The stem's weight gradient reads im2col columns of 49 taps of
        // the grey image per output pixel: 49 · 160² = 1,254,400 values = 5,017,600 bytes. The
        // first block's 3x3 columns (9 · 2·8 · 80² = 921,600 values) and the stem's output
        // (16 · 160² = 409,600) are smaller.
        let largest = largest_buffer(&small(), 320);
        assert_eq!(largest.bytes_per_image, 5_017_600);
        assert_eq!(largest.what, "the im2col columns of the stem convolution");
        // 1 GiB / 5,017,600 = 213.99.
        let cap = cap_batch(&small(), 320, 400, &SWIFTSHADER);
        assert_eq!((cap.requested, cap.batch), (400, 213));
        assert_eq!(
            cap.message(),
            "Batch 400 needs a 1.9 GiB buffer; this GPU allows 1 GiB per buffer: training with batch 213."
        );
    }

    #[test]
    fn three_channel_stems_and_odd_sides() {
        // A 3-channel stem at 65²: 33² outputs; im2col 49 · 3 · 33² = 160,083 values; the
        // block's 3x3 columns at 17²: 9 · 128 · 17² = 332,928 values.
        let model = DenseNetConfig::densenet121(14, 3);
        assert_eq!(largest_buffer(&model, 65).bytes_per_image, 332_928 * 4);
        // A stem with no blocks: only the stem terms.
        let stem_only = DenseNetConfig::new(2)
            .with_in_channels(3)
            .with_block_config(vec![]);
        let largest = largest_buffer(&stem_only, 64);
        assert_eq!(largest.bytes_per_image, 49 * 3 * 32 * 32 * 4);
        assert_eq!(largest.what, "the im2col columns of the stem convolution");
    }

    #[test]
    fn a_batch_that_fits_is_kept_and_the_smaller_limit_counts() {
        let limits = BufferLimits {
            max_storage_buffer_binding_size: 128 << 20,
            max_buffer_size: 256 << 20,
        };
        assert_eq!(limits.per_buffer(), 128 << 20);
        let cap = cap_batch(&small(), 64, 16, &limits);
        assert_eq!(cap.batch, 16);
        assert!(!cap.capped());
        // Even one image too large: batch 1, left to the device.
        let tiny = BufferLimits {
            max_storage_buffer_binding_size: 10,
            max_buffer_size: 10,
        };
        assert_eq!(cap_batch(&small(), 64, 16, &tiny).batch, 1);
    }

    #[test]
    fn a_request_is_capped_in_place() {
        let mut request = TrainRequest {
            config: crate::train::config::TrainConfig::default(),
            model: ModelChoice::Small,
            outputs: crate::protocol::OutputsChoice::Findings,
            augmentation: crate::augment::AugmentSpec::none(),
            weights: None,
        };
        request.config.input.side = 320;
        request.config.batch_size = 400;
        let cap = cap_request(&mut request, &SWIFTSHADER).expect("capped");
        assert_eq!((cap.batch, request.config.batch_size), (213, 213));
        assert_eq!(cap_request(&mut request, &SWIFTSHADER), None);
        // With ImageNet weights it is DenseNet121 (the stem on 3 channels).
        request.weights = Some(vec![]);
        request.config.input.side = 224;
        request.config.batch_size = 128;
        assert_eq!(
            cap_request(&mut request, &SWIFTSHADER).map(|c| c.batch),
            Some(74)
        );
    }

    #[test]
    fn sizes_read_as_gigabytes_or_megabytes() {
        assert_eq!(gigabytes(GIB), "1 GiB");
        assert_eq!(gigabytes(2 * GIB + GIB / 10), "2.1 GiB");
        assert_eq!(gigabytes(128 << 20), "128 MiB");
    }
}
