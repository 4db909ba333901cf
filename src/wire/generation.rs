//! Protocol generations: which reference a device or console speaks, how a
//! heartbeat tells it, and the operator side's codes tagged with the
//! generation whose catalog read them.
//!
//! A command or event-kind number means nothing without its generation:
//! event kind 301 is `acquisitionStarted` in 0.9.11 and
//! `applicationModeChanged` in 0.12. The device side knows its generation
//! from [`crate::RpcOptions::protocol`]; the operator side learns it from
//! the device's heartbeat (or is told), and tags every code it reads.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::code::{Catalog, WireCode};
use super::{v0_12, v0_9};

/// A generation of the reference's wire protocol.
///
/// The default is [`Generation::V0_9`], the protocol this crate has spoken
/// since its first version: a service upgraded to this version keeps
/// talking to the consoles it already had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Generation {
    /// `auto-trainer-api` 0.9.11 (and the 0.9 series before it).
    #[default]
    V0_9,
    /// `auto-trainer-api` 0.12.0, whose service is the same from 0.10.3 on:
    /// renumbered event kinds, typed event contexts, ApiSystemStatus,
    /// spaced replies.
    V0_12,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 2] = [Generation::V0_9, Generation::V0_12];

    /// The version of the reference package this generation follows.
    pub const fn reference_version(self) -> &'static str {
        match self {
            Generation::V0_9 => "0.9.11",
            Generation::V0_12 => "0.12.0",
        }
    }

    /// The short name used on command lines: `0.9` or `0.12`.
    pub const fn short_name(self) -> &'static str {
        match self {
            Generation::V0_9 => "0.9",
            Generation::V0_12 => "0.12",
        }
    }

    /// The `version` of this crate's heartbeats as a device of this
    /// generation: the reference's version with this crate's as semver
    /// build metadata, `0.12.0+rust.0.1.0`. A semver parser reads it as the
    /// reference version (build metadata does not count), so a console that
    /// tells generations apart by version treats us as the reference we
    /// follow; a person reading it still sees which implementation it is.
    pub fn heartbeat_version(self) -> String {
        format!(
            "{}+rust.{}",
            self.reference_version(),
            env!("CARGO_PKG_VERSION")
        )
    }

    /// The generation a heartbeat's `version` announces: `0.9.x` and below
    /// (including this crate's own versions before it said more than its
    /// version, `0.1.0`) speak 0.9; 0.10 and later speak 0.12, the newest
    /// this crate knows. `None` when the text is not a version.
    ///
    /// ```
    /// use auto_trainer_api::Generation;
    /// assert_eq!(Generation::from_version("0.9.11"), Some(Generation::V0_9));
    /// assert_eq!(Generation::from_version("0.12.0+rust.0.1.0"), Some(Generation::V0_12));
    /// assert_eq!(Generation::from_version("0.10.3"), Some(Generation::V0_12));
    /// assert_eq!(Generation::from_version("dev"), None);
    /// ```
    pub fn from_version(version: &str) -> Option<Self> {
        let core = version.trim().trim_start_matches(['v', 'V']);
        let core = core.split(['+', '-']).next().unwrap_or(core);
        let mut numbers = core.split('.');
        let major: u64 = numbers.next()?.parse().ok()?;
        let minor: u64 = numbers.next().map_or(Some(0), |m| m.parse().ok())?;
        Some(if major == 0 && minor < 10 {
            Generation::V0_9
        } else {
            Generation::V0_12
        })
    }
}

/// Its reference version, `0.9.11` or `0.12.0`.
impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reference_version())
    }
}

/// The error of parsing a [`Generation`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a protocol generation (0.9 or 0.12)")]
pub struct UnknownGeneration(pub String);

/// Parses `0.9`, `0.12` or any version [`Generation::from_version`] reads
/// (`0.9.11`, `0.12.0`, `v0.12`).
impl std::str::FromStr for Generation {
    type Err = UnknownGeneration;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Generation::from_version(text).ok_or_else(|| UnknownGeneration(text.to_owned()))
    }
}

impl Serialize for Generation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.short_name())
    }
}

impl<'de> Deserialize<'de> for Generation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Declares a code tagged with the generation whose catalog read it.
macro_rules! tagged_code {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $old:ty, $new:ty }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            /// Read with the 0.9.11 catalog.
            V0_9($old),
            /// Read with the 0.12 catalog.
            V0_12($new),
            /// Read before the device's generation was known (no heartbeat
            /// yet, and none configured): the number only.
            Undetected(i64),
        }

        impl $name {
            /// Reads `value` with `generation`'s catalog; without one the
            /// number is kept as [`Self::Undetected`].
            pub fn read(generation: Option<Generation>, value: i64) -> Self {
                match generation {
                    Some(Generation::V0_9) => Self::V0_9(<$old>::from_value(value)),
                    Some(Generation::V0_12) => Self::V0_12(<$new>::from_value(value)),
                    None => Self::Undetected(value),
                }
            }

            /// The number on the wire.
            pub fn value(self) -> i64 {
                match self {
                    Self::V0_9(code) => code.value(),
                    Self::V0_12(code) => code.value(),
                    Self::Undetected(value) => value,
                }
            }

            /// Its name in the catalog that read it; `None` when that
            /// catalog does not know the number, or none read it.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    Self::V0_9(code) => code.name(),
                    Self::V0_12(code) => code.name(),
                    Self::Undetected(_) => None,
                }
            }

            /// The generation whose catalog read it.
            pub fn generation(self) -> Option<Generation> {
                match self {
                    Self::V0_9(_) => Some(Generation::V0_9),
                    Self::V0_12(_) => Some(Generation::V0_12),
                    Self::Undetected(_) => None,
                }
            }

            /// The 0.9.11 value, if the 0.9.11 catalog read it.
            pub fn v0_9(self) -> Option<$old> {
                match self {
                    Self::V0_9(code) => Some(code),
                    _ => None,
                }
            }

            /// The 0.12 value, if the 0.12 catalog read it.
            pub fn v0_12(self) -> Option<$new> {
                match self {
                    Self::V0_12(code) => Some(code),
                    _ => None,
                }
            }
        }

        impl From<$old> for $name {
            fn from(code: $old) -> Self {
                Self::V0_9(code)
            }
        }

        impl From<$new> for $name {
            fn from(code: $new) -> Self {
                Self::V0_12(code)
            }
        }

        /// Equal when the 0.9.11 catalog read it as that value.
        impl PartialEq<$old> for $name {
            fn eq(&self, other: &$old) -> bool {
                self.v0_9() == Some(*other)
            }
        }

        /// Equal when the 0.12 catalog read it as that value.
        impl PartialEq<$new> for $name {
            fn eq(&self, other: &$new) -> bool {
                self.v0_12() == Some(*other)
            }
        }

        /// The name, or the number when no catalog names it.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}", self.value()),
                }
            }
        }

        /// As its number, like the catalogs.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_i64(self.value())
            }
        }

        /// From a number alone no generation can be told: it reads as
        /// [`Self::Undetected`] ([`Self::read`] takes the generation).
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                i64::deserialize(deserializer).map(Self::Undetected)
            }
        }

        /// Without a generation, numbers read as [`Self::Undetected`].
        impl Catalog for $name {
            const GENERATION: Option<Generation> = None;
            fn from_code(value: i64) -> Self {
                Self::Undetected(value)
            }
        }

        impl WireCode for $name {
            fn code(self) -> i64 {
                self.value()
            }
            fn code_name(self) -> Option<&'static str> {
                self.name()
            }
            fn generation(self) -> Option<Generation> {
                $name::generation(self)
            }
        }
    };
}

tagged_code! {
    /// A command number tagged with the generation whose catalog read it:
    /// what the operator side holds, since it learns each device's
    /// generation at run time.
    ///
    /// ```
    /// use auto_trainer_api::{v0_12, v0_9, Command, Generation};
    /// let start = Command::read(Some(Generation::V0_12), 50);
    /// assert_eq!(start, v0_12::ApiCommand::StartAcquisition);
    /// assert_ne!(start, v0_9::ApiCommand::StartAcquisition); // 100 in 0.9.11
    /// assert_eq!(start.to_string(), "START_ACQUISITION");
    /// ```
    pub enum Command { v0_9::ApiCommand, v0_12::ApiCommand }
}

tagged_code! {
    /// An event kind tagged with the generation whose catalog read it, so
    /// that a number is never named by the other generation's catalog.
    ///
    /// ```
    /// use auto_trainer_api::{v0_12, v0_9, EventKind, Generation};
    /// assert_eq!(EventKind::read(Some(Generation::V0_9), 301), v0_9::ApiEventKind::AcquisitionStarted);
    /// assert_eq!(EventKind::read(Some(Generation::V0_12), 301), v0_12::ApiEventKind::ApplicationModeChanged);
    /// assert_eq!(EventKind::read(None, 301).to_string(), "301");
    /// ```
    pub enum EventKind { v0_9::ApiEventKind, v0_12::ApiEventKind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_name_their_generation() {
        for (version, generation) in [
            ("0.9.11", Some(Generation::V0_9)),
            ("0.9.0", Some(Generation::V0_9)),
            ("0.1.0", Some(Generation::V0_9)),
            ("0.10.3", Some(Generation::V0_12)),
            ("0.11.0", Some(Generation::V0_12)),
            ("0.12.0", Some(Generation::V0_12)),
            ("1.0.0", Some(Generation::V0_12)),
            ("0.12", Some(Generation::V0_12)),
            ("0.9", Some(Generation::V0_9)),
            ("v0.12", Some(Generation::V0_12)),
            ("0.12.0rc1", Some(Generation::V0_12)),
            ("", None),
            ("latest", None),
        ] {
            assert_eq!(Generation::from_version(version), generation, "{version}");
        }
        for generation in Generation::ALL {
            assert_eq!(
                Generation::from_version(&generation.heartbeat_version()),
                Some(generation)
            );
            assert_eq!(generation.short_name().parse(), Ok(generation));
        }
    }
}
