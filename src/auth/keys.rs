//! Keys: a console's [`SigningKey`], a device's [`KeyRing`] with the roles
//! of its keys, and the TOML key file of PROTOCOL.md.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use hmac::Hmac;
use serde::Deserialize;
use sha2::Sha256;

use crate::{Command, Error};

/// The environment variable [`SigningKey::from_env`] reads:
/// `<key id>:<base64 secret>`.
pub const KEY_ENV: &str = "AUTO_TRAINER_KEY";

/// The name of the command every valid key may send, whatever its role.
const ALWAYS_ALLOWED: &str = "EMERGENCY_STOP";

fn decode_secret(text: &str) -> Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("the secret is not base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("the secret is {} bytes, not 32", bytes.len()))
}

fn encode_secret(secret: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(secret)
}

/// A key id and its 32-byte secret: what a console signs requests with.
/// `Debug` does not show the secret. Cheap to clone (a device clones the
/// key of every request it admits).
#[derive(Clone)]
pub struct SigningKey(Arc<KeyState>);

struct KeyState {
    id: String,
    secret: [u8; 32],
    /// HMAC-SHA256 keyed with `secret` that has read what every signed
    /// text of this key starts with; cloned for each message.
    signing: Hmac<Sha256>,
    /// The envelope's bytes up to its `ts`.
    envelope_prefix: Vec<u8>,
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id && self.0.secret == other.0.secret
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.0.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key `id` with `secret`.
    pub fn new(id: impl Into<String>, secret: [u8; 32]) -> Self {
        let id = id.into();
        let (signing, envelope_prefix) = super::envelope::key_states(&id, &secret);
        Self(Arc::new(KeyState {
            id,
            secret,
            signing,
            envelope_prefix,
        }))
    }

    /// A new key `id` with 32 random bytes from the operating system.
    ///
    /// # Errors
    /// [`Error::Keys`] when the system has no randomness to give.
    pub fn generate(id: impl Into<String>) -> Result<Self, Error> {
        let mut secret = [0; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Keys(format!("no random bytes from the system: {e}")))?;
        Ok(Self::new(id, secret))
    }

    /// The key `id` with a base64 secret (as in key files).
    ///
    /// # Errors
    /// [`Error::Keys`] when it is not base64 of 32 bytes.
    pub fn from_base64(id: impl Into<String>, secret: &str) -> Result<Self, Error> {
        let id = id.into();
        let secret = decode_secret(secret).map_err(|e| Error::Keys(format!("key '{id}': {e}")))?;
        Ok(Self::new(id, secret))
    }

    /// The key `id` of a key file (any entry when `id` is `None` and the
    /// file has exactly one).
    ///
    /// # Errors
    /// [`Error::Keys`] when the file cannot be read, is not a key file, or
    /// has no such key.
    pub fn from_key_file(path: impl AsRef<Path>, id: Option<&str>) -> Result<Self, Error> {
        let path = path.as_ref();
        let ring = KeyRing::load(path)?;
        let key = match id {
            Some(id) => ring.keys.get(id),
            None if ring.keys.len() == 1 => ring.keys.values().next(),
            None => {
                return Err(Error::Keys(format!(
                    "{} holds {} keys: say which (its ids: {})",
                    path.display(),
                    ring.keys.len(),
                    ring.key_ids().collect::<Vec<_>>().join(", ")
                )))
            }
        };
        key.map(|entry| entry.key.clone()).ok_or_else(|| {
            Error::Keys(format!(
                "{} has no key '{}'",
                path.display(),
                id.unwrap_or_default()
            ))
        })
    }

    /// The key in the environment variable [`KEY_ENV`], `<id>:<base64
    /// secret>`; `Ok(None)` when it is not set.
    ///
    /// # Errors
    /// [`Error::Keys`] when it is set but not of that form.
    pub fn from_env() -> Result<Option<Self>, Error> {
        let Ok(value) = std::env::var(KEY_ENV) else {
            return Ok(None);
        };
        let (id, secret) = value
            .split_once(':')
            .ok_or_else(|| Error::Keys(format!("{KEY_ENV} must be <key id>:<base64 secret>")))?;
        Self::from_base64(id, secret).map(Some)
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    #[cfg(test)]
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.0.secret
    }

    pub(crate) fn signing_state(&self) -> &Hmac<Sha256> {
        &self.0.signing
    }

    pub(crate) fn envelope_prefix(&self) -> &[u8] {
        &self.0.envelope_prefix
    }

    /// The `[[key]]` entry of a device's key file that gives this key
    /// `role`.
    ///
    /// ```
    /// use auto_trainer_api::SigningKey;
    /// let entry = SigningKey::new("ops-1", [0; 32]).key_file_entry("operator");
    /// assert_eq!(
    ///     entry,
    ///     "[[key]]\nid = \"ops-1\"\nsecret = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\nrole = \"operator\"\n"
    /// );
    /// ```
    pub fn key_file_entry(&self, role: &str) -> String {
        format!(
            "[[key]]\nid = {}\nsecret = \"{}\"\nrole = {}\n",
            toml_string(&self.0.id),
            encode_secret(&self.0.secret),
            toml_string(role)
        )
    }
}

/// A TOML basic string (JSON's escaping is a subset TOML reads).
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// One key of a device: the key and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyEntry {
    key: SigningKey,
    role: String,
}

/// The keys a device accepts, each with a role, and what each role may
/// send: the key file of PROTOCOL.md, or built in code.
///
/// ```
/// use auto_trainer_api::{v0_9, Command, KeyRing};
///
/// let ring = KeyRing::from_toml(r#"
///     [[key]]
///     id = "ops-1"
///     secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
///     role = "viewer"
///
///     [roles]
///     viewer = ["NONE", "GET_STATUS", "GET_CONFIGURATION"]
///     operator = ["*"]
/// "#).unwrap();
/// assert!(ring.allows("ops-1", Command::from(v0_9::ApiCommand::GetStatus)));
/// assert!(!ring.allows("ops-1", Command::from(v0_9::ApiCommand::StartAcquisition)));
/// assert!(ring.allows("ops-1", Command::from(v0_9::ApiCommand::EmergencyStop)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: BTreeMap<String, KeyEntry>,
    roles: BTreeMap<String, Vec<String>>,
}

/// The key file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<KeyFileEntry>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    id: String,
    secret: String,
    role: String,
}

impl KeyRing {
    /// An empty ring (no key can sign, so a device with it refuses every
    /// request); add keys with [`Self::with_key`].
    pub fn new() -> Self {
        Self::default()
    }

    /// This ring with `key` in `role` (replacing a key of the same id).
    pub fn with_key(mut self, key: SigningKey, role: impl Into<String>) -> Self {
        self.keys.insert(
            key.id().to_owned(),
            KeyEntry {
                key,
                role: role.into(),
            },
        );
        self
    }

    /// This ring with `role` allowed `commands`: names of the device's
    /// generation's catalog (`GET_STATUS`), numbers (`"120"`), or `"*"` for
    /// every command.
    pub fn with_role<S: Into<String>>(
        mut self,
        role: impl Into<String>,
        commands: impl IntoIterator<Item = S>,
    ) -> Self {
        self.roles
            .insert(role.into(), commands.into_iter().map(Into::into).collect());
        self
    }

    /// Reads a key file's text.
    ///
    /// # Errors
    /// [`Error::Keys`] naming what is wrong: not TOML of the key file's
    /// shape, a secret that is not base64 of 32 bytes, a key id twice, a key
    /// whose role is not defined.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let file: KeyFile =
            toml::from_str(text).map_err(|e| Error::Keys(format!("not a key file: {e}")))?;
        let mut ring = Self {
            keys: BTreeMap::new(),
            roles: file.roles,
        };
        for entry in file.key {
            if !ring.roles.contains_key(&entry.role) {
                return Err(Error::Keys(format!(
                    "key '{}' has role '{}', which [roles] does not define",
                    entry.id, entry.role
                )));
            }
            if ring.keys.contains_key(&entry.id) {
                return Err(Error::Keys(format!("key '{}' is there twice", entry.id)));
            }
            let key = SigningKey::from_base64(entry.id, &entry.secret)?;
            ring = ring.with_key(key, entry.role);
        }
        Ok(ring)
    }

    /// Reads a key file.
    ///
    /// # Errors
    /// [`Error::Keys`] when it cannot be read or is not a key file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Keys(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Keys(why) => Error::Keys(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids of its keys, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The key with this id.
    pub fn key(&self, id: &str) -> Option<&SigningKey> {
        self.keys.get(id).map(|entry| &entry.key)
    }

    /// Whether the key `id` may send `command`: EMERGENCY_STOP always, else
    /// what its role lists (by the name in the command's generation, by
    /// number, or `"*"`).
    pub fn allows(&self, id: &str, command: Command) -> bool {
        let Some(entry) = self.keys.get(id) else {
            return false;
        };
        if command.name() == Some(ALWAYS_ALLOWED) {
            return true;
        }
        self.roles.get(&entry.role).is_some_and(|allowed| {
            allowed.iter().any(|item| {
                item == "*"
                    || item.parse() == Ok(command.value())
                    || command.name().is_some_and(|name| item == name)
            })
        })
    }

    /// The role of the key `id`.
    pub fn role(&self, id: &str) -> Option<&str> {
        self.keys.get(id).map(|entry| entry.role.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{v0_12, v0_9};

    const FILE: &str = r#"
        [[key]]
        id = "ops-1"
        secret = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
        role = "operator"

        [[key]]
        id = "screen"
        secret = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
        role = "viewer"

        [roles]
        viewer = ["NONE", "GET_STATUS", "GET_CONFIGURATION"]
        operator = ["*"]
        modes = ["SET_APPLICATION_MODE", "400"]
    "#;

    #[test]
    fn a_key_file_reads_as_documented() {
        let ring = KeyRing::from_toml(FILE).unwrap();
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["ops-1", "screen"]);
        assert_eq!(ring.key("ops-1").unwrap().secret(), &[1; 32]);
        assert_eq!(ring.role("screen"), Some("viewer"));
        let start = Command::from(v0_9::ApiCommand::StartAcquisition);
        assert!(ring.allows("ops-1", start));
        assert!(!ring.allows("screen", start));
        assert!(ring.allows("screen", v0_9::ApiCommand::GetStatus.into()));
        assert!(ring.allows("screen", v0_12::ApiCommand::EmergencyStop.into()));
        assert!(!ring.allows("screen", v0_12::ApiCommand::EmergencyResume.into()));
        assert!(!ring.allows("nobody", v0_9::ApiCommand::EmergencyStop.into()));
        let modes = KeyRing::from_toml(FILE)
            .unwrap()
            .with_key(SigningKey::new("m", [3; 32]), "modes");
        assert!(modes.allows("m", v0_12::ApiCommand::SetApplicationMode.into()));
        assert!(modes.allows("m", Command::Undetected(400)));
        assert!(!modes.allows("m", v0_12::ApiCommand::SetTrainingMode.into()));
    }

    #[test]
    fn broken_key_files_say_what_is_wrong() {
        let error = |text: &str| match KeyRing::from_toml(text) {
            Err(Error::Keys(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(error("[[key]]\nid = 1").contains("not a key file"));
        assert!(error(
            "[[key]]\nid = \"a\"\nsecret = \"AQ==\"\nrole = \"r\"\n[roles]\nr = [\"*\"]"
        )
        .contains("1 bytes, not 32"));
        assert!(error(
            "[[key]]\nid = \"a\"\nsecret = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\nrole = \"r\""
        )
        .contains("role 'r'"));
    }

    #[test]
    fn a_generated_entry_reads_back() {
        let key = SigningKey::generate("ops \"2\"").unwrap();
        let text = format!(
            "{}\n[roles]\noperator = [\"*\"]\n",
            key.key_file_entry("operator")
        );
        let ring = KeyRing::from_toml(&text).unwrap();
        assert_eq!(ring.key("ops \"2\""), Some(&key));
        assert_ne!(key.secret(), SigningKey::generate("x").unwrap().secret());
    }
}
