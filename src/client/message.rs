//! Published messages as the client delivers them, and their decoding.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{to_snake_keys, ApiCommandRequestResponse, ApiEvent, ApiTopic, HeartbeatMessage};

/// A message published by the device, decoded by topic.
///
/// Keys of app-defined JSON (event contexts, property changes, result data)
/// are snake_case, as everywhere on the app's side of this crate. A message
/// that cannot be decoded is not dropped: it arrives as [`DeviceMessage::Raw`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceMessage {
    /// HEARTBEAT: the device is up and serving.
    Heartbeat(HeartbeatMessage),
    /// EMERGENCY: the copy of an emergency event, sent before the EVENT.
    Emergency(ApiEvent),
    /// EVENT. A kind this version does not know is kept as
    /// [`crate::ApiEventKind::Unknown`].
    Event(ApiEvent),
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

/// Decodes the frames of one published message. Never fails: what cannot be
/// decoded comes back as [`DeviceMessage::Raw`].
///
/// ```
/// use auto_trainer_api::{decode_message, ApiTopic, DeviceMessage, RawReason};
/// let body = br#"{"identifier": "rig-7", "version": "0.9.11", "timestamp": 1.5}"#;
/// let message = decode_message(vec![ApiTopic::Heartbeat.to_frame().to_vec(), body.to_vec()]);
/// assert!(matches!(message, DeviceMessage::Heartbeat(h) if h.identifier == "rig-7"));
///
/// let garbled = decode_message(vec![ApiTopic::Event.to_frame().to_vec(), b"{oops".to_vec()]);
/// assert!(matches!(garbled, DeviceMessage::Raw(r) if matches!(r.reason, RawReason::Body(_))));
/// ```
pub fn decode_message(frames: Vec<Vec<u8>>) -> DeviceMessage {
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
        ApiTopic::Emergency => parse(body).map(|e| DeviceMessage::Emergency(snake_context(e))),
        ApiTopic::Event => parse(body).map(|e| DeviceMessage::Event(snake_context(e))),
        ApiTopic::PropertyChange => {
            parse::<Value>(body).map(|v| DeviceMessage::PropertyChange(to_snake_keys(v)))
        }
        ApiTopic::CommandResult => parse(body).map(DeviceMessage::CommandResult),
        ApiTopic::Any | ApiTopic::Unknown(_) => return raw(frames, RawReason::UnknownTopic),
    };
    match decoded {
        Ok(message) => message,
        Err(why) => raw(frames, RawReason::Body(why)),
    }
}

/// Reads a typed payload such as [`crate::StatusResponse`] from the `data`
/// of a reply or result. Payload types carry their wire (camelCase) names,
/// while the client hands `data` over with snake_case keys, so the keys are
/// camelized back first.
///
/// ```
/// use auto_trainer_api::{decode_payload, ApiAppStatus, StatusResponse};
/// use serde_json::json;
/// let data = json!({"app_status": 0, "training_mode": 0, "animal_id": "m-001"});
/// let status: StatusResponse = decode_payload(&data).unwrap();
/// assert_eq!((status.app_status, status.animal_id.as_str()), (ApiAppStatus::Idle, "m-001"));
/// ```
///
/// # Errors
/// [`crate::Error::InvalidReply`] when `data` does not have the type's shape.
pub fn decode_payload<T: DeserializeOwned>(data: &Value) -> Result<T, crate::Error> {
    serde_json::from_value(crate::to_camel_keys(data.clone()))
        .map_err(|e| crate::Error::InvalidReply(format!("unexpected payload: {e}")))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn snake_context(mut event: ApiEvent) -> ApiEvent {
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
        match decode_message(frames(2001, event)) {
            DeviceMessage::Emergency(e) => {
                assert_eq!(e.kind, ApiEventKind::EmergencyStop);
                assert_eq!(e.context.unwrap()["some_reason"], "x");
            }
            other => panic!("{other:?}"),
        }
        let unknown_kind = r#"{"kind": 77777, "when": 1.0, "index": 5, "context": null}"#;
        assert!(matches!(
            decode_message(frames(4001, unknown_kind)),
            DeviceMessage::Event(e) if e.kind == ApiEventKind::Unknown(77777)
        ));
        let result = r#"{"result": 100, "data": {"fileName": "a b"}, "errorCode": 0, "errorMessage": null, "command": 100, "nonce": 9}"#;
        match decode_message(frames(6001, result)) {
            DeviceMessage::CommandResult(r) => {
                assert_eq!(r.result, ApiCommandRequestResult::Success);
                assert_eq!(r.command, ApiCommand::StartAcquisition);
                assert_eq!(r.nonce, 9);
                assert_eq!(r.data.unwrap()["file_name"], "a b");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_message(frames(5001, r#"{"animalId": 3}"#)),
            DeviceMessage::PropertyChange(v) if v["animal_id"] == 3
        ));
    }

    #[test]
    fn bad_messages_come_back_raw() {
        let reason = |frames| match decode_message(frames) {
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
