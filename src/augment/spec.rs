//! [`AugmentSpec`]: what augmentation to do, as a serialisable config.
//!
//! Every Keras `ImageDataGenerator` parameter is here under its Keras name, with Keras's unit
//! and meaning, so that a pasted Keras call (see `keras_call`) means the same thing here as in
//! the paper or notebook it came from. The X-ray extras that Keras lacks (gamma, contrast, CLAHE,
//! noise, blur, random erasing, random crop) follow, each `None` when off. `params` draws one
//! image's [`TransformParams`](super::TransformParams) from a spec; `pipeline` applies them.
//!
//! The spec carries a `version` so that a saved `config.json` can be told apart from a later
//! layout; [`SPEC_VERSION`] is the layout this code writes.

use serde::{Deserialize, Serialize};

/// The spec layout this code writes and reads.
pub const SPEC_VERSION: u32 = 1;

/// A Keras shift range (`width_shift_range`, `height_shift_range`), in Keras's three forms.
///
/// Serialised untagged, so JSON mirrors Python: `5` is an int, `5.0` and `0.1` are floats and
/// `[2, 4]` is a list, exactly as Keras tells them apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShiftRange {
    /// Python `int` `n`: Keras draws `np.random.choice(n)`, an integer in `0..n` pixels, then a
    /// random sign. (The Keras docs say "from the interval (-n, +n)"; the code, which we follow,
    /// never reaches ±n.)
    Int(u32),
    /// Python `float` `r`: uniform in `[-r, r)`; a fraction of the side when `r < 1`, pixels
    /// when `r >= 1`.
    Float(f64),
    /// Python list or tuple: one of the values, then a random sign; fractions of the side when
    /// every value is below 1, else pixels.
    Values(Vec<f64>),
}

impl ShiftRange {
    /// No shift: Keras's default `0.`.
    pub const NONE: ShiftRange = ShiftRange::Float(0.0);

    /// Whether Keras would draw a shift at all (`if self.width_shift_range:` in Python).
    #[must_use]
    pub fn is_active(&self) -> bool {
        match self {
            ShiftRange::Int(n) => *n != 0,
            ShiftRange::Float(r) => *r != 0.0,
            ShiftRange::Values(v) => !v.is_empty(),
        }
    }
}

impl Default for ShiftRange {
    fn default() -> Self {
        ShiftRange::NONE
    }
}

/// A Keras `zoom_range`: a float `z` meaning `[1 - z, 1 + z]`, or explicit bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ZoomRange {
    /// `z`: zoom factors in `[1 - z, 1 + z]`.
    Symmetric(f64),
    /// `[lower, upper]`.
    Bounds([f64; 2]),
}

impl ZoomRange {
    /// `[lower, upper]` as Keras's constructor normalises it.
    #[must_use]
    pub fn bounds(&self) -> [f64; 2] {
        match self {
            ZoomRange::Symmetric(z) => [1.0 - z, 1.0 + z],
            ZoomRange::Bounds(b) => *b,
        }
    }
}

impl Default for ZoomRange {
    fn default() -> Self {
        ZoomRange::Symmetric(0.0)
    }
}

/// How points outside the input are filled: Keras's `fill_mode`, passed straight to
/// `scipy.ndimage.affine_transform(mode=…)`, so the semantics are scipy's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillMode {
    /// `cval` outside `[0, n - 1]` (`kkkk|abcd|kkkk`); no blending towards `cval`.
    Constant,
    /// The edge pixel (`aaaa|abcd|dddd`). Keras's default.
    #[default]
    Nearest,
    /// scipy's `reflect`: half-sample symmetric, the edge pixel repeated (`dcba|abcd|dcba`).
    Reflect,
    /// scipy's `wrap`: periodic with period `n - 1`, first and last samples overlapping
    /// (scipy's documented quirk; `grid-wrap` would be period `n`, but Keras passes `wrap`).
    Wrap,
}

impl FillMode {
    /// All modes, in Keras's documentation order.
    pub const ALL: [FillMode; 4] = [
        FillMode::Constant,
        FillMode::Nearest,
        FillMode::Reflect,
        FillMode::Wrap,
    ];

    /// The Keras / scipy name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FillMode::Constant => "constant",
            FillMode::Nearest => "nearest",
            FillMode::Reflect => "reflect",
            FillMode::Wrap => "wrap",
        }
    }

    /// The mode called `name` in Keras, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<FillMode> {
        FillMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Contrast Limited Adaptive Histogram Equalisation (Zuiderveld, 1994; OpenCV's `createCLAHE`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaheSpec {
    /// Clip limit, in multiples of the mean bin height of a tile's 256-bin histogram (OpenCV's
    /// `clipLimit`; 2.0 is its common X-ray setting).
    pub clip_limit: f64,
    /// Tiles per side as `[rows, cols]` (OpenCV's `tileGridSize`, default 8×8).
    pub tile_grid: [u32; 2],
    /// Chance of applying it to an image, in `[0, 1]`.
    pub probability: f64,
}

/// Additive Gaussian noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseSpec {
    /// Standard deviation, in grey levels of the 0–255 range.
    pub std: f64,
    /// Chance of applying it to an image, in `[0, 1]`.
    pub probability: f64,
}

/// Gaussian blur (scipy's `gaussian_filter`: kernel truncated at 4σ, `reflect` borders).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlurSpec {
    /// `[lower, upper]` of σ, in pixels; drawn uniformly.
    pub sigma: [f64; 2],
    /// Chance of applying it to an image, in `[0, 1]`.
    pub probability: f64,
}

/// Random erasing (Zhong et al., 2020, "Random Erasing Data Augmentation"), drawn as
/// torchvision's `RandomErasing` does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErasingSpec {
    /// Chance of erasing a rectangle, in `[0, 1]` (paper and torchvision: 0.5).
    pub probability: f64,
    /// `[lower, upper]` of the erased area, as a fraction of the image (torchvision: 0.02–0.33).
    pub area: [f64; 2],
    /// `[lower, upper]` of the rectangle's height / width; drawn log-uniformly
    /// (torchvision: 0.3–3.3).
    pub aspect: [f64; 2],
    /// Grey level written into the rectangle, 0–255 (torchvision's default value 0).
    pub value: f64,
}

/// Random crop of a square window, resized back to the full image (torchvision's
/// `RandomResizedCrop` with the aspect ratio fixed to the image's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropSpec {
    /// `[lower, upper]` of the window's area as a fraction of the image; drawn uniformly.
    pub scale: [f64; 2],
}

/// What augmentation to do. Keras fields first (defaults are Keras's), then the extras.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentSpec {
    /// Layout version; [`SPEC_VERSION`] when written by this code.
    pub version: u32,

    /// Keras `rotation_range`, degrees: θ uniform in `[-r, r)`. Default 0.
    pub rotation_range: f64,
    /// Keras `width_shift_range`: horizontal shift (Keras's `ty`, along columns). Default 0.
    pub width_shift_range: ShiftRange,
    /// Keras `height_shift_range`: vertical shift (Keras's `tx`, along rows). Default 0.
    pub height_shift_range: ShiftRange,
    /// Keras `shear_range`, degrees (its `apply_transform` converts with `np.deg2rad`; the
    /// docstring's "in radians" was never true of the code): shear uniform in `[-s, s)`.
    /// Default 0.
    pub shear_range: f64,
    /// Keras `zoom_range`: zx and zy drawn independently from the range; a factor above 1 shows
    /// more of the image (zooms out). Default 0 (no zoom).
    pub zoom_range: ZoomRange,
    /// Keras `channel_shift_range`, grey levels: a value uniform in `[-c, c)` added, clipped to
    /// the image's own min and max. Default 0.
    pub channel_shift_range: f64,
    /// Keras `fill_mode` for points outside the input. Default `nearest`.
    pub fill_mode: FillMode,
    /// Keras `cval`, grey level for `fill_mode = constant`. Default 0.
    pub cval: f64,
    /// Keras `horizontal_flip`: mirror left–right with probability ½. Default false, and best
    /// left so for chest X-rays: a mirrored chest shows situs inversus (heart on the right).
    pub horizontal_flip: bool,
    /// Keras `vertical_flip`: mirror top–bottom with probability ½. Default false.
    pub vertical_flip: bool,
    /// Keras `brightness_range`, `[lower, upper]` factor: the image is min–max scaled to 0–255,
    /// truncated to `u8` and multiplied by a factor uniform in the range through PIL's
    /// `ImageEnhance.Brightness` (as Keras does). Default `None`.
    pub brightness_range: Option<[f64; 2]>,
    /// Keras `rescale`: every pixel multiplied by it after augmentation, before the
    /// normalisations (`1/255` maps grey levels to `[0, 1]`). Default `None`.
    pub rescale: Option<f64>,
    /// Keras `samplewise_center`: subtract each image's own mean. Default false.
    pub samplewise_center: bool,
    /// Keras `samplewise_std_normalization`: divide each image by its own std + 1e-6. Keras
    /// turns `samplewise_center` on with it. Default false.
    pub samplewise_std_normalization: bool,
    /// Keras `featurewise_center`: subtract the training split's mean grey level (see
    /// `normalize::FeaturewiseStats`). Default false.
    pub featurewise_center: bool,
    /// Keras `featurewise_std_normalization`: divide by the training split's std + 1e-6. Keras
    /// turns `featurewise_center` on with it. Default false.
    pub featurewise_std_normalization: bool,

    /// Extra, `[lower, upper]` gamma γ: `255 · (x / 255)^γ`, γ drawn uniformly. `None` is off.
    pub gamma: Option<[f64; 2]>,
    /// Extra, `[lower, upper]` contrast factor c: `mean + c · (x − mean)`, clipped to 0–255
    /// (PIL's `ImageEnhance.Contrast` formula); c drawn uniformly. `None` is off.
    pub contrast: Option<[f64; 2]>,
    /// Extra, CLAHE. `None` is off.
    pub clahe: Option<ClaheSpec>,
    /// Extra, additive Gaussian noise. `None` is off.
    pub noise: Option<NoiseSpec>,
    /// Extra, Gaussian blur. `None` is off.
    pub blur: Option<BlurSpec>,
    /// Extra, random erasing. `None` is off.
    pub erasing: Option<ErasingSpec>,
    /// Extra, random crop resized back to full size, done before the Keras transform.
    /// `None` is off.
    pub crop: Option<CropSpec>,
}

impl Default for AugmentSpec {
    /// Keras's `ImageDataGenerator()` defaults: nothing happens.
    fn default() -> Self {
        AugmentSpec {
            version: SPEC_VERSION,
            rotation_range: 0.0,
            width_shift_range: ShiftRange::NONE,
            height_shift_range: ShiftRange::NONE,
            shear_range: 0.0,
            zoom_range: ZoomRange::default(),
            channel_shift_range: 0.0,
            fill_mode: FillMode::Nearest,
            cval: 0.0,
            horizontal_flip: false,
            vertical_flip: false,
            brightness_range: None,
            rescale: None,
            samplewise_center: false,
            samplewise_std_normalization: false,
            featurewise_center: false,
            featurewise_std_normalization: false,
            gamma: None,
            contrast: None,
            clahe: None,
            noise: None,
            blur: None,
            erasing: None,
            crop: None,
        }
    }
}

impl AugmentSpec {
    /// Preset `none`: images go in unchanged.
    #[must_use]
    pub fn none() -> Self {
        AugmentSpec::default()
    }

    /// Preset `basic`: no geometry, each image standardised on its own
    /// (`samplewise_center` and `samplewise_std_normalization`).
    #[must_use]
    pub fn basic() -> Self {
        AugmentSpec {
            samplewise_center: true,
            samplewise_std_normalization: true,
            ..AugmentSpec::default()
        }
    }

    /// Preset `complex`: `basic` plus `rotation_range=5`, `shear_range=0.02`,
    /// `zoom_range=0.02` (Keras units: degrees, degrees, ±fraction) and a random crop keeping
    /// 85–100 % of the area (our choice: small enough to keep the whole chest in view).
    #[must_use]
    pub fn complex() -> Self {
        AugmentSpec {
            rotation_range: 5.0,
            shear_range: 0.02,
            zoom_range: ZoomRange::Symmetric(0.02),
            crop: Some(CropSpec { scale: [0.85, 1.0] }),
            ..AugmentSpec::basic()
        }
    }

    /// The preset called `name` (`none`, `basic`, `complex`), if any.
    #[must_use]
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "none" => Some(AugmentSpec::none()),
            "basic" => Some(AugmentSpec::basic()),
            "complex" => Some(AugmentSpec::complex()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_keras_defaults_and_hflip_is_off() {
        let spec = AugmentSpec::default();
        assert!(!spec.horizontal_flip);
        assert_eq!(spec.fill_mode, FillMode::Nearest);
        assert_eq!(spec.zoom_range.bounds(), [1.0, 1.0]);
        assert!(!spec.width_shift_range.is_active());
        assert_eq!(spec.version, SPEC_VERSION);
    }

    #[test]
    fn presets_match_their_description() {
        let complex = AugmentSpec::complex();
        assert_eq!(complex.rotation_range, 5.0);
        assert_eq!(complex.shear_range, 0.02);
        assert_eq!(complex.zoom_range.bounds(), [0.98, 1.02]);
        assert!(complex.samplewise_center && complex.samplewise_std_normalization);
        assert!(complex.crop.is_some());
        assert!(!complex.horizontal_flip);
        assert_eq!(AugmentSpec::preset("basic"), Some(AugmentSpec::basic()));
        assert_eq!(AugmentSpec::preset("fancy"), None);
    }

    #[test]
    fn json_mirrors_python_types_and_round_trips() {
        let json = r#"{"version": 1, "width_shift_range": 5, "height_shift_range": 0.1,
                       "zoom_range": [0.9, 1.2], "fill_mode": "reflect"}"#;
        let spec: AugmentSpec = serde_json::from_str(json).expect("parses");
        assert_eq!(spec.width_shift_range, ShiftRange::Int(5));
        assert_eq!(spec.height_shift_range, ShiftRange::Float(0.1));
        assert_eq!(spec.zoom_range.bounds(), [0.9, 1.2]);
        assert_eq!(spec.fill_mode, FillMode::Reflect);
        // Fields left out take Keras's defaults.
        assert_eq!(spec.rotation_range, 0.0);
        let float: AugmentSpec =
            serde_json::from_str(r#"{"width_shift_range": 5.0}"#).expect("parses");
        assert_eq!(float.width_shift_range, ShiftRange::Float(5.0));
        let complex = AugmentSpec::complex();
        let text = serde_json::to_string(&complex).expect("serialises");
        assert_eq!(
            serde_json::from_str::<AugmentSpec>(&text).expect("parses"),
            complex
        );
    }
}
