//! JSON bytes exactly as the reference writes them with Python's `json.dumps`:
//! non-ASCII escaped as `\uXXXX`, floats in Python's `repr` form (`1e-05`,
//! `1e+16`, `3.0`), and `", "` / `": "` separators in published messages.
//! Replies have no spaces: the reference camelizes the whole reply text, which
//! strips them. Python consoles that compare or hash messages therefore see
//! the same bytes from us as from the reference.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// A `serde_json` formatter that writes what Python's `json.dumps` writes.
#[derive(Debug, Clone, Copy)]
pub struct PythonJsonFormatter {
    item_separator: &'static [u8],
    key_separator: &'static [u8],
}

impl PythonJsonFormatter {
    /// `json.dumps` defaults, as in published messages: `", "` and `": "`.
    pub const SPACED: Self = Self {
        item_separator: b", ",
        key_separator: b": ",
    };
    /// No spaces, as in the reference's command replies.
    pub const COMPACT: Self = Self {
        item_separator: b",",
        key_separator: b":",
    };
}

impl Formatter for PythonJsonFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(self.item_separator)
        }
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(self.item_separator)
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(self.key_separator)
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json escapes quotes, backslashes and control characters itself;
        // Python's ensure_ascii also escapes DEL and everything past ASCII.
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() && c != '\x7f' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        serde_json::ser::CompactFormatter.write_char_escape(writer, escape)
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional
/// for exponents from -4 to 15, scientific with a signed two-digit exponent
/// otherwise, and always a `.0` on whole numbers.
///
/// ```
/// use auto_trainer_api::python_float_repr;
/// assert_eq!(python_float_repr(3.0), "3.0");
/// assert_eq!(python_float_repr(0.1), "0.1");
/// assert_eq!(python_float_repr(1e-5), "1e-05");
/// assert_eq!(python_float_repr(1.5e16), "1.5e+16");
/// assert_eq!(python_float_repr(1763726400.123456), "1763726400.123456");
/// ```
pub fn python_float_repr(value: f64) -> String {
    if !value.is_finite() {
        // json.dumps writes these (invalid JSON); serde_json never asks for them.
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let positional = format!("{value}");
        if positional.contains('.') {
            positional
        } else {
            positional + ".0"
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Serializes `value` as the reference publishes it (`json.dumps` spacing).
///
/// ```
/// use auto_trainer_api::to_python_json;
/// let bytes = to_python_json(&serde_json::json!({"kind": 101, "context": {"reason": "é"}})).unwrap();
/// assert_eq!(bytes, br#"{"kind": 101, "context": {"reason": "\u00e9"}}"#);
/// ```
///
/// # Errors
/// Whatever `value`'s `Serialize` implementation reports (for instance a map
/// with non-string keys).
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    write_python_json(&mut out, value, PythonJsonFormatter::SPACED)?;
    Ok(out)
}

/// Serializes `value` with `formatter`, appending to `out`.
pub(crate) fn write_python_json<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    formatter: PythonJsonFormatter,
) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, formatter);
    value.serialize(&mut serializer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_and_escapes_match_python() {
        let value = json!({"a": [1, 2.5, "é😀\u{7f}"], "b": null, "c": "tab\there \"q\""});
        let text = String::from_utf8(to_python_json(&value).unwrap()).unwrap();
        let mut compact = Vec::new();
        write_python_json(&mut compact, &value, PythonJsonFormatter::COMPACT).unwrap();
        assert_eq!(
            String::from_utf8(compact).unwrap(),
            r#"{"a":[1,2.5,"\u00e9\ud83d\ude00\u007f"],"b":null,"c":"tab\there \"q\""}"#
        );
        // json.dumps({"a": [1, 2.5, "é😀\x7f"], "b": None, "c": "tab\there \"q\""})
        assert_eq!(
            text,
            r#"{"a": [1, 2.5, "\u00e9\ud83d\ude00\u007f"], "b": null, "c": "tab\there \"q\""}"#
        );
    }

    #[test]
    fn floats_match_python_repr() {
        for (value, python) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1.2e-7, "1.2e-07"),
            (123.456, "123.456"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
        ] {
            assert_eq!(python_float_repr(value), python, "{value}");
        }
    }
}
