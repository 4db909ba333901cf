//! The integer codes of the protocol, declared once each.
//!
//! Every code enum converts to and from its number and its reference name
//! (case-insensitive, `_` and `-` ignored), serializes as its number like the
//! reference's `IntEnum`s, and keeps a number it does not know in `Unknown`
//! instead of losing it.

/// Folds a name for comparison: ASCII lowercase, without `_` and `-`, so that
/// `START_ACQUISITION`, `start-acquisition` and `StartAcquisition` all match.
pub(crate) fn fold_name(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A protocol code as read by some catalog (or by none): its number on the
/// wire, its name and the protocol generation whose catalog named it.
///
/// Implemented by every catalog of [`crate::v0_9`] and [`crate::v0_12`], by
/// the runtime-tagged [`crate::Command`] and [`crate::EventKind`] that the
/// operator side uses, and by `i64` (a number read with no catalog).
pub trait WireCode:
    Copy + Eq + std::hash::Hash + std::fmt::Debug + std::fmt::Display + Send + Sync + 'static
{
    /// The number on the wire.
    fn code(self) -> i64;
    /// The catalog's name for it; `None` when the number is unknown to the
    /// catalog or was read without one.
    fn code_name(self) -> Option<&'static str>;
    /// The generation whose catalog read the number; `None` without one.
    fn generation(self) -> Option<crate::Generation>;
}

/// A generation's catalog of one code family (commands or event kinds):
/// every number reads into it, unknown ones included.
pub trait Catalog: WireCode + serde::Serialize + serde::de::DeserializeOwned {
    /// The generation of this catalog; `None` for `i64` (no catalog).
    const GENERATION: Option<crate::Generation>;
    /// The value for a number (unknown numbers are kept).
    fn from_code(value: i64) -> Self;
}

/// A number read with no catalog: what the service's internals carry
/// before the app's delegate gives it a meaning.
impl WireCode for i64 {
    fn code(self) -> i64 {
        self
    }
    fn code_name(self) -> Option<&'static str> {
        None
    }
    fn generation(self) -> Option<crate::Generation> {
        None
    }
}

impl Catalog for i64 {
    const GENERATION: Option<crate::Generation> = None;
    fn from_code(value: i64) -> Self {
        value
    }
}

/// Makes a `wire_code!` enum of one generation a [`Catalog`].
macro_rules! generation_catalog {
    ($($name:ty => $generation:ident),+ $(,)?) => {$(
        impl $crate::wire::code::WireCode for $name {
            fn code(self) -> i64 {
                self.value()
            }
            fn code_name(self) -> Option<&'static str> {
                self.name()
            }
            fn generation(self) -> Option<$crate::Generation> {
                Some($crate::Generation::$generation)
            }
        }

        impl $crate::wire::code::Catalog for $name {
            const GENERATION: Option<$crate::Generation> = Some($crate::Generation::$generation);
            fn from_code(value: i64) -> Self {
                Self::from_value(value)
            }
        }
    )+};
}

pub(crate) use generation_catalog;

/// The error of parsing a code from text that is neither one of its names nor
/// a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a {type_name} name or number")]
pub struct UnknownCodeName {
    /// What was parsed.
    pub text: String,
    /// The code type that was asked for.
    pub type_name: &'static str,
}

/// Declares a wire code enum. Each entry is `Variant = number => "ReferenceName"`;
/// `aliases` lists extra names that parse to an existing variant. The doc
/// comments of the enum and of each variant also become the descriptions in
/// its JSON Schema (attributes are taken as token trees so they can be read).
macro_rules! wire_code {
    // The text of one attribute if it is a doc comment.
    (@doc doc = $line:literal) => { Some($line) };
    (@doc $($other:tt)*) => { None };
    (
        $(#[$($meta:tt)*])*
        pub enum $name:ident : $repr:ty {
            $(
                $(#[$($vmeta:tt)*])*
                $variant:ident = $value:literal => $text:literal,
            )+
        }
        $(aliases { $($alias:literal => $target:ident),* $(,)? })?
    ) => {
        $(#[$($meta)*])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$($vmeta)*])*
                $variant,
            )+
            /// A number this version does not know, kept as received.
            Unknown($repr),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Extra names accepted by [`Self::from_name`] (aliases of the reference).
            pub const ALIASES: &'static [(&'static str, $name)] = &[$($(($alias, $name::$target)),*)?];

            /// The number on the wire.
            pub const fn value(self) -> $repr {
                match self {
                    $($name::$variant => $value,)+
                    $name::Unknown(value) => value,
                }
            }

            /// The value for a number; a number this version does not know
            /// becomes `Unknown(number)`.
            pub const fn from_value(value: $repr) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }

            /// The reference's name of a known value; `None` for `Unknown`.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $($name::$variant => Some($text),)+
                    $name::Unknown(_) => None,
                }
            }

            /// Whether this value is one the protocol defines.
            pub const fn is_known(self) -> bool {
                !matches!(self, $name::Unknown(_))
            }

            /// The value with this name (or alias), ignoring case, `_` and `-`.
            pub fn from_name(name: &str) -> Option<Self> {
                let folded = $crate::wire::code::fold_name(name);
                Self::ALL
                    .iter()
                    .filter_map(|v| v.name().map(|n| (n, *v)))
                    .chain(Self::ALIASES.iter().copied())
                    .find(|(n, _)| $crate::wire::code::fold_name(n) == folded)
                    .map(|(_, v)| v)
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                Self::from_value(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                value.value()
            }
        }

        /// Parses a name (see [`Self::from_name`]) or a number.
        impl std::str::FromStr for $name {
            type Err = $crate::wire::code::UnknownCodeName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let trimmed = text.trim();
                if let Some(v) = Self::from_name(trimmed) {
                    return Ok(v);
                }
                trimmed
                    .parse::<$repr>()
                    .map(Self::from_value)
                    .map_err(|_| $crate::wire::code::UnknownCodeName {
                        text: text.to_owned(),
                        type_name: stringify!($name),
                    })
            }
        }

        /// The reference name, or the number when it is unknown.
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}", self.value()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&self.value(), serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <$repr as serde::Deserialize>::deserialize(deserializer).map(Self::from_value)
            }
        }

        /// Only the known numbers, each with its name and meaning: the schema
        /// states the protocol, while deserializing still keeps unknown numbers.
        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $crate::wire::schema::code_schema(
                    stringify!($name),
                    &[$($crate::wire::code::wire_code!(@doc $($meta)*)),*],
                    &[$($crate::wire::schema::CodeDoc {
                        value: i64::from($name::$variant.value()),
                        name: $text,
                        doc: &[$($crate::wire::code::wire_code!(@doc $($vmeta)*)),*],
                    }),+],
                    &Self::ALIASES
                        .iter()
                        .map(|(alias, v)| (*alias, i64::from(v.value())))
                        .collect::<Vec<_>>(),
                )
            }
        }
    };
}

pub(crate) use wire_code;

#[cfg(test)]
mod tests {
    use crate::{ApiCommand, ApiEventKind, ApiTopic};

    #[test]
    fn every_code_round_trips_through_number_and_name() {
        for command in ApiCommand::ALL {
            assert_eq!(ApiCommand::from_value(command.value()), *command);
            let name = command.name().unwrap();
            assert_eq!(name.parse::<ApiCommand>().unwrap(), *command);
            assert_eq!(name.to_lowercase().parse::<ApiCommand>().unwrap(), *command);
        }
        assert_eq!(
            "get-status".parse::<ApiCommand>(),
            Ok(ApiCommand::GetStatus)
        );
        assert_eq!("400".parse::<ApiCommand>(), Ok(ApiCommand::GetStatus));
        assert_eq!(
            "12345".parse::<ApiCommand>(),
            Ok(ApiCommand::Unknown(12345))
        );
        assert!("launch".parse::<ApiCommand>().is_err());
        assert_eq!(ApiTopic::from_value(7), ApiTopic::Unknown(7));
    }

    #[test]
    fn aliases_parse_to_the_canonical_kind() {
        assert_eq!(
            ApiEventKind::from_name("pelletDriftResetBegin"),
            Some(ApiEventKind::PelletHomeResetBegin)
        );
        assert_eq!(
            ApiEventKind::from_value(1223).name(),
            Some("pelletHomeResetEnd")
        );
    }

    #[test]
    fn unknown_numbers_survive_serde() {
        let kind: ApiEventKind = serde_json::from_str("777").unwrap();
        assert_eq!(kind, ApiEventKind::Unknown(777));
        assert_eq!(serde_json::to_string(&kind).unwrap(), "777");
    }
}
