//! Durations given on the command line.

use std::time::Duration;

/// A duration flag: a number of seconds (`5`, `0.2`, `0`) or a text such as
/// `1m 30s` or `500ms` (the `humantime` crate's format). Zero is accepted
/// here; where zero makes no sense, the library's option checks refuse it.
#[derive(Debug, Clone, Copy)]
pub struct DurationArg(pub Duration);

impl std::str::FromStr for DurationArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let duration = match text.parse::<f64>() {
            Ok(seconds) => Duration::try_from_secs_f64(seconds).map_err(|_| {
                format!("'{text}' is not a valid number of seconds (negative or too large)")
            })?,
            Err(_) => humantime::parse_duration(text).map_err(|error| {
                format!("'{text}' is not a duration such as 5, 0.2 or 1m 30s: {error}")
            })?,
        };
        Ok(DurationArg(duration))
    }
}

/// In seconds, so that `--help` shows defaults as the flags take them.
impl std::fmt::Display for DurationArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}
