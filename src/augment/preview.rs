//! The live preview: one image and a dozen augmented versions of it under a spec, as grey PNGs
//! for the page. The CPU path, drawn from a seeded generator, so the same spec and seed always
//! show the same grid.

use std::io::Cursor;

use super::params::sample;
use super::pipeline::augment_image;
use super::plane::Plane;
use super::spec::AugmentSpec;
use crate::rng::SplitMix64;

/// `count` augmented versions of the grey `side`² image `pixels`, each as a PNG; the original
/// first. Values outside 0–255 (noise, brightness) are clamped for display.
#[must_use]
pub fn preview_pngs(
    spec: &AugmentSpec,
    pixels: &[u8],
    side: usize,
    count: usize,
    seed: u64,
) -> Vec<Vec<u8>> {
    let Some(plane) = Plane::from_u8(side, side, pixels) else {
        return Vec::new();
    };
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(count + 1);
    out.extend(grey_png(&plane));
    for _ in 0..count {
        let params = sample(spec, side, side, &mut rng);
        out.extend(grey_png(&augment_image(spec, &params, &plane)));
    }
    out
}

fn grey_png(plane: &Plane) -> Option<Vec<u8>> {
    let bytes: Vec<u8> = plane
        .pixels
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    let image = image::GrayImage::from_raw(plane.width as u32, plane.height as u32, bytes)?;
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> Vec<u8> {
        image::load_from_memory(png).unwrap().to_luma8().into_raw()
    }

    #[test]
    fn the_original_then_count_versions_reproducible_for_a_seed() {
        let pixels: Vec<u8> = (0..32 * 32).map(|i| (i % 32 * 8) as u8).collect();
        let spec = AugmentSpec::complex();
        let a = preview_pngs(&spec, &pixels, 32, 12, 3);
        assert_eq!(a.len(), 13);
        assert_eq!(decode(&a[0]), pixels, "the first is the original");
        assert_eq!(a, preview_pngs(&spec, &pixels, 32, 12, 3));
        assert!(
            a[1..].iter().any(|p| decode(p) != pixels),
            "complex changes the image"
        );
        let none = preview_pngs(&AugmentSpec::none(), &pixels, 32, 2, 3);
        assert!(
            none.iter().all(|p| decode(p) == pixels),
            "none leaves it alone"
        );
    }

    #[test]
    fn a_horizontal_flip_mirrors_the_columns() {
        let pixels: Vec<u8> = (0..16 * 16).map(|i| (i % 16 * 16) as u8).collect();
        let spec = AugmentSpec {
            horizontal_flip: true,
            ..AugmentSpec::none()
        };
        // Keras flips with probability ½: among 12 draws, some are mirrored.
        let grid = preview_pngs(&spec, &pixels, 16, 12, 1);
        let mirrored: Vec<u8> = (0..16 * 16).map(|i| ((15 - i % 16) * 16) as u8).collect();
        assert!(grid[1..].iter().any(|p| decode(p) == mirrored));
        assert!(grid[1..].iter().any(|p| decode(p) == pixels));
    }
}
