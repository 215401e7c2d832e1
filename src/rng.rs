//! [`SplitMix64`]: the one seeded random number generator of the crate.
//!
//! Why our own: a seed must mean the same patient split and the same augmentation on wasm32 and
//! natively, in every version, and splitmix64 (Steele, Lea and Flood, 2014; Vigna's reference
//! `splitmix64.c`) is a dozen lines with a published output to test against. `data::split`
//! shuffles patients with it; `augment::params` draws transform parameters with it.

/// splitmix64: tiny, seedable, identical on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is the reference's first output for `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The whole state: `SplitMix64::new(g.state())` continues exactly as `g` (checkpoints).
    #[must_use]
    pub const fn state(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our sizes).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `[0, 1)` with 53 random bits, as numpy's `random()`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A number in `[low, high)`, as numpy's `uniform(low, high)`: `low + (high - low) * unit`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// A standard normal number (Box–Muller; the second value is dropped so that each call
    /// costs the same two draws, which keeps streams easy to reason about).
    pub fn normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference() {
        // First outputs of Vigna's splitmix64.c seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn unit_and_normal_have_their_moments() {
        let mut rng = SplitMix64::new(42);
        let n = 200_000;
        let units: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / f64::from(n);
        // Uniform on [0, 1): mean 1/2, standard error sqrt(1/12 / n) ≈ 6.5e-4.
        assert!((mean - 0.5).abs() < 4e-3, "{mean}");
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let m = normals.iter().sum::<f64>() / f64::from(n);
        let var = normals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / f64::from(n);
        assert!(m.abs() < 0.01, "{m}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
        // About 4.55 % of a standard normal lies beyond 2.
        let tail = normals.iter().filter(|x| x.abs() > 2.0).count() as f64 / f64::from(n);
        assert!((tail - 0.0455).abs() < 0.003, "{tail}");
    }
}
