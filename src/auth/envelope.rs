//! The envelope of a signed request or reply (PROTOCOL.md, "Signed
//! commands"): `{"v": 1, "keyId", "ts", "sig"}` in the first frame, the body
//! in the second; `sig` is HMAC-SHA256 over `"ata-v1\n" + keyId + "\n" + ts
//! + "\n" + body`, in lowercase hex.

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

/// HMAC-SHA256 keyed with `secret`, before any message.
pub(crate) fn keyed(secret: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// The MAC of a signed text, from the key's ready keyed state (keying costs
/// two SHA-256 blocks, saved on every message).
fn mac(key: &SigningKey, key_id: &str, ts: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.keyed_mac().clone();
    mac.update(DOMAIN);
    mac.update(key_id.as_bytes());
    mac.update(b"\n");
    mac.update(ts.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

impl Envelope {
    /// The envelope that signs `body` with `key` at `ts` (epoch ms).
    pub fn sign(key: &SigningKey, ts: i64, body: &[u8]) -> Self {
        let sig = mac(key, key.id(), ts, body).finalize().into_bytes();
        Self {
            v: ENVELOPE_VERSION,
            key_id: key.id().to_owned(),
            ts,
            sig: hex::encode(sig),
        }
    }

    /// Whether `sig` is `key`'s signature of `body` under this envelope's
    /// key id and time, compared in constant time.
    pub(crate) fn verifies(&self, key: &SigningKey, body: &[u8]) -> bool {
        let Ok(sig) = hex::decode(&self.sig) else {
            return false;
        };
        mac(key, &self.key_id, self.ts, body)
            .verify_slice(&sig)
            .is_ok()
    }

    /// Reads an envelope frame.
    pub(crate) fn parse(frame: &[u8]) -> Result<Self, String> {
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

    /// The envelope's wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes")
    }

    /// The signature's bytes, when it is hex (it is once verified).
    pub(crate) fn sig_bytes(&self) -> Option<Vec<u8>> {
        hex::decode(&self.sig).ok()
    }
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
    let envelope = Envelope::sign(key, super::now_millis(), body);
    [envelope.to_bytes(), body.to_vec()]
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
    let envelope = Envelope::parse(envelope)?;
    if envelope.key_id != key.id() {
        return Err(format!(
            "signed with key '{}', not '{}'",
            envelope.key_id,
            key.id()
        ));
    }
    if !envelope.verifies(key, body) {
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
        assert!(envelope.verifies(&key, b"{}"));
        assert!(!envelope.verifies(&key, b"{ }"));
        assert!(!envelope.verifies(&SigningKey::new("ops-1", [1; 32]), b"{}"));
        let wire = String::from_utf8(envelope.to_bytes()).unwrap();
        assert!(
            wire.starts_with(r#"{"v":1,"keyId":"ops-1","ts":1700000000000,"sig":""#),
            "{wire}"
        );
    }

    #[test]
    fn envelopes_of_other_versions_or_shapes_are_refused() {
        assert!(Envelope::parse(br#"{"v": 2, "keyId": "a", "ts": 1, "sig": "00"}"#).is_err());
        assert!(Envelope::parse(br#"{"v": 1, "keyId": "a", "ts": 1.5, "sig": "00"}"#).is_err());
        assert!(Envelope::parse(br#"{"command": 400}"#).is_err());
        assert!(
            Envelope::parse(br#"{"v": 1, "keyId": "a", "ts": 1, "sig": "zz"}"#)
                .is_ok_and(|e| !e.verifies(&SigningKey::new("a", [0; 32]), b""))
        );
    }
}
