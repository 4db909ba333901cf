//! The envelope of a signed request or reply (PROTOCOL.md, "Signed
//! commands"): `{"v": 1, "keyId", "ts", "sig"}` in the first frame, the body
//! in the second; `sig` is HMAC-SHA256 over `"ata-v1\n" + keyId + "\n" + ts
//! + "\n" + body`, in lowercase hex.

use std::borrow::Cow;

use ctutils::CtEq;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::keys::SigningKey;

/// The version of the envelope this crate writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// What every signature starts with, so that a signature made for this
/// protocol cannot be taken for one of another.
const DOMAIN: &[u8] = b"ata-v1\n";

/// The first frame of a signed request or reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    /// The envelope version, 1.
    pub v: u32,
    /// The id of the key that signed.
    pub key_id: String,
    /// When it was signed, epoch milliseconds.
    pub ts: i64,
    /// The signature, lowercase hex of the 32-byte HMAC-SHA256.
    pub sig: String,
}

/// What each key computes once, so that signing and checking a message only
/// hashes its time and body: HMAC-SHA256 keyed with `secret` that has
/// already read `"ata-v1\n" + id + "\n"`, and the envelope's bytes up to
/// its `ts`.
pub(crate) fn key_states(id: &str, secret: &[u8; 32]) -> (Hmac<Sha256>, Vec<u8>) {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(DOMAIN);
    mac.update(id.as_bytes());
    mac.update(b"\n");
    let mut prefix = format!(r#"{{"v":{ENVELOPE_VERSION},"keyId":"#).into_bytes();
    serde_json::to_writer(&mut prefix, id).expect("a string serializes");
    prefix.extend_from_slice(br#","ts":"#);
    (mac, prefix)
}

/// The MAC of a signed text, `ts` in decimal, from the key's ready state.
fn mac(key: &SigningKey, ts: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.signing_state().clone();
    mac.update(ts.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

/// The signature of `body` by `key` at `ts_text` (epoch ms in decimal):
/// its 32 bytes and their lowercase hex.
fn signature(key: &SigningKey, ts_text: &str, body: &[u8]) -> ([u8; 32], [u8; 64]) {
    let sig: [u8; 32] = mac(key, ts_text, body).finalize().into_bytes().into();
    let mut sig_hex = [0; 64];
    hex::encode_to_slice(sig, &mut sig_hex).expect("64 hex digits for 32 bytes");
    (sig, sig_hex)
}

/// The wire bytes of the envelope that signs `body` with `key` at `ts`
/// (epoch ms): those of [`Envelope::sign`]'s [`Envelope::to_bytes`],
/// written without building one (this is on every signed round trip).
pub(crate) fn envelope_bytes(key: &SigningKey, ts: i64, body: &[u8]) -> Vec<u8> {
    let mut ts_text = itoa::Buffer::new();
    let ts_text = ts_text.format(ts);
    let (_, sig_hex) = signature(key, ts_text, body);
    let prefix = key.envelope_prefix();
    let mut bytes = Vec::with_capacity(prefix.len() + ts_text.len() + sig_hex.len() + 10);
    bytes.extend_from_slice(prefix);
    bytes.extend_from_slice(ts_text.as_bytes());
    bytes.extend_from_slice(br#","sig":""#);
    bytes.extend_from_slice(&sig_hex);
    bytes.extend_from_slice(br#""}"#);
    bytes
}

impl Envelope {
    /// The envelope that signs `body` with `key` at `ts` (epoch ms).
    pub fn sign(key: &SigningKey, ts: i64, body: &[u8]) -> Self {
        let (_, sig_hex) = signature(key, itoa::Buffer::new().format(ts), body);
        Self {
            v: ENVELOPE_VERSION,
            key_id: key.id().to_owned(),
            ts,
            sig: String::from_utf8_lossy(&sig_hex).into_owned(),
        }
    }

    /// The envelope's wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes")
    }
}

/// An envelope frame as read, borrowing its strings from the frame.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReadEnvelope<'a> {
    v: u32,
    /// The id of the key that signed.
    #[serde(borrow)]
    pub key_id: Cow<'a, str>,
    /// When it was signed, epoch milliseconds.
    pub ts: i64,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

impl<'a> ReadEnvelope<'a> {
    /// Reads an envelope frame.
    pub(crate) fn parse(frame: &'a [u8]) -> Result<Self, String> {
        if let Some(envelope) = Self::parse_compact(frame) {
            return Ok(envelope);
        }
        let envelope: Self = serde_json::from_slice(frame)
            .map_err(|e| format!("the envelope frame is not an envelope: {e}"))?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(format!(
                "envelope version {} (this device reads {ENVELOPE_VERSION})",
                envelope.v
            ));
        }
        Ok(envelope)
    }

    /// The envelope in the compact form [`envelope_bytes`] writes,
    /// `{"v":1,"keyId":"…","ts":…,"sig":"…"}` (no spaces, no escapes, a
    /// `ts` of digits), read without the JSON parser; `None` for anything
    /// else, which the parser then reads. Both sides of every signed round
    /// trip read one, and on a busy machine the parser's code, out of the
    /// cache by then, costs about 0.35 µs more each time. Whatever this
    /// reads, the parser reads alike (a test and the fuzz target check it).
    fn parse_compact(frame: &'a [u8]) -> Option<Self> {
        let rest = frame.strip_prefix(br#"{"v":1,"keyId":""#)?;
        let (key_id, rest) = plain_json_string(rest)?;
        let rest = rest.strip_prefix(br#","ts":"#)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        // JSON writes no leading zero; the parser refuses one.
        if digits == 0 || (rest[0] == b'0' && digits > 1) {
            return None;
        }
        let (ts, rest) = rest.split_at(digits);
        let ts = std::str::from_utf8(ts).ok()?.parse().ok()?;
        let rest = rest.strip_prefix(br#","sig":""#)?;
        let (sig, rest) = plain_json_string(rest)?;
        (rest == b"}").then_some(Self {
            v: ENVELOPE_VERSION,
            key_id: Cow::Borrowed(key_id),
            ts,
            sig: Cow::Borrowed(sig),
        })
    }

    /// Whether the compact reader, when it reads `frame`, reads what the
    /// JSON parser does (for the fuzz target).
    #[cfg(fuzzing)]
    pub(crate) fn compact_reader_agrees(frame: &[u8]) -> bool {
        ReadEnvelope::parse_compact(frame).is_none_or(|compact| {
            serde_json::from_slice::<ReadEnvelope<'_>>(frame).is_ok_and(|parsed| parsed == compact)
        })
    }

    /// The signature's 32 bytes when it is `key`'s signature of `body`
    /// under this envelope's key id and time. Compared as text, in constant
    /// time: encoding ours costs less than decoding theirs, and PROTOCOL.md's
    /// lowercase hex is the one spelling a signature has.
    pub(crate) fn verified_signature(&self, key: &SigningKey, body: &[u8]) -> Option<[u8; 32]> {
        if *self.key_id != *key.id() {
            return None;
        }
        let (sig, sig_hex) = signature(key, itoa::Buffer::new().format(self.ts), body);
        sig_hex[..]
            .ct_eq(self.sig.as_bytes())
            .to_bool()
            .then_some(sig)
    }
}

/// The text of a JSON string that `bytes` starts inside of, up to its
/// closing quote, and what follows the quote; `None` when it has an escape
/// or a control character (or is not UTF-8), which only a JSON parser reads.
fn plain_json_string(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    if bytes[end] != b'"' {
        return None;
    }
    Some((std::str::from_utf8(&bytes[..end]).ok()?, &bytes[end + 1..]))
}

/// The two frames of `body` signed with `key` now: the envelope, then the
/// body. What a console sends as a signed request (and a device as a signed
/// reply).
///
/// ```
/// use auto_trainer_api::{sign_frames, verify_signed_frames, SigningKey};
///
/// let key = SigningKey::new("ops-1", [7; 32]);
/// let frames = sign_frames(&key, br#"{"command": 400, "nonce": 1}"#);
/// assert_eq!(verify_signed_frames(&key, &frames).unwrap(), br#"{"command": 400, "nonce": 1}"#);
/// ```
pub fn sign_frames(key: &SigningKey, body: &[u8]) -> [Vec<u8>; 2] {
    [
        envelope_bytes(key, super::now_millis(), body),
        body.to_vec(),
    ]
}

/// Checks that `frames` are `[envelope, body]` signed with `key` (its id
/// and its secret) and returns the body.
///
/// # Errors
/// What is wrong: not two frames, not an envelope, another key's id, or a
/// signature that does not verify.
pub fn verify_signed_frames<'a>(
    key: &SigningKey,
    frames: &'a [Vec<u8>],
) -> Result<&'a [u8], String> {
    let [envelope, body] = frames else {
        return Err(format!(
            "{} frame(s) where a signed message has 2",
            frames.len()
        ));
    };
    let envelope = ReadEnvelope::parse(envelope)?;
    if envelope.key_id != key.id() {
        return Err(format!(
            "signed with key '{}', not '{}'",
            envelope.key_id,
            key.id()
        ));
    }
    if envelope.verified_signature(key, body).is_none() {
        return Err("the signature does not verify".into());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with Python: hmac.new(bytes(range(32)), b"ata-v1\nops-1\n1700000000000\n{}",
    /// hashlib.sha256).hexdigest()
    #[test]
    fn the_signature_is_hmac_sha256_over_the_documented_text() {
        let secret: [u8; 32] = std::array::from_fn(|i| i as u8);
        let key = SigningKey::new("ops-1", secret);
        let envelope = Envelope::sign(&key, 1_700_000_000_000, b"{}");
        let mut expected = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret).unwrap();
        expected.update(b"ata-v1\nops-1\n1700000000000\n{}");
        assert_eq!(envelope.sig, hex::encode(expected.finalize().into_bytes()));
        let wire = envelope.to_bytes();
        assert_eq!(envelope_bytes(&key, 1_700_000_000_000, b"{}"), wire);
        let read = ReadEnvelope::parse(&wire).unwrap();
        assert!(read.verified_signature(&key, b"{}").is_some());
        assert!(read.verified_signature(&key, b"{ }").is_none());
        assert!(read
            .verified_signature(&SigningKey::new("ops-1", [1; 32]), b"{}")
            .is_none());
        assert!(read
            .verified_signature(&SigningKey::new("ops-2", secret), b"{}")
            .is_none());
        let wire = String::from_utf8(wire).unwrap();
        assert!(
            wire.starts_with(r#"{"v":1,"keyId":"ops-1","ts":1700000000000,"sig":""#),
            "{wire}"
        );
        // PROTOCOL.md's signature is lowercase hex, and only that.
        let shouting = wire.replace(&envelope.sig, &envelope.sig.to_uppercase());
        assert_ne!(shouting, wire);
        let read = ReadEnvelope::parse(shouting.as_bytes()).unwrap();
        assert!(read.verified_signature(&key, b"{}").is_none());
    }

    #[test]
    fn a_key_id_that_json_escapes_signs_and_reads_back() {
        let key = SigningKey::new("ops \"1\" \\ é", [3; 32]);
        let wire = envelope_bytes(&key, 42, b"{}");
        assert_eq!(wire, Envelope::sign(&key, 42, b"{}").to_bytes());
        let read = ReadEnvelope::parse(&wire).unwrap();
        assert_eq!(read.key_id, key.id());
        assert!(read.verified_signature(&key, b"{}").is_some());
    }

    /// Whatever the compact reader takes, the JSON parser reads the same.
    #[test]
    fn the_compact_reader_agrees_with_the_json_parser() {
        let key = SigningKey::new("ops-1", [3; 32]);
        let written = envelope_bytes(&key, 1_700_000_000_000, b"{}");
        assert!(
            ReadEnvelope::parse_compact(&written).is_some(),
            "what we write"
        );
        let sig = "ab".repeat(32);
        let compact = [
            format!(r#"{{"v":1,"keyId":"ops-1","ts":0,"sig":"{sig}"}}"#),
            r#"{"v":1,"keyId":"","ts":9223372036854775807,"sig":""}"#.to_owned(),
            format!(
                r#"{{"v":1,"keyId":"é {} ops","ts":1,"sig":"{sig}"}}"#,
                '\u{7f}'
            ),
        ];
        let parser_only = [
            format!(r#"{{"v": 1, "keyId": "ops-1", "ts": 1, "sig": "{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops\"1","ts":1,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops\t1","ts":1,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":-1,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":1,"sig":"{sig}"}} "#),
            format!(r#"{{"keyId":"ops-1","v":1,"ts":1,"sig":"{sig}"}}"#),
        ];
        let refused = [
            format!(r#"{{"v":1,"keyId":"ops-1","ts":01,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":9223372036854775808,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":1.5,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":1e3,"sig":"{sig}"}}"#),
            format!(r#"{{"v":1,"keyId":"ops{}1","ts":1,"sig":"{sig}"}}"#, '\t'),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":1,"sig":"{sig}"}}x"#),
            format!(r#"{{"v":1,"keyId":"ops-1","ts":1,"sig":"{sig}","x":1}}"#),
        ];
        fn by_parser(frame: &[u8]) -> Result<ReadEnvelope<'_>, ()> {
            serde_json::from_slice(frame).map_err(|_| ())
        }
        for frame in compact.iter().map(String::as_bytes).chain([&written[..]]) {
            let read = ReadEnvelope::parse_compact(frame);
            assert!(read.is_some(), "{}", String::from_utf8_lossy(frame));
            assert_eq!(read.ok_or(()), by_parser(frame));
        }
        let mut invalid_utf8 = written.clone();
        invalid_utf8[17] = 0xff;
        let not_compact = parser_only.iter().map(|frame| (frame.as_bytes(), true));
        let refused = refused.iter().map(|frame| (frame.as_bytes(), false));
        for (frame, readable) in not_compact
            .chain(refused)
            .chain([(&invalid_utf8[..], false)])
        {
            let text = String::from_utf8_lossy(frame);
            assert!(ReadEnvelope::parse_compact(frame).is_none(), "{text}");
            assert_eq!(ReadEnvelope::parse(frame).is_ok(), readable, "{text}");
        }
    }

    #[test]
    fn envelopes_of_other_versions_or_shapes_are_refused() {
        assert!(ReadEnvelope::parse(br#"{"v": 2, "keyId": "a", "ts": 1, "sig": "00"}"#).is_err());
        assert!(ReadEnvelope::parse(br#"{"v": 1, "keyId": "a", "ts": 1.5, "sig": "00"}"#).is_err());
        assert!(ReadEnvelope::parse(br#"{"command": 400}"#).is_err());
        assert!(
            ReadEnvelope::parse(br#"{"v": 1, "keyId": "a", "ts": 1, "sig": "zz"}"#).is_ok_and(
                |e| e
                    .verified_signature(&SigningKey::new("a", [0; 32]), b"")
                    .is_none()
            )
        );
    }
}
