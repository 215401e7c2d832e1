//! [`ImageStore`]: every loaded image once, grey `u8` at the working resolution, in one
//! contiguous buffer, with its path.
//!
//! Why `u8` and one buffer: 5,000 images at 224² are 5,000 × 50,176 B ≈ 251 MB, where `f32`
//! would be 1 GB, too much for a browser tab. Batches are converted to `f32` (and augmented) a
//! batch at a time by the batcher, which reads slices from here; nothing else copies the pixels.

use super::image::GreyImage;

/// Grey images of one side, kept once, in insertion order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageStore {
    side: u32,
    names: Vec<String>,
    pixels: Vec<u8>,
}

impl ImageStore {
    /// An empty store for `side`×`side` images.
    #[must_use]
    pub fn new(side: u32) -> Self {
        ImageStore {
            side,
            names: Vec::new(),
            pixels: Vec::new(),
        }
    }

    /// Adds an image under `name` (its path, the join key with the labels); returns its index.
    ///
    /// # Panics
    /// If the image is not `side`×`side`: decoders resize to the store's side, so a mismatch is
    /// a bug in the caller, not bad data.
    pub fn push(&mut self, name: impl Into<String>, image: &GreyImage) -> usize {
        assert!(
            image.side == self.side && image.pixels.len() == self.image_len(),
            "image of side {} pushed into a store of side {}",
            image.side,
            self.side
        );
        self.pixels.extend_from_slice(&image.pixels);
        self.names.push(name.into());
        self.names.len() - 1
    }

    /// Makes room for `additional` more images at once, so that loading a known number of files
    /// does not over-allocate by doubling.
    pub fn reserve(&mut self, additional: usize) {
        self.pixels.reserve_exact(additional * self.image_len());
        self.names.reserve_exact(additional);
    }

    /// Gives back spare capacity (call when loading is done).
    pub fn shrink_to_fit(&mut self) {
        self.pixels.shrink_to_fit();
        self.names.shrink_to_fit();
    }

    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Side of every image, in pixels.
    #[must_use]
    pub const fn side(&self) -> u32 {
        self.side
    }

    /// Bytes of one image: `side * side`.
    #[must_use]
    pub fn image_len(&self) -> usize {
        self.side as usize * self.side as usize
    }

    /// The pixels of image `i`, row by row; `None` past the end.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let n = self.image_len();
        self.pixels.get(i * n..(i + 1) * n)
    }

    /// The name (path) of image `i`; `None` past the end.
    #[must_use]
    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }

    /// All names, by index.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names and pixels, by index.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.pixels.chunks_exact(self.image_len().max(1)))
    }

    /// Memory held, in bytes: pixels plus names (capacity, as allocated).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.pixels.capacity()
            + self.names.capacity() * size_of::<String>()
            + self.names.iter().map(String::capacity).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(side: u32, v: u8) -> GreyImage {
        GreyImage {
            side,
            pixels: vec![v; (side * side) as usize],
            source_width: side,
            source_height: side,
        }
    }

    #[test]
    fn push_get_and_names() {
        let mut store = ImageStore::new(4);
        assert!(store.is_empty());
        assert_eq!(store.push("a.png", &flat(4, 1)), 0);
        assert_eq!(store.push("b/c.png", &flat(4, 2)), 1);
        assert_eq!(store.len(), 2);
        assert_eq!(store.side(), 4);
        assert_eq!(store.get(1), Some(&[2u8; 16][..]));
        assert_eq!(store.get(2), None);
        assert_eq!(store.name(1), Some("b/c.png"));
        let all: Vec<_> = store.iter().map(|(n, p)| (n.to_owned(), p[0])).collect();
        assert_eq!(
            all,
            vec![("a.png".to_owned(), 1), ("b/c.png".to_owned(), 2)]
        );
    }

    #[test]
    fn five_thousand_images_are_about_250_mb() {
        let mut store = ImageStore::new(224);
        let image = flat(224, 7);
        for i in 0..5000 {
            store.push(format!("{i:08}_000.png"), &image);
        }
        store.shrink_to_fit();
        let mb = store.memory_bytes() as f64 / 1e6;
        // 5000 × 224² = 250.88 MB of pixels, plus ~0.2 MB of names.
        assert_eq!(store.pixels.len(), 5000 * 224 * 224);
        assert!((250.8..251.5).contains(&mb), "{mb} MB");
        assert_eq!(store.get(4999).unwrap()[0], 7);
    }

    #[test]
    #[should_panic(expected = "side 8 pushed into a store of side 4")]
    fn wrong_side_is_a_bug() {
        ImageStore::new(4).push("x", &flat(8, 0));
    }
}
