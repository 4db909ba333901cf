//! NATS subjects and headers of the fleet (FLEET.md, "Names" and
//! "Events"), and the message id that lets JetStream keep one copy of what
//! several gateways publish.

use auto_trainer_api::ApiTopic;
use sha2::{Digest, Sha256};

/// Header: the rig's name.
pub const RIG_HEADER: &str = "Autotrainer-Rig";
/// Header: the rig topic's number.
pub const TOPIC_HEADER: &str = "Autotrainer-Topic";
/// Header: the name of the gateway that bridged the message.
pub const GATEWAY_HEADER: &str = "Autotrainer-Gateway";
/// Header: when the gateway read the message, epoch seconds.
pub const RECEIVED_HEADER: &str = "Autotrainer-Received";
/// Header of a command reply the gateway wrote itself: why the rig did not
/// answer (`offline`, `timeout`, `unknown-rig`, `malformed`,
/// `invalid-reply`).
pub const ERROR_HEADER: &str = "Autotrainer-Error";
/// JetStream's de-duplication header.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// The queue group of every gateway's command subscriptions: one gateway
/// handles each request.
pub const QUEUE_GROUP: &str = "autotrainer-gateway";

/// Checks that `name` is one subject token as FLEET.md allows: letters,
/// digits, `-` and `_`.
///
/// # Errors
/// What is wrong with it.
pub fn check_token(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        Some(c) => Err(format!(
            "'{c}' in '{name}': one subject token, of letters, digits, '-' and '_'"
        )),
        None => Ok(()),
    }
}

/// The fleet's subjects under prefix `P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Subjects under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// `P`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where a message a rig published on `topic` goes; `None` for a
    /// COMMAND_RESULT whose body has no integer `nonce` (it cannot be
    /// routed to its waiter).
    ///
    /// ```
    /// use auto_trainer_api::ApiTopic;
    /// use auto_trainer_gateway::Subjects;
    /// let subjects = Subjects::new("autotrainer");
    /// assert_eq!(subjects.event("rig-7", ApiTopic::Event, b"{}").unwrap(), "autotrainer.rig-7.event");
    /// assert_eq!(
    ///     subjects.event("rig-7", ApiTopic::CommandResult, br#"{"nonce": 42}"#).unwrap(),
    ///     "autotrainer.rig-7.result.42"
    /// );
    /// assert_eq!(subjects.event("rig-7", ApiTopic::Unknown(7777), b"{}").unwrap(), "autotrainer.rig-7.topic.7777");
    /// ```
    pub fn event(&self, rig: &str, topic: ApiTopic, body: &[u8]) -> Option<String> {
        let prefix = &self.prefix;
        Some(match topic {
            ApiTopic::Heartbeat => format!("{prefix}.{rig}.heartbeat"),
            ApiTopic::Emergency => format!("{prefix}.{rig}.emergency"),
            ApiTopic::Event => format!("{prefix}.{rig}.event"),
            ApiTopic::PropertyChange => format!("{prefix}.{rig}.property"),
            ApiTopic::CommandResult => format!("{prefix}.{rig}.result.{}", result_nonce(body)?),
            other => self.topic(rig, other.value()),
        })
    }

    /// `P.<rig>.topic.<number>`: a topic the fleet has no name for.
    pub fn topic(&self, rig: &str, number: u32) -> String {
        format!("{}.{rig}.topic.{number}", self.prefix)
    }

    /// `P.<rig>.link`: the rig went online or offline.
    pub fn link(&self, rig: &str) -> String {
        format!("{}.{rig}.link", self.prefix)
    }

    /// `P.<rig>.command`: command requests for the rig.
    pub fn command(&self, rig: &str) -> String {
        format!("{}.{rig}.command", self.prefix)
    }

    /// `P.*.command`: command requests for any rig.
    pub fn every_command(&self) -> String {
        self.command("*")
    }

    /// The rig a `P.<rig>.command` subject names.
    pub fn rig_of_command<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?
            .strip_suffix(".command")
            .filter(|rig| !rig.contains('.'))
    }

    /// `P.fleet.emergency-stop`.
    pub fn fleet_emergency_stop(&self) -> String {
        format!("{}.fleet.emergency-stop", self.prefix)
    }

    /// `P.gateway.<name>.status`.
    pub fn status(&self, gateway: &str) -> String {
        format!("{}.gateway.{gateway}.status", self.prefix)
    }

    /// `P.gateway.<name>.reload`.
    pub fn reload(&self, gateway: &str) -> String {
        format!("{}.gateway.{gateway}.reload", self.prefix)
    }

    /// What the stream stores: every rig message but heartbeats (their
    /// latest value is in the rig bucket), and link events.
    pub fn stored(&self) -> Vec<String> {
        [
            "emergency",
            "event",
            "property",
            "result.>",
            "topic.>",
            "link",
        ]
        .iter()
        .map(|tail| format!("{}.*.{tail}", self.prefix))
        .collect()
    }
}

/// The `nonce` of a COMMAND_RESULT body, when it is an integer.
fn result_nonce(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Nonce {
        nonce: i64,
    }
    serde_json::from_slice::<Nonce>(body).ok().map(|n| n.nonce)
}

/// `Nats-Msg-Id` of a message: lowercase hex SHA-256 of
/// `<rig>\n<topic>\n<body>`. From the rig, the topic and the bytes alone, so
/// every gateway bridging the rig computes the same id and the stream keeps
/// one copy. A body the rig publishes again gets [`RepeatedIds`]' suffix.
///
/// ```
/// let id = auto_trainer_gateway::subjects::message_id("rig-7", 4001, b"{}");
/// assert_eq!(id.len(), 64);
/// assert_ne!(id, auto_trainer_gateway::subjects::message_id("rig-8", 4001, b"{}"));
/// ```
pub fn message_id(rig: &str, topic: u32, body: &[u8]) -> String {
    lowercase_hex(&digest(rig, topic, body))
}

/// `digest` in lowercase hex (one allocation: this is on every event).
fn lowercase_hex(digest: &[u8; 32]) -> String {
    let mut text = [0u8; 64];
    hex::encode_to_slice(digest, &mut text).expect("64 hex digits for 32 bytes");
    String::from_utf8(text.to_vec()).expect("hex digits are ASCII")
}

/// Bodies remembered per rig and topic to tell a repeated body from the
/// copy of another gateway (the least recently seen are forgotten first).
const REMEMBERED_BODIES: usize = 1024;

/// Message ids of one rig that stay distinct when the rig publishes the same
/// bytes again (`{"enabled": true}` twice as a property change), which would
/// otherwise be dropped by the stream as a duplicate: the n-th time the same
/// bytes come within the duplicate window of their last time, the id is
/// [`message_id`] with `-n` appended. Every gateway that saw the rig's
/// messages in the same order computes the same ids.
pub struct RepeatedIds {
    window: std::time::Duration,
    seen: std::collections::HashMap<u32, lru::LruCache<[u8; 32], (u32, std::time::Instant)>>,
}

impl RepeatedIds {
    /// Ids for a stream that drops duplicates within `window`.
    pub fn new(window: std::time::Duration) -> Self {
        Self {
            window,
            seen: std::collections::HashMap::new(),
        }
    }

    /// The id of the next message on `topic`, received at `now`.
    pub fn next(&mut self, rig: &str, topic: u32, body: &[u8], now: std::time::Instant) -> String {
        let digest = digest(rig, topic, body);
        let capacity = std::num::NonZeroUsize::new(REMEMBERED_BODIES).expect("not zero");
        let bodies = self
            .seen
            .entry(topic)
            .or_insert_with(|| lru::LruCache::new(capacity));
        // A body not seen for a whole window starts over: the stream has
        // forgotten every id it was stored under.
        let times = match bodies.get(&digest) {
            Some(&(times, last)) if now.duration_since(last) <= self.window => times + 1,
            _ => 1,
        };
        bodies.put(digest, (times, now));
        let id = lowercase_hex(&digest);
        if times == 1 {
            id
        } else {
            format!("{id}-{times}")
        }
    }
}

fn digest(rig: &str, topic: u32, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(rig.as_bytes());
    hash.update(b"\n");
    hash.update(itoa::Buffer::new().format(topic).as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rig_topic_has_its_subject() {
        let s = Subjects::new("lab.a");
        assert_eq!(
            s.event("r", ApiTopic::Heartbeat, b"").unwrap(),
            "lab.a.r.heartbeat"
        );
        assert_eq!(
            s.event("r", ApiTopic::Emergency, b"").unwrap(),
            "lab.a.r.emergency"
        );
        assert_eq!(
            s.event("r", ApiTopic::PropertyChange, b"").unwrap(),
            "lab.a.r.property"
        );
        assert_eq!(
            s.event(
                "r",
                ApiTopic::CommandResult,
                br#"{"nonce": -3, "result": 100}"#
            )
            .unwrap(),
            "lab.a.r.result.-3"
        );
        assert_eq!(
            s.event("r", ApiTopic::CommandResult, br#"{"nonce": 1.5}"#),
            None
        );
        assert_eq!(s.event("r", ApiTopic::CommandResult, b"garbage"), None);
        assert_eq!(s.rig_of_command("lab.a.rig-7.command"), Some("rig-7"));
        assert_eq!(s.rig_of_command("lab.b.rig-7.command"), None);
        assert_eq!(s.rig_of_command("lab.a.rig-7.event"), None);
        assert_eq!(s.stored().len(), 6);
    }

    #[test]
    fn tokens_are_letters_digits_dash_and_underscore() {
        assert!(check_token("rig-7_b").is_ok());
        for bad in ["", "a.b", "a*", "a>", "a b", "é"] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_published_again_gets_its_own_id_the_same_in_every_gateway() {
        let start = std::time::Instant::now();
        let window = std::time::Duration::from_secs(120);
        let [mut a, mut b] = [RepeatedIds::new(window), RepeatedIds::new(window)];
        let on = br#"{"enabled": true}"#;
        let off = br#"{"enabled": false}"#;
        let sequence = [&on[..], off, on, on];
        let ids_of = |ids: &mut RepeatedIds| -> Vec<String> {
            sequence
                .iter()
                .map(|body| ids.next("rig-7", 5001, body, start))
                .collect()
        };
        let ids = ids_of(&mut a);
        assert_eq!(ids, ids_of(&mut b));
        let first = message_id("rig-7", 5001, on);
        assert_eq!(ids[0], first);
        assert_eq!(ids[2], format!("{first}-2"));
        assert_eq!(ids[3], format!("{first}-3"));
        // A whole window later the stream has forgotten: the id starts over.
        let later = start + window + std::time::Duration::from_secs(1);
        assert_eq!(a.next("rig-7", 5001, on, later), first);
    }

    #[test]
    fn the_message_id_depends_on_rig_topic_and_bytes_only() {
        let id = message_id("rig-7", 4001, br#"{"kind": 1}"#);
        assert_eq!(id, message_id("rig-7", 4001, br#"{"kind": 1}"#));
        assert_ne!(id, message_id("rig-7", 2001, br#"{"kind": 1}"#));
        assert_ne!(id, message_id("rig-7", 4001, br#"{"kind":1}"#));
    }
}
