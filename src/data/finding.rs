//! The 14 findings of NIH ChestX-ray14: the label vocabulary every other module speaks.
//!
//! The order is the NIH order (the order of the paper and of torchxrayvision's `NIH_Dataset`), and
//! it is the order of the model's outputs: [`Finding::index`] is the output channel. Parsers map
//! their own names onto this enum (`labels`); the split, the class frequencies and the metrics
//! report per `Finding`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the 14 thoracic findings labelled in NIH ChestX-ray14.
///
/// Serialised with its NIH spelling (`"Pleural_Thickening"`), so saved configs and results read
/// like the label file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Finding {
    /// Collapse of part of a lung.
    Atelectasis,
    /// An enlarged heart.
    Cardiomegaly,
    /// Pleural effusion: fluid between the lung and the chest wall.
    Effusion,
    /// Infiltration: something (fluid, cells) filling the lung tissue.
    Infiltration,
    /// A lesion larger than 3 cm.
    Mass,
    /// A lesion up to 3 cm.
    Nodule,
    /// Infection of the lung.
    Pneumonia,
    /// Air between the lung and the chest wall.
    Pneumothorax,
    /// Lung tissue filled with liquid instead of air.
    Consolidation,
    /// Fluid in the lung tissue (often from heart failure).
    Edema,
    /// Destroyed, over-inflated air sacs.
    Emphysema,
    /// Scarred lung tissue.
    Fibrosis,
    /// Thickened pleura.
    #[serde(rename = "Pleural_Thickening")]
    PleuralThickening,
    /// Organs pushing through the diaphragm into the chest.
    Hernia,
}

impl Finding {
    /// How many findings there are: the width of a multi-label target.
    pub const COUNT: usize = 14;

    /// All findings in NIH order; `ALL[f.index()] == f`.
    pub const ALL: [Finding; Finding::COUNT] = [
        Finding::Atelectasis,
        Finding::Cardiomegaly,
        Finding::Effusion,
        Finding::Infiltration,
        Finding::Mass,
        Finding::Nodule,
        Finding::Pneumonia,
        Finding::Pneumothorax,
        Finding::Consolidation,
        Finding::Edema,
        Finding::Emphysema,
        Finding::Fibrosis,
        Finding::PleuralThickening,
        Finding::Hernia,
    ];

    /// Position in NIH order (0 for Atelectasis … 13 for Hernia): the model's output channel.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The spelling used in NIH's `Finding Labels` column, e.g. `"Pleural_Thickening"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Finding::Atelectasis => "Atelectasis",
            Finding::Cardiomegaly => "Cardiomegaly",
            Finding::Effusion => "Effusion",
            Finding::Infiltration => "Infiltration",
            Finding::Mass => "Mass",
            Finding::Nodule => "Nodule",
            Finding::Pneumonia => "Pneumonia",
            Finding::Pneumothorax => "Pneumothorax",
            Finding::Consolidation => "Consolidation",
            Finding::Edema => "Edema",
            Finding::Emphysema => "Emphysema",
            Finding::Fibrosis => "Fibrosis",
            Finding::PleuralThickening => "Pleural_Thickening",
            Finding::Hernia => "Hernia",
        }
    }

    /// A label for people (charts, tables), e.g. `"Pleural thickening"`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Finding::PleuralThickening => "Pleural thickening",
            other => other.name(),
        }
    }

    /// The finding with this exact NIH spelling (`"Effusion"`, `"Pleural_Thickening"`), or
    /// `None`. `"No Finding"` is not a finding: it is `None` here, and the NIH parser treats it
    /// as "all 14 negative".
    #[must_use]
    pub fn from_nih_name(name: &str) -> Option<Finding> {
        Finding::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Like [`Finding::from_nih_name`], but ignores case and treats spaces, `-` and `_` alike,
    /// so folder names such as `pleural thickening` or `EFFUSION` are understood.
    #[must_use]
    pub fn from_loose_name(name: &str) -> Option<Finding> {
        let wanted = loose(name);
        Finding::ALL.into_iter().find(|f| loose(f.name()) == wanted)
    }

    /// The NIH spellings of all findings, comma-separated: for error messages.
    #[must_use]
    pub fn expected_names() -> String {
        Finding::ALL.map(Finding::name).join(", ")
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Lower case, with `' '`, `'-'` and `'_'` all turned into `'_'`.
pub(crate) fn loose(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_nih_order_and_index_matches() {
        let names: Vec<&str> = Finding::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "Atelectasis",
                "Cardiomegaly",
                "Effusion",
                "Infiltration",
                "Mass",
                "Nodule",
                "Pneumonia",
                "Pneumothorax",
                "Consolidation",
                "Edema",
                "Emphysema",
                "Fibrosis",
                "Pleural_Thickening",
                "Hernia"
            ]
        );
        for (i, f) in Finding::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }

    #[test]
    fn names_round_trip() {
        for f in Finding::ALL {
            assert_eq!(Finding::from_nih_name(f.name()), Some(f));
            assert_eq!(Finding::from_loose_name(f.label()), Some(f));
        }
        assert_eq!(Finding::from_nih_name("No Finding"), None);
        assert_eq!(Finding::from_nih_name("Efusion"), None);
        assert_eq!(Finding::from_nih_name("effusion"), None);
        assert_eq!(
            Finding::from_loose_name("pleural thickening"),
            Some(Finding::PleuralThickening)
        );
        assert_eq!(
            Finding::from_loose_name("EFFUSION"),
            Some(Finding::Effusion)
        );
    }

    #[test]
    fn label_and_display() {
        assert_eq!(Finding::PleuralThickening.label(), "Pleural thickening");
        assert_eq!(Finding::Hernia.to_string(), "Hernia");
    }
}
