//! CLAHE, Contrast Limited Adaptive Histogram Equalisation (Zuiderveld, "Graphics Gems IV",
//! 1994), laid out as OpenCV's `createCLAHE(clipLimit, tileGridSize)`: a 256-bin histogram per
//! tile, clipped at `clip_limit` times the mean bin height with the excess spread over all bins,
//! its cumulative sum as the tile's mapping, and each pixel mapped by the bilinear blend of the
//! four nearest tiles' mappings (so tile borders do not show).
//!
//! Why in an X-ray tool: it brings out lung texture and lines behind the heart without
//! blowing out the whole image, and radiology pipelines commonly use it.

use super::plane::{GREY_MAX, Plane};

const BINS: usize = 256;

/// The image equalised per tile of a `[rows, cols]` grid, grey levels staying in 0–255.
#[must_use]
pub fn clahe(src: &Plane, clip_limit: f64, tile_grid: [u32; 2]) -> Plane {
    let (h, w) = (src.height, src.width);
    if h == 0 || w == 0 {
        return src.clone();
    }
    let tile_rows = (tile_grid[0].max(1) as usize).min(h);
    let tile_cols = (tile_grid[1].max(1) as usize).min(w);
    let bin = |p: f32| p.round().clamp(0.0, GREY_MAX) as usize;
    let bounds = |i: usize, tiles: usize, len: usize| (i * len / tiles, (i + 1) * len / tiles);

    let mut luts = Vec::with_capacity(tile_rows * tile_cols);
    for tr in 0..tile_rows {
        let (r0, r1) = bounds(tr, tile_rows, h);
        for tc in 0..tile_cols {
            let (c0, c1) = bounds(tc, tile_cols, w);
            let mut histogram = [0usize; BINS];
            for r in r0..r1 {
                for &p in &src.pixels[r * w + c0..r * w + c1] {
                    histogram[bin(p)] += 1;
                }
            }
            luts.push(tile_mapping(
                &mut histogram,
                (r1 - r0) * (c1 - c0),
                clip_limit,
            ));
        }
    }

    // Tile centres sit at (i + ½) · tile size; a pixel blends the tiles whose centres bracket it.
    let tile_h = h as f64 / tile_rows as f64;
    let tile_w = w as f64 / tile_cols as f64;
    let bracket = |x: f64, size: f64, tiles: usize| {
        let t = (x + 0.5) / size - 0.5;
        let lo = t.floor();
        let frac = t - lo;
        let clamp = |i: f64| (i.max(0.0) as usize).min(tiles - 1);
        (clamp(lo), clamp(lo + 1.0), frac)
    };
    let mut pixels = Vec::with_capacity(h * w);
    for r in 0..h {
        let (t0, t1, fy) = bracket(r as f64, tile_h, tile_rows);
        for c in 0..w {
            let (u0, u1, fx) = bracket(c as f64, tile_w, tile_cols);
            let v = bin(src.pixels[r * w + c]);
            let at = |t: usize, u: usize| f64::from(luts[t * tile_cols + u][v]);
            let top = at(t0, u0) * (1.0 - fx) + at(t0, u1) * fx;
            let bottom = at(t1, u0) * (1.0 - fx) + at(t1, u1) * fx;
            pixels.push((top * (1.0 - fy) + bottom * fy) as f32);
        }
    }
    Plane { pixels, ..*src }
}

/// A tile's grey mapping: clip the histogram at `clip_limit` × mean bin height (at least 1),
/// spread the clipped excess evenly (the remainder one count per bin at a regular step, as
/// OpenCV), then scale the cumulative histogram to 0–255.
fn tile_mapping(histogram: &mut [usize; BINS], area: usize, clip_limit: f64) -> [f32; BINS] {
    if clip_limit > 0.0 {
        let limit = ((clip_limit * area as f64 / BINS as f64) as usize).max(1);
        let mut excess = 0;
        for count in histogram.iter_mut() {
            if *count > limit {
                excess += *count - limit;
                *count = limit;
            }
        }
        let share = excess / BINS;
        let mut residual = excess % BINS;
        for count in histogram.iter_mut() {
            *count += share;
        }
        // No remainder, no step (checked_div is None for 0).
        if let Some(step) = BINS.checked_div(residual) {
            let step = step.max(1);
            let mut i = 0;
            while i < BINS && residual > 0 {
                histogram[i] += 1;
                residual -= 1;
                i += step;
            }
        }
    }
    let scale = f64::from(GREY_MAX) / area.max(1) as f64;
    let mut mapping = [0.0f32; BINS];
    let mut cumulative = 0usize;
    for (out, count) in mapping.iter_mut().zip(histogram.iter()) {
        cumulative += count;
        *out = (cumulative as f64 * scale).min(f64::from(GREY_MAX)) as f32;
    }
    mapping
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64×64 image of grey levels 100–120 (a smooth pattern): little contrast anywhere.
    fn low_contrast() -> Plane {
        let pixels = (0..64 * 64)
            .map(|i| {
                let (r, c) = ((i / 64) as f32, (i % 64) as f32);
                110.0 + 10.0 * (r * 0.4).sin() * (c * 0.3).cos()
            })
            .collect();
        Plane::new(64, 64, pixels).expect("sized")
    }

    fn local_std(plane: &Plane, r0: usize, c0: usize) -> f64 {
        let values: Vec<f64> = (r0..r0 + 8)
            .flat_map(|r| (c0..c0 + 8).map(move |c| (r, c)))
            .map(|(r, c)| f64::from(plane.at(r, c)))
            .collect();
        let mean = values.iter().sum::<f64>() / 64.0;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 64.0).sqrt()
    }

    #[test]
    fn keeps_range_and_raises_local_contrast() {
        let src = low_contrast();
        let out = clahe(&src, 2.0, [8, 8]);
        assert!(out.pixels.iter().all(|p| (0.0..=255.0).contains(p)));
        for (r, c) in [(0, 0), (16, 24), (40, 8), (56, 56)] {
            let (before, after) = (local_std(&src, r, c), local_std(&out, r, c));
            assert!(after > 1.5 * before, "({r}, {c}): {before} → {after}");
        }
        // With one tile the mapping is a single monotone curve: grey order is kept.
        let single = clahe(&src, 2.0, [1, 1]);
        let mut pairs: Vec<(f32, f32)> = src.pixels.iter().copied().zip(single.pixels).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(pairs.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn unclipped_single_tile_is_histogram_equalisation() {
        // Four grey levels, equally frequent: the cumulative share maps them to 1/4 … 4/4 of 255.
        let src = Plane::new(2, 2, vec![10.0, 20.0, 30.0, 40.0]).expect("sized");
        let out = clahe(&src, 0.0, [1, 1]);
        assert_eq!(out.pixels, [63.75, 127.5, 191.25, 255.0]);
    }

    #[test]
    fn full_range_image_stays_in_range() {
        let pixels = (0..48 * 40).map(|i| ((i * 37) % 256) as f32).collect();
        let src = Plane::new(48, 40, pixels).expect("sized");
        let out = clahe(&src, 3.0, [4, 5]);
        assert!(out.pixels.iter().all(|p| (0.0..=255.0).contains(p)));
    }
}
