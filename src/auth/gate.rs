//! The device's side of signed commands: which requests get in.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::envelope::ReadEnvelope;
use super::keys::{KeyRing, SigningKey};
use crate::{Command, Generation};

/// The `errorCode` of a refused request without a valid signature: no
/// envelope, an unknown key id, or a signature that does not verify.
pub const REFUSED_UNAUTHENTICATED: i64 = 401;
/// The `errorCode` of a refused request whose `ts` is outside the window, or
/// whose signature was seen before within it (a replay).
pub const REFUSED_STALE_OR_REPLAYED: i64 = 409;
/// The `errorCode` of a refused request whose key's role does not allow its
/// command.
pub const REFUSED_FORBIDDEN: i64 = 403;

/// Why a request was refused; answered unsigned with result FAILED,
/// errorKind SYSTEM_ERROR and [`Refusal::code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 401, 409 or 403.
    pub code: i64,
    /// The reply's errorMessage.
    pub message: String,
    /// The key id the envelope named, if it could be read.
    pub key_id: Option<String>,
}

impl Refusal {
    fn new(code: i64, message: impl Into<String>, key_id: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            key_id: key_id.map(str::to_owned),
        }
    }
}

/// The signatures of admitted requests, remembered until their `ts` is out
/// of the window (a replay after that is stale anyway). Bounded: at
/// [`ReplayMemory::CAPACITY`] signatures still in the window, new requests
/// are refused until some leave it. Only verified signatures are kept, so
/// only key holders can fill it.
///
/// Kept by the second in which they expire: a replay has the same `ts`, so
/// it is looked for in one small set, and the set requests of this moment
/// fall into stays in the cache, where one set of every signature in the
/// window (up to 25 MB) made each request a cache miss. A second's set is
/// forgotten whole once that second is over: a signature is remembered at
/// most a second longer than needed.
struct ReplayMemory {
    by_expiry_second: BTreeMap<i64, HashSet<u128, BuildHasherDefault<SignatureHasher>>>,
    len: usize,
}

impl ReplayMemory {
    /// 500,000 signatures of 16 bytes: at most about 25 MB, and more
    /// admitted requests per window than a command loop answers.
    const CAPACITY: usize = 500_000;

    fn new() -> Self {
        Self {
            by_expiry_second: BTreeMap::new(),
            len: 0,
        }
    }

    /// Remembers `sig` until `expires` (epoch ms); false if it was seen.
    fn admit(&mut self, sig: &[u8; 32], expires: i64, now: i64) -> Result<(), &'static str> {
        while let Some(entry) = self.by_expiry_second.first_entry() {
            if entry.key().saturating_add(1).saturating_mul(1000) > now {
                break;
            }
            self.len -= entry.remove().len();
        }
        // The first 16 bytes of an HMAC-SHA256 tell signatures apart.
        let mut prefix = [0; 16];
        prefix.copy_from_slice(&sig[..16]);
        let id = u128::from_le_bytes(prefix);
        let second = expires.div_euclid(1000);
        let seen = self.by_expiry_second.entry(second).or_default();
        if seen.contains(&id) {
            return Err("this signature was seen before (a replay)");
        }
        if self.len >= Self::CAPACITY {
            if seen.is_empty() {
                self.by_expiry_second.remove(&second);
            }
            return Err("too many signed requests in the window; retry");
        }
        seen.insert(id);
        self.len += 1;
        Ok(())
    }
}

/// Hashes a remembered signature by its own bits: they are an HMAC's, so
/// already uniform, and only verified signatures are remembered, which no one
/// without a key can choose. SipHash would add nothing but time.
#[derive(Default)]
struct SignatureHasher(u64);

impl Hasher for SignatureHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        // Truncation intended: the low 64 bits of a uniform value.
        self.0 = value as u64;
    }
}

/// Admits requests: with keys, only those signed by one of them, fresh,
/// never seen, and allowed by the key's role; without keys, every request.
/// Shared by the command thread and the reader thread; the keys can be
/// replaced while serving.
pub(crate) struct Gate {
    keys: RwLock<Option<Arc<KeyRing>>>,
    window_ms: i64,
    generation: Generation,
    replays: Mutex<ReplayMemory>,
}

impl Gate {
    pub(crate) fn new(keys: Option<KeyRing>, window: Duration, generation: Generation) -> Self {
        Self {
            keys: RwLock::new(keys.map(Arc::new)),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            generation,
            replays: Mutex::new(ReplayMemory::new()),
        }
    }

    /// Replaces the keys (`None`: requests are no longer checked).
    pub(crate) fn set_keys(&self, keys: Option<KeyRing>) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys.map(Arc::new);
    }

    /// The keys requests are checked against now (`None`: requests are not
    /// checked). A request is read under one look at them, passed to
    /// [`Self::admit`] and [`Self::authorize`], so that keys replaced
    /// meanwhile apply from the next request.
    pub(crate) fn keys(&self) -> Option<Arc<KeyRing>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether requests must be signed.
    pub(crate) fn is_enabled(&self) -> bool {
        self.keys().is_some()
    }

    /// Checks the signature of a request (`envelope` is its first frame,
    /// `None` for a one-frame request) against `keys` (from [`Self::keys`]):
    /// `Ok(None)` when there are none, `Ok(Some(key))` with the key that
    /// signed it, or why it is refused. Only a request whose signature
    /// verifies is remembered against replays.
    pub(crate) fn admit(
        &self,
        keys: Option<&KeyRing>,
        envelope: Option<&[u8]>,
        body: &[u8],
    ) -> Result<Option<SigningKey>, Refusal> {
        let Some(ring) = keys else {
            return Ok(None);
        };
        let unauthenticated = |message: String, key_id: Option<&str>| {
            Refusal::new(REFUSED_UNAUTHENTICATED, message, key_id)
        };
        let Some(envelope) = envelope else {
            return Err(unauthenticated(
                "this device accepts only signed requests (an envelope frame, then the request)"
                    .into(),
                None,
            ));
        };
        let envelope = ReadEnvelope::parse(envelope).map_err(|why| unauthenticated(why, None))?;
        let key_id = &*envelope.key_id;
        let Some(key) = ring.key(key_id) else {
            return Err(unauthenticated(
                format!("unknown key '{key_id}'"),
                Some(key_id),
            ));
        };
        let Some(sig) = envelope.verified_signature(key, body) else {
            return Err(unauthenticated(
                "the signature does not verify".into(),
                Some(key_id),
            ));
        };
        let now = super::now_millis();
        let skew = envelope.ts.saturating_sub(now);
        if skew.abs() > self.window_ms {
            return Err(Refusal::new(
                REFUSED_STALE_OR_REPLAYED,
                format!(
                    "ts is {} ms {} this device's clock; the window is {} ms",
                    skew.abs(),
                    if skew < 0 { "behind" } else { "ahead of" },
                    self.window_ms
                ),
                Some(key_id),
            ));
        }
        self.replays
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(&sig, envelope.ts.saturating_add(self.window_ms), now)
            .map_err(|why| Refusal::new(REFUSED_STALE_OR_REPLAYED, why, Some(key_id)))?;
        Ok(Some(key.clone()))
    }

    /// Checks that `key` may send `command` (a number of the device's
    /// generation) under `keys`, those it was admitted with.
    pub(crate) fn authorize(
        &self,
        keys: &KeyRing,
        key: &SigningKey,
        command: i64,
    ) -> Result<(), Refusal> {
        let command = Command::read(Some(self.generation), command);
        if keys.allows(key.id(), command) {
            Ok(())
        } else {
            let role = keys.role(key.id()).unwrap_or_default();
            Err(Refusal::new(
                REFUSED_FORBIDDEN,
                format!("key '{}' (role '{role}') may not send {command}", key.id()),
                Some(key.id()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> (Gate, SigningKey) {
        let key = SigningKey::new("ops-1", [9; 32]);
        let ring = KeyRing::new()
            .with_key(key.clone(), "viewer")
            .with_role("viewer", ["GET_STATUS"]);
        let gate = Gate::new(Some(ring), Duration::from_secs(30), Generation::V0_9);
        (gate, key)
    }

    fn signed(key: &SigningKey, ts: i64, body: &[u8]) -> Vec<u8> {
        super::super::envelope::envelope_bytes(key, ts, body)
    }

    #[test]
    fn each_refusal_has_its_code() {
        let (gate, key) = gate();
        let body = br#"{"command": 400}"#;
        let now = super::super::now_millis();
        let keys = gate.keys().expect("keys");
        let code = |envelope: Option<&[u8]>, body: &[u8]| {
            gate.admit(Some(&keys), envelope, body).map_err(|r| r.code)
        };

        assert_eq!(code(None, body), Err(401));
        assert_eq!(code(Some(b"{}"), body), Err(401));
        let stranger = SigningKey::new("stranger", [9; 32]);
        assert_eq!(code(Some(&signed(&stranger, now, body)), body), Err(401));
        let forged = SigningKey::new("ops-1", [8; 32]);
        assert_eq!(code(Some(&signed(&forged, now, body)), body), Err(401));
        assert_eq!(
            code(Some(&signed(&key, now, body)), br#"{"command": 100}"#),
            Err(401)
        );
        assert_eq!(
            code(Some(&signed(&key, now - 31_000, body)), body),
            Err(409)
        );
        assert_eq!(
            code(Some(&signed(&key, now + 31_000, body)), body),
            Err(409)
        );

        let fresh = signed(&key, now, body);
        assert_eq!(code(Some(&fresh), body), Ok(Some(key.clone())));
        assert_eq!(code(Some(&fresh), body), Err(409), "a replay");
        let skewed = signed(&key, now - 29_000, body);
        assert!(code(Some(&skewed), body).is_ok(), "inside the window");

        assert!(gate.authorize(&keys, &key, 400).is_ok());
        assert_eq!(
            gate.authorize(&keys, &key, 100).map_err(|r| r.code),
            Err(403)
        );
        assert!(
            gate.authorize(&keys, &key, 200).is_ok(),
            "EMERGENCY_STOP for every key"
        );
    }

    #[test]
    fn without_keys_everything_gets_in() {
        let gate = Gate::new(None, Duration::from_secs(30), Generation::V0_9);
        assert_eq!(gate.admit(gate.keys().as_deref(), None, b"{}"), Ok(None));
        assert!(!gate.is_enabled());
    }

    #[test]
    fn the_replay_memory_forgets_what_left_the_window_and_is_bounded() {
        let mut memory = ReplayMemory::new();
        let sig = |n: u32| {
            let mut sig = [0u8; 32];
            sig[..4].copy_from_slice(&n.to_le_bytes());
            sig
        };
        assert!(memory.admit(&sig(1), 100, 0).is_ok());
        assert!(
            memory.admit(&sig(1), 100, 999).is_err(),
            "its second is not over"
        );
        assert!(
            memory.admit(&sig(1), 1_100, 1_000).is_ok(),
            "forgotten once the second it expired in is over"
        );
        for n in 2..(ReplayMemory::CAPACITY as u32 + 1) {
            memory.admit(&sig(n), 1_500, 1_050).unwrap();
        }
        assert_eq!(memory.len, ReplayMemory::CAPACITY);
        assert!(memory.admit(&sig(u32::MAX), 9_000, 1_050).is_err(), "full");
        assert!(
            memory.admit(&sig(7), 1_500, 1_060).is_err(),
            "a replay when full"
        );
        assert!(
            memory.admit(&sig(u32::MAX), 3_000, 2_000).is_ok(),
            "room again"
        );
        assert_eq!(memory.len, 1);
        assert_eq!(memory.by_expiry_second.len(), 1);
    }
}
