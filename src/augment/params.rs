//! [`TransformParams`]: everything random about one image's augmentation, drawn up front.
//!
//! [`sample`] draws them from an [`AugmentSpec`] as Keras's
//! `ImageDataGenerator.get_random_transform` does: the same parameters, in the same order, from
//! the same distributions (uniform ranges, `choice` for int and list shifts, a coin per flip
//! drawn even when flips are off). The bits come from our seeded [`SplitMix64`], not numpy's
//! Mersenne Twister, so the same seed gives the same draws on every platform but not the same
//! numbers as Keras. The X-ray extras are drawn after the Keras parameters.
//!
//! Keeping the draws apart from applying them lets the CPU reference (`pipeline`) and the later
//! GPU path apply the very same parameters, and lets tests feed Keras's own parameter dicts.

use serde::{Deserialize, Serialize};

use super::spec::{AugmentSpec, ShiftRange};
use crate::rng::SplitMix64;

/// A crop window in input pixels (fractional: the crop is resampled bilinearly).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropWindow {
    /// First row.
    pub top: f64,
    /// First column.
    pub left: f64,
    /// Rows covered.
    pub height: f64,
    /// Columns covered.
    pub width: f64,
}

/// A rectangle to erase, in output pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraseRect {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// Gaussian noise to add: its std and the seed of its per-pixel draws (so the params stay small
/// and the noise is reproducible).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseDraw {
    /// Standard deviation, grey levels.
    pub std: f64,
    /// Seed of the per-pixel normal draws.
    pub seed: u64,
}

/// One image's augmentation. Keras fields carry Keras's names from its parameter dict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformParams {
    /// Keras `theta`: rotation, degrees.
    pub theta: f64,
    /// Keras `tx`: shift along rows (vertical), pixels.
    pub tx: f64,
    /// Keras `ty`: shift along columns (horizontal), pixels.
    pub ty: f64,
    /// Keras `shear`: shear angle, degrees.
    pub shear: f64,
    /// Keras `zx`: zoom along rows (>1 shows more of the image).
    pub zx: f64,
    /// Keras `zy`: zoom along columns.
    pub zy: f64,
    /// Keras `flip_horizontal`: mirror left–right.
    pub flip_horizontal: bool,
    /// Keras `flip_vertical`: mirror top–bottom.
    pub flip_vertical: bool,
    /// Keras `channel_shift_intensity`: grey levels added, clipped to the image's min–max.
    pub channel_shift_intensity: Option<f64>,
    /// Keras `brightness`: PIL brightness factor.
    pub brightness: Option<f64>,
    /// Extra: crop window, applied first.
    pub crop: Option<CropWindow>,
    /// Extra: gamma exponent.
    pub gamma: Option<f64>,
    /// Extra: contrast factor.
    pub contrast: Option<f64>,
    /// Extra: whether CLAHE runs on this image.
    pub clahe: bool,
    /// Extra: Gaussian blur σ, pixels.
    pub blur_sigma: Option<f64>,
    /// Extra: Gaussian noise.
    pub noise: Option<NoiseDraw>,
    /// Extra: rectangle to erase.
    pub erase: Option<EraseRect>,
}

impl Default for TransformParams {
    /// The identity: Keras's `apply_transform` with an empty dict.
    fn default() -> Self {
        TransformParams {
            theta: 0.0,
            tx: 0.0,
            ty: 0.0,
            shear: 0.0,
            zx: 1.0,
            zy: 1.0,
            flip_horizontal: false,
            flip_vertical: false,
            channel_shift_intensity: None,
            brightness: None,
            crop: None,
            gamma: None,
            contrast: None,
            clahe: false,
            blur_sigma: None,
            noise: None,
            erase: None,
        }
    }
}

/// Draws one image's parameters for an image of `height` × `width`, as Keras's
/// `get_random_transform(img_shape)` does (it needs the shape to turn fractional shifts into
/// pixels), then the extras.
pub fn sample(
    spec: &AugmentSpec,
    height: usize,
    width: usize,
    rng: &mut SplitMix64,
) -> TransformParams {
    let theta = if spec.rotation_range == 0.0 {
        0.0
    } else {
        rng.uniform(-spec.rotation_range, spec.rotation_range)
    };
    // Keras: `tx` from height_shift_range times rows, `ty` from width_shift_range times columns.
    let tx = shift(&spec.height_shift_range, height, rng);
    let ty = shift(&spec.width_shift_range, width, rng);
    let shear = if spec.shear_range == 0.0 {
        0.0
    } else {
        rng.uniform(-spec.shear_range, spec.shear_range)
    };
    let [zoom_lo, zoom_hi] = spec.zoom_range.bounds();
    let (zx, zy) = if zoom_lo == 1.0 && zoom_hi == 1.0 {
        (1.0, 1.0)
    } else {
        (rng.uniform(zoom_lo, zoom_hi), rng.uniform(zoom_lo, zoom_hi))
    };
    // Keras draws both coins whatever the flags, so turning a flip on does not shift the draws
    // that follow.
    let flip_horizontal = rng.unit() < 0.5 && spec.horizontal_flip;
    let flip_vertical = rng.unit() < 0.5 && spec.vertical_flip;
    let channel_shift_intensity = (spec.channel_shift_range != 0.0)
        .then(|| rng.uniform(-spec.channel_shift_range, spec.channel_shift_range));
    let brightness = spec.brightness_range.map(|[lo, hi]| rng.uniform(lo, hi));

    let crop = spec
        .crop
        .as_ref()
        .map(|c| crop_window(c.scale, height, width, rng));
    let gamma = spec.gamma.map(|[lo, hi]| rng.uniform(lo, hi));
    let contrast = spec.contrast.map(|[lo, hi]| rng.uniform(lo, hi));
    let clahe = spec
        .clahe
        .as_ref()
        .is_some_and(|c| rng.unit() < c.probability);
    let blur_sigma = spec
        .blur
        .as_ref()
        .and_then(|b| (rng.unit() < b.probability).then(|| rng.uniform(b.sigma[0], b.sigma[1])));
    let noise = spec.noise.as_ref().and_then(|n| {
        (rng.unit() < n.probability).then(|| NoiseDraw {
            std: n.std,
            seed: rng.next_u64(),
        })
    });
    let erase = spec.erasing.as_ref().and_then(|e| {
        if rng.unit() < e.probability {
            erase_rect(e.area, e.aspect, height, width, rng)
        } else {
            None
        }
    });

    TransformParams {
        theta,
        tx,
        ty,
        shear,
        zx,
        zy,
        flip_horizontal,
        flip_vertical,
        channel_shift_intensity,
        brightness,
        crop,
        gamma,
        contrast,
        clahe,
        blur_sigma,
        noise,
        erase,
    }
}

/// One Keras shift draw, in pixels, for a side of `side` pixels.
fn shift(range: &ShiftRange, side: usize, rng: &mut SplitMix64) -> f64 {
    if !range.is_active() {
        return 0.0;
    }
    let (value, largest) = match range {
        // `np.random.choice(n) * np.random.choice([-1, 1])`.
        ShiftRange::Int(n) => {
            let v = rng.below(u64::from(*n)) as f64;
            (v * sign(rng), f64::from(*n))
        }
        ShiftRange::Float(r) => (rng.uniform(-r, *r), *r),
        ShiftRange::Values(values) => {
            let v = values[rng.below(values.len() as u64) as usize];
            let largest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (v * sign(rng), largest)
        }
    };
    // Keras: `if np.max(range) < 1: t *= img_shape[axis]`.
    if largest < 1.0 {
        value * side as f64
    } else {
        value
    }
}

fn sign(rng: &mut SplitMix64) -> f64 {
    if rng.below(2) == 0 { -1.0 } else { 1.0 }
}

/// A window covering a uniform fraction in `scale` of the area, with the image's aspect ratio,
/// at a uniform position.
fn crop_window(scale: [f64; 2], height: usize, width: usize, rng: &mut SplitMix64) -> CropWindow {
    let fraction = rng.uniform(scale[0], scale[1]).clamp(0.0, 1.0);
    let side = fraction.sqrt();
    let (h, w) = (side * height as f64, side * width as f64);
    CropWindow {
        top: rng.uniform(0.0, height as f64 - h),
        left: rng.uniform(0.0, width as f64 - w),
        height: h,
        width: w,
    }
}

/// torchvision's `RandomErasing.get_params`: up to ten tries at a rectangle of uniform area and
/// log-uniform aspect that fits; none if all ten fail.
fn erase_rect(
    area: [f64; 2],
    aspect: [f64; 2],
    height: usize,
    width: usize,
    rng: &mut SplitMix64,
) -> Option<EraseRect> {
    let image_area = (height * width) as f64;
    let (log_lo, log_hi) = (aspect[0].ln(), aspect[1].ln());
    for _ in 0..10 {
        let target = image_area * rng.uniform(area[0], area[1]);
        let ratio = rng.uniform(log_lo, log_hi).exp();
        let h = (target * ratio).sqrt().round() as usize;
        let w = (target / ratio).sqrt().round() as usize;
        if h == 0 || w == 0 || h >= height || w >= width {
            continue;
        }
        let top = rng.below((height - h + 1) as u64) as usize;
        let left = rng.below((width - w + 1) as u64) as usize;
        return Some(EraseRect {
            top,
            left,
            height: h,
            width: w,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::spec::{BlurSpec, ErasingSpec, NoiseSpec, ZoomRange};

    const DRAWS: usize = 20_000;

    fn draws(spec: &AugmentSpec, seed: u64) -> Vec<TransformParams> {
        let mut rng = SplitMix64::new(seed);
        (0..DRAWS).map(|_| sample(spec, 40, 52, &mut rng)).collect()
    }

    /// Asserts that `values` stay in `[lo, hi]`, reach within 1 % of the range of both ends, and
    /// have the uniform distribution's mean (standard error of the mean ≈ 0.2 % of the range).
    fn assert_uniform(name: &str, values: &[f64], lo: f64, hi: f64) {
        let span = hi - lo;
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        assert!(
            min >= lo && max <= hi,
            "{name}: {min}..{max} outside {lo}..{hi}"
        );
        assert!(min - lo < 0.01 * span, "{name}: min {min} far from {lo}");
        assert!(hi - max < 0.01 * span, "{name}: max {max} far from {hi}");
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!(
            (mean - (lo + hi) / 2.0).abs() < 0.02 * span,
            "{name}: mean {mean}"
        );
    }

    fn keras_spec() -> AugmentSpec {
        AugmentSpec {
            rotation_range: 5.0,
            width_shift_range: ShiftRange::Float(0.1),
            height_shift_range: ShiftRange::Float(3.0),
            shear_range: 0.02,
            zoom_range: ZoomRange::Bounds([0.9, 1.2]),
            channel_shift_range: 20.0,
            brightness_range: Some([0.7, 1.3]),
            vertical_flip: true,
            ..AugmentSpec::default()
        }
    }

    #[test]
    fn keras_parameters_stay_in_and_cover_their_ranges() {
        let all = draws(&keras_spec(), 1);
        let pick = |f: fn(&TransformParams) -> f64| all.iter().map(f).collect::<Vec<_>>();
        assert_uniform("theta", &pick(|p| p.theta), -5.0, 5.0);
        // Float 3.0 >= 1: pixels. Float 0.1 < 1: a fraction of the 52 columns.
        assert_uniform("tx", &pick(|p| p.tx), -3.0, 3.0);
        assert_uniform("ty", &pick(|p| p.ty), -5.2, 5.2);
        assert_uniform("shear", &pick(|p| p.shear), -0.02, 0.02);
        assert_uniform("zx", &pick(|p| p.zx), 0.9, 1.2);
        assert_uniform("zy", &pick(|p| p.zy), 0.9, 1.2);
        let channel = pick(|p| p.channel_shift_intensity.unwrap_or(f64::NAN));
        assert_uniform("channel shift", &channel, -20.0, 20.0);
        let brightness = pick(|p| p.brightness.unwrap_or(f64::NAN));
        assert_uniform("brightness", &brightness, 0.7, 1.3);
        // zx and zy are drawn independently: their correlation is near 0 (s.e. ≈ 0.007).
        let zx = pick(|p| p.zx);
        let zy = pick(|p| p.zy);
        assert!(correlation(&zx, &zy).abs() < 0.03);
        let vflips = all.iter().filter(|p| p.flip_vertical).count() as f64 / DRAWS as f64;
        assert!((vflips - 0.5).abs() < 0.02, "{vflips}");
        assert!(
            all.iter().all(|p| !p.flip_horizontal),
            "hflip is off by default"
        );
    }

    #[test]
    fn int_and_list_shifts_follow_keras_choice() {
        let spec = AugmentSpec {
            width_shift_range: ShiftRange::Int(4),
            height_shift_range: ShiftRange::Values(vec![0.1, 0.25]),
            ..AugmentSpec::default()
        };
        let all = draws(&spec, 2);
        // choice(4) * choice([-1, 1]): the integers -3..=3, never ±4; 0 twice as often.
        for p in &all {
            assert!(p.ty.fract() == 0.0 && p.ty.abs() <= 3.0, "{}", p.ty);
        }
        for v in [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0] {
            let share = all.iter().filter(|p| p.ty == v).count() as f64 / DRAWS as f64;
            assert!((share - 0.125).abs() < 0.015, "{v}: {share}");
        }
        let zeros = all.iter().filter(|p| p.ty == 0.0).count() as f64 / DRAWS as f64;
        assert!((zeros - 0.25).abs() < 0.02, "{zeros}");
        // A list below 1 is fractions of the 40 rows: ±4 or ±10 pixels.
        for p in &all {
            assert!([4.0, 10.0].contains(&p.tx.abs()), "{}", p.tx);
        }
    }

    #[test]
    fn same_seed_same_params_other_seed_other_params() {
        let spec = AugmentSpec::complex();
        let mut a = SplitMix64::new(9);
        let mut b = SplitMix64::new(9);
        let mut c = SplitMix64::new(10);
        for _ in 0..100 {
            let pa = sample(&spec, 64, 64, &mut a);
            assert_eq!(pa, sample(&spec, 64, 64, &mut b));
            assert_ne!(pa, sample(&spec, 64, 64, &mut c));
        }
    }

    #[test]
    fn off_means_identity() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..100 {
            assert_eq!(
                sample(&AugmentSpec::none(), 64, 64, &mut rng),
                TransformParams::default()
            );
        }
    }

    #[test]
    fn extras_follow_their_probabilities_and_ranges() {
        let spec = AugmentSpec {
            gamma: Some([0.8, 1.25]),
            contrast: Some([0.9, 1.1]),
            blur: Some(BlurSpec {
                sigma: [0.5, 1.5],
                probability: 0.3,
            }),
            noise: Some(NoiseSpec {
                std: 4.0,
                probability: 0.2,
            }),
            erasing: Some(ErasingSpec {
                probability: 0.5,
                area: [0.02, 0.33],
                aspect: [0.3, 3.3],
                value: 0.0,
            }),
            crop: Some(crate::augment::spec::CropSpec { scale: [0.8, 1.0] }),
            ..AugmentSpec::default()
        };
        let all = draws(&spec, 4);
        let gamma: Vec<f64> = all.iter().filter_map(|p| p.gamma).collect();
        assert_uniform("gamma", &gamma, 0.8, 1.25);
        let contrast: Vec<f64> = all.iter().filter_map(|p| p.contrast).collect();
        assert_uniform("contrast", &contrast, 0.9, 1.1);
        let sigma: Vec<f64> = all.iter().filter_map(|p| p.blur_sigma).collect();
        assert!((sigma.len() as f64 / DRAWS as f64 - 0.3).abs() < 0.02);
        assert_uniform("blur sigma", &sigma, 0.5, 1.5);
        let noisy = all.iter().filter(|p| p.noise.is_some()).count() as f64 / DRAWS as f64;
        assert!((noisy - 0.2).abs() < 0.02, "{noisy}");
        let erased: Vec<EraseRect> = all.iter().filter_map(|p| p.erase).collect();
        // Ten tries almost always fit one rectangle, so close to half the images are erased.
        assert!((erased.len() as f64 / DRAWS as f64 - 0.5).abs() < 0.03);
        for e in &erased {
            assert!(e.top + e.height <= 40 && e.left + e.width <= 52);
            // Rounding h and w moves the area by up to about one row and one column.
            let fraction = (e.height * e.width) as f64 / (40.0 * 52.0);
            let slack = (e.height + e.width + 1) as f64 / (40.0 * 52.0);
            assert!(
                fraction >= 0.02 - slack && fraction <= 0.33 + slack,
                "{fraction}"
            );
        }
        for c in all.iter().filter_map(|p| p.crop) {
            let area = c.height * c.width / (40.0 * 52.0);
            assert!((0.8 - 1e-9..=1.0 + 1e-9).contains(&area), "{area}");
            assert!(c.top >= 0.0 && c.top + c.height <= 40.0 + 1e-9);
            assert!(c.left >= 0.0 && c.left + c.width <= 52.0 + 1e-9);
        }
    }

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }
}
