//! Published messages as the client delivers them, and their decoding.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    to_snake_keys, ApiCommandRequestResponse, ApiEvent, ApiTopic, Command, EventKind, Generation,
    HeartbeatMessage,
};

/// A message published by the device, decoded by topic.
///
/// Keys of app-defined JSON (event contexts, property changes, result data)
/// are snake_case, as everywhere on the app's side of this crate. Event kinds
/// and commands are read with the device's protocol generation (tagged
/// [`EventKind`] and [`Command`]). A message that cannot be decoded is not
/// dropped: it arrives as [`DeviceMessage::Raw`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceMessage {
    /// HEARTBEAT: the device is up and serving.
    Heartbeat(HeartbeatMessage),
    /// EMERGENCY: the copy of an emergency event, sent before the EVENT.
    Emergency(ApiEvent<EventKind>),
    /// EVENT. A kind the generation's catalog does not know is kept as its
    /// `Unknown(number)`.
    Event(ApiEvent<EventKind>),
    /// PROPERTY_CHANGE: an app-defined object.
    PropertyChange(Value),
    /// COMMAND_RESULT: the final result of a pending command, matched to its
    /// request by `nonce`.
    CommandResult(ApiCommandRequestResponse),
    /// A message on a topic this version does not know, or one that could
    /// not be decoded; [`RawMessage::reason`] says which.
    Raw(RawMessage),
}

impl DeviceMessage {
    /// The message's topic; `None` for a raw message whose first frame is
    /// not a 4-byte topic.
    pub fn topic(&self) -> Option<ApiTopic> {
        match self {
            Self::Heartbeat(_) => Some(ApiTopic::Heartbeat),
            Self::Emergency(_) => Some(ApiTopic::Emergency),
            Self::Event(_) => Some(ApiTopic::Event),
            Self::PropertyChange(_) => Some(ApiTopic::PropertyChange),
            Self::CommandResult(_) => Some(ApiTopic::CommandResult),
            Self::Raw(raw) => raw.topic,
        }
    }
}

/// A published message's frames exactly as received, for relays that pass
/// them on unchanged ([`crate::DeviceClient::subscribe_frames`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFrames {
    /// Every frame, as received (a well-formed message: the 4-byte topic,
    /// then the JSON body).
    pub frames: Vec<Vec<u8>>,
    /// When the client read it.
    pub received: std::time::SystemTime,
}

/// The reply to a request sent with [`crate::DeviceClient::forward`].
#[derive(Debug)]
pub struct ForwardedReply {
    /// The reply's body as the device sent it (of a signed reply, the
    /// second frame). Pass it on only when [`Self::reply`] is `Ok` or
    /// [`crate::Error::Refused`]: otherwise it may be forged or garbled.
    pub bytes: Vec<u8>,
    /// The reply read and checked (nonce, signature).
    pub reply: Result<crate::ApiCommandRequestServiceResponse, crate::Error>,
}

/// A message delivered as received, with why it was not decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    /// The topic, when the first frame is 4 bytes.
    pub topic: Option<ApiTopic>,
    /// Every frame, as received.
    pub frames: Vec<Vec<u8>>,
    /// Why it is raw.
    pub reason: RawReason,
}

/// Why a message was delivered raw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawReason {
    /// A well-formed message on a topic this version does not know.
    UnknownTopic,
    /// Not the two frames (topic, body) of the protocol.
    FrameCount(usize),
    /// The first frame is not a 4-byte topic.
    TopicFrame,
    /// The body is not UTF-8 JSON of the topic's shape; the text says why.
    Body(String),
}

impl RawReason {
    /// Whether the message broke the protocol (everything but an unknown topic).
    pub fn is_malformed(&self) -> bool {
        !matches!(self, Self::UnknownTopic)
    }
}

impl fmt::Display for RawReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTopic => f.write_str("unknown topic"),
            Self::FrameCount(n) => write!(f, "{n} frames instead of 2"),
            Self::TopicFrame => f.write_str("the topic frame is not 4 bytes"),
            Self::Body(why) => write!(f, "undecodable body: {why}"),
        }
    }
}

/// Decodes the frames of one published message, reading event kinds and
/// commands with `generation`'s catalogs (`None`: kept as
/// [`EventKind::Undetected`] and [`Command::Undetected`] numbers). Never
/// fails: what cannot be decoded comes back as [`DeviceMessage::Raw`].
///
/// ```
/// use auto_trainer_api::{decode_message, ApiTopic, DeviceMessage, RawReason};
/// let body = br#"{"identifier": "rig-7", "version": "0.9.11", "timestamp": 1.5}"#;
/// let message = decode_message(vec![ApiTopic::Heartbeat.to_frame().to_vec(), body.to_vec()], None);
/// assert!(matches!(message, DeviceMessage::Heartbeat(h) if h.identifier == "rig-7"));
///
/// let garbled = decode_message(vec![ApiTopic::Event.to_frame().to_vec(), b"{oops".to_vec()], None);
/// assert!(matches!(garbled, DeviceMessage::Raw(r) if matches!(r.reason, RawReason::Body(_))));
/// ```
pub fn decode_message(frames: Vec<Vec<u8>>, generation: Option<Generation>) -> DeviceMessage {
    let topic = frames.first().and_then(|f| ApiTopic::from_frame(f));
    let raw = |frames, reason| {
        DeviceMessage::Raw(RawMessage {
            topic,
            frames,
            reason,
        })
    };
    let Some(topic) = topic else {
        return raw(frames, RawReason::TopicFrame);
    };
    if frames.len() != 2 {
        let n = frames.len();
        return raw(frames, RawReason::FrameCount(n));
    }
    let body = &frames[1];
    let decoded = match topic {
        ApiTopic::Heartbeat => parse(body).map(DeviceMessage::Heartbeat),
        ApiTopic::Emergency => {
            parse(body).map(|e| DeviceMessage::Emergency(read_event(e, generation)))
        }
        ApiTopic::Event => parse(body).map(|e| DeviceMessage::Event(read_event(e, generation))),
        ApiTopic::PropertyChange => {
            parse::<Value>(body).map(|v| DeviceMessage::PropertyChange(to_snake_keys(v)))
        }
        ApiTopic::CommandResult => parse::<ApiCommandRequestResponse>(body).map(|mut r| {
            r.command = Command::read(generation, r.command.value());
            DeviceMessage::CommandResult(r)
        }),
        ApiTopic::Any | ApiTopic::Unknown(_) => return raw(frames, RawReason::UnknownTopic),
    };
    match decoded {
        Ok(message) => message,
        Err(why) => raw(frames, RawReason::Body(why)),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn read_event(event: ApiEvent<i64>, generation: Option<Generation>) -> ApiEvent<EventKind> {
    let mut event = event.map_kind(|kind| EventKind::read(generation, kind));
    event.context = event.context.map(to_snake_keys);
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiCommand, ApiCommandRequestResult, ApiEventKind};

    fn frames(topic: u32, body: &str) -> Vec<Vec<u8>> {
        vec![topic.to_le_bytes().to_vec(), body.as_bytes().to_vec()]
    }

    #[test]
    fn decodes_every_topic() {
        let event = r#"{"kind": 101, "when": 1.0, "index": 5, "context": {"someReason": "x"}}"#;
        match decode_message(frames(2001, event), Some(Generation::V0_9)) {
            DeviceMessage::Emergency(e) => {
                assert_eq!(e.kind, ApiEventKind::EmergencyStop);
                assert_eq!(e.context.unwrap()["some_reason"], "x");
            }
            other => panic!("{other:?}"),
        }
        let unknown_kind = r#"{"kind": 77777, "when": 1.0, "index": 5, "context": null}"#;
        assert!(matches!(
            decode_message(frames(4001, unknown_kind), Some(Generation::V0_9)),
            DeviceMessage::Event(e) if e.kind == ApiEventKind::Unknown(77777)
        ));
        let result = r#"{"result": 100, "data": {"fileName": "a b"}, "errorCode": 0, "errorMessage": null, "command": 100, "nonce": 9}"#;
        match decode_message(frames(6001, result), Some(Generation::V0_9)) {
            DeviceMessage::CommandResult(r) => {
                assert_eq!(r.result, ApiCommandRequestResult::Success);
                assert_eq!(r.command, ApiCommand::StartAcquisition);
                assert_eq!(r.nonce, 9);
                assert_eq!(r.data.unwrap()["file_name"], "a b");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_message(frames(5001, r#"{"animalId": 3}"#), None),
            DeviceMessage::PropertyChange(v) if v["animal_id"] == 3
        ));
    }

    #[test]
    fn kinds_and_commands_are_read_with_the_generation_given() {
        let event =
            r#"{"kind": 301, "when": 1.0, "index": 5, "context": {"mode": 100}, "repeat": 2}"#;
        let kind = |generation| match decode_message(frames(4001, event), generation) {
            DeviceMessage::Event(e) => (e.kind, e.repeat),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(Some(Generation::V0_12)),
            (crate::v0_12::ApiEventKind::ApplicationModeChanged.into(), 2)
        );
        assert_eq!(
            kind(Some(Generation::V0_9)),
            (ApiEventKind::AcquisitionStarted.into(), 2)
        );
        assert_eq!(kind(None), (EventKind::Undetected(301), 2));

        let result = r#"{"result": 100, "data": null, "errorCode": 0, "errorMessage": null, "command": 50, "nonce": 9}"#;
        match decode_message(frames(6001, result), Some(Generation::V0_12)) {
            DeviceMessage::CommandResult(r) => {
                assert_eq!(r.command, crate::v0_12::ApiCommand::StartAcquisition)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_messages_come_back_raw() {
        let reason = |frames| match decode_message(frames, Some(Generation::V0_9)) {
            DeviceMessage::Raw(raw) => raw.reason,
            other => panic!("decoded {other:?}"),
        };
        assert_eq!(reason(frames(7777, "{}")), RawReason::UnknownTopic);
        assert_eq!(reason(frames(0, "{}")), RawReason::UnknownTopic);
        assert_eq!(reason(vec![vec![1, 2, 3], vec![]]), RawReason::TopicFrame);
        assert_eq!(reason(vec![]), RawReason::TopicFrame);
        assert_eq!(
            reason(vec![1001u32.to_le_bytes().to_vec()]),
            RawReason::FrameCount(1)
        );
        let mut three = frames(1001, "{}");
        three.push(vec![]);
        assert_eq!(reason(three), RawReason::FrameCount(3));
        assert!(matches!(reason(frames(1001, "[1, 2]")), RawReason::Body(_)));
        assert!(matches!(
            reason(vec![4001u32.to_le_bytes().to_vec(), vec![0xff, 0xfe]]),
            RawReason::Body(m) if m.contains("UTF-8")
        ));
        assert!(matches!(
            reason(frames(4001, r#"{"kind": "x"}"#)),
            RawReason::Body(_)
        ));
    }
}
