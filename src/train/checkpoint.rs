//! [`Checkpoint`]: everything a training run needs to go on after a reload or a lost GPU,
//! taken between two epochs and kept as one byte blob in the browser's own storage (the worker
//! writes it; see `web::storage`).
//!
//! The images are not in it (a data set can be gigabytes, and it is the user's): the user loads
//! the same data again, and a [`fingerprint`] of the images, labels and split tells whether it
//! is the same. The weights are CXR Lab model files ([`crate::model::file`]), so one loading
//! path is trusted; the rest (settings, counters, history, generator, batch order, Adam's
//! moments) is plain data, encoded with bincode 1 behind a magic and a version.

use serde::{Deserialize, Serialize};

use super::adam::AdamSnapshot;
use super::config::TrainConfig;
use super::examples::{Examples, SplitExamples};
use super::trainer::TrainerState;
use crate::data::{DataView, Dataset};
use crate::protocol::{ModelChoice, TrainRequest};

/// The first bytes of every checkpoint.
const MAGIC: &[u8; 8] = b"CXRCKPT\0";
/// The layout version this build writes and reads.
const VERSION: u32 = 1;

/// What the page shows about a checkpoint before resuming it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// Epochs done.
    pub epochs_done: usize,
    /// Epochs asked for.
    pub epochs: usize,
    /// The network.
    pub model: ModelChoice,
    /// Input side.
    pub side: u32,
    /// Images in the data set it was trained on.
    pub images: usize,
    /// The data set's [`fingerprint`].
    pub fingerprint: u64,
    /// The best validation mean AUC so far.
    pub best_auc: Option<f64>,
    /// When it was written, in milliseconds since 1970 (the worker's clock); 0 if unknown.
    pub saved_at_ms: f64,
}

/// A training run between two epochs; see the module doc.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// For the page.
    pub summary: CheckpointSummary,
    /// The run as asked for, without initial weights (the model file holds the weights now).
    pub request: TrainRequest,
    /// The split and labels the run trains on.
    pub view: DataView,
    /// The settings as the trainer runs them (channels and normalisation follow the weights).
    pub config: TrainConfig,
    /// Counters, history, generator, batch order.
    pub state: TrainerState,
    /// Adam's moments.
    pub optimizer: AdamSnapshot,
    /// The current weights, as a CXR Lab model file.
    pub model: Vec<u8>,
    /// The best epoch's weights, unless they are the current ones.
    pub best_model: Option<Vec<u8>>,
}

/// Why bytes are not a checkpoint this build can resume.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Not one of ours, or cut short.
    #[error("not a CXR Lab checkpoint (or cut short)")]
    NotACheckpoint,
    /// Written by a newer CXR Lab.
    #[error("the checkpoint is version {0}; this CXR Lab reads version {VERSION}")]
    Version(u32),
    /// The body does not decode.
    #[error("the checkpoint is damaged: {0}")]
    Damaged(String),
}

impl Checkpoint {
    /// The checkpoint as bytes: magic, version, then the bincode body.
    ///
    /// # Errors
    /// The encoder's message (a bug: every field is plain data).
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let body = bincode::serialize(self).map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Reads [`Checkpoint::to_bytes`]'s output.
    ///
    /// # Errors
    /// [`CheckpointError`] for other bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(CheckpointError::NotACheckpoint)?;
        let (version, body) = rest
            .split_first_chunk::<4>()
            .ok_or(CheckpointError::NotACheckpoint)?;
        let version = u32::from_le_bytes(*version);
        if version != VERSION {
            return Err(CheckpointError::Version(version));
        }
        bincode::deserialize(body).map_err(|e| CheckpointError::Damaged(e.to_string()))
    }
}

/// A 64-bit fingerprint of what a run trains on: the images (names and pixels at the working
/// resolution) and the split's examples (which images, targets, masks). Same data, same
/// labels, same split: same fingerprint; it is not a security check, only a guard against
/// resuming on other data by mistake.
#[must_use]
pub fn fingerprint(dataset: &Dataset, examples: &SplitExamples) -> u64 {
    let mut hash = Fnv::default();
    hash.write(&dataset.store.side().to_le_bytes());
    hash.write(&(dataset.store.len() as u64).to_le_bytes());
    for (name, pixels) in dataset.store.iter() {
        hash.write(name.as_bytes());
        hash.write(&[0]);
        hash.write(pixels);
    }
    for side in [&examples.train, &examples.validation, &examples.test] {
        hash_examples(&mut hash, side);
    }
    hash.0
}

fn hash_examples(hash: &mut Fnv, examples: &Examples) {
    hash.write(&(examples.images.len() as u64).to_le_bytes());
    for image in &examples.images {
        hash.write(&(*image as u64).to_le_bytes());
    }
    for value in examples.targets.iter().chain(&examples.mask) {
        hash.write(&value.to_le_bytes());
    }
}

/// FNV-1a, 64 bits: a dozen lines, the same on every platform and in every version (std's
/// hasher is neither).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
