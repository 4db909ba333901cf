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
pub(crate) struct PythonJsonFormatter {
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

impl PythonJsonFormatter {
    /// Writes the separator before every item (array value or object key) but the first.
    fn separate_items<W: ?Sized + Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(self.item_separator)
        }
    }
}

impl Formatter for PythonJsonFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separate_items(writer, first)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separate_items(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(self.key_separator)
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        // Every event carries a float (`when`): format it on the stack.
        writer.write_all(PythonFloat::new(value).as_bytes())
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
        if fragment.bytes().all(|b| b < 0x7f) {
            // The usual case, checked a word at a time rather than char by char.
            return writer.write_all(fragment.as_bytes());
        }
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
#[cfg(test)]
fn python_float_repr(value: f64) -> String {
    String::from_utf8_lossy(PythonFloat::new(value).as_bytes()).into_owned()
}

/// `repr(float)` formatted into a stack buffer: the publisher writes one per
/// event, so this avoids the two heap strings and two digit generations a
/// `format!`-based version costs.
struct PythonFloat {
    bytes: [u8; 32],
    len: usize,
}

impl PythonFloat {
    fn new(value: f64) -> Self {
        let mut out = Self {
            bytes: [0; 32],
            len: 0,
        };
        if !value.is_finite() {
            // json.dumps writes these (invalid JSON); serde_json never asks for them.
            out.push(if value.is_nan() {
                b"NaN"
            } else if value > 0.0 {
                b"Infinity"
            } else {
                b"-Infinity"
            });
            return out;
        }
        let (negative, digits, exponent) = shortest_digits(value);
        let digits = digits.as_bytes();
        if !(-4..16).contains(&exponent) {
            // Scientific: d[.ddd]e±XX, the exponent signed and of at least two digits.
            if negative {
                out.push(b"-");
            }
            out.push(&digits[..1]);
            if digits.len() > 1 {
                out.push(b".");
                out.push(&digits[1..]);
            }
            out.push(if exponent < 0 { b"e-" } else { b"e+" });
            let magnitude = exponent.unsigned_abs();
            if magnitude < 10 {
                out.push(b"0");
            }
            let mut text = StackText::default();
            let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{magnitude}"));
            out.push(text.as_bytes());
            return out;
        }
        // Positional: place the point in the significant digits.
        if negative {
            out.push(b"-");
        }
        if exponent < 0 {
            out.push(b"0.");
            for _ in 0..(-exponent - 1) {
                out.push(b"0");
            }
            out.push(digits);
        } else {
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                out.push(digits);
                for _ in digits.len()..whole {
                    out.push(b"0");
                }
                out.push(b".0");
            } else {
                out.push(&digits[..whole]);
                out.push(b".");
                out.push(&digits[whole..]);
            }
        }
        out
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The shortest significant digits that read back as `value` (finite), as
/// Python's `repr` picks them: the closest to the exact value, a tie to the
/// even digit (ryu does both; Rust's own `{:e}` breaks ties upwards:
/// 2013152262951804.25 is `…804.2` in Python, `…804.3` in Rust). Returns
/// the sign, the digits without leading or trailing zeros (`"0"` for zero)
/// and the decimal exponent of the first digit.
fn shortest_digits(value: f64) -> (bool, StackText, i32) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // ryu writes "123.45", "0.0001", "1e16" or "1.5e-7".
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e' || b == b'E') {
        Some(e) => {
            let exponent = std::str::from_utf8(&text[e + 1..])
                .ok()
                .and_then(|e| e.parse().ok());
            (&text[..e], exponent.unwrap_or(0))
        }
        None => (text, 0),
    };
    let point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    let mut digits = StackText::default();
    let (mut leading_zeros, mut seen_nonzero) = (0, false);
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        seen_nonzero |= b != b'0';
        if seen_nonzero {
            digits.bytes[digits.len] = b;
            digits.len += 1;
        } else {
            leading_zeros += 1;
        }
    }
    while digits.len > 1 && digits.bytes[digits.len - 1] == b'0' {
        digits.len -= 1;
    }
    if digits.len == 0 {
        digits.bytes[0] = b'0';
        digits.len = 1;
        return (negative, digits, 0);
    }
    let exponent = exponent + point as i32 - 1 - leading_zeros;
    (negative, digits, exponent)
}

/// A small `fmt::Write` target on the stack.
#[derive(Default)]
struct StackText {
    bytes: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
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
            (3.0, "3.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (1.5e16, "1.5e+16"),
            (1763726400.123456, "1763726400.123456"),
            // 2013152262951804.25 exactly, between two 17-digit candidates:
            // Python takes the even one.
            (f64::from_bits(0x431c_9bce_260c_4df1), "2013152262951804.2"),
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
