//! What the console prints: readable lines, or one JSON object per line
//! with `--json`, through the prompt-safe [`Output`].

use auto_trainer_api::{
    ApiCommandRequestErrorKind, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiCommandRequestServiceResponse, ApiEvent, DeviceMessage, Error, EventKind, Generation,
    LinkState, Liveness, RawMessage, REFUSED_FORBIDDEN, REFUSED_STALE_OR_REPLAYED,
    REFUSED_UNAUTHENTICATED,
};
use serde_json::{json, Value};
use std::time::Duration;

use crate::common::output::Output;
use crate::common::text::{outcome_text, response_text};
use crate::fleet::RigState;
use crate::link::{Presence, SendError};

/// Prints messages, replies and results as text or JSON.
#[derive(Clone)]
pub struct Report {
    pub output: Output,
    pub json: bool,
}

impl Report {
    /// A line as is, in either mode.
    pub fn line(&self, text: impl Into<String>) {
        self.output.line(text);
    }

    /// A readable line, or its JSON form with `--json`.
    pub fn show(&self, text: String, value: impl FnOnce() -> Value) {
        if self.json {
            self.output.line(value().to_string());
        } else {
            self.output.line(text);
        }
    }

    pub fn message(&self, message: &DeviceMessage) {
        self.show(message_text(message), || message_json(message));
    }

    pub fn reply(&self, reply: &ApiCommandRequestServiceResponse) {
        self.show(reply_text(reply), || reply_json(reply));
    }

    pub fn result(&self, result: &ApiCommandRequestResponse) {
        self.show(
            format!("result of {}", result_text(result)),
            || json!({"type": "result", "result": result_json(result)}),
        );
    }

    /// A liveness line; `detailed` adds the heartbeat timing (by the time
    /// someone asks, the interval has been learned).
    pub fn liveness(&self, liveness: &Liveness, host: &str, detailed: bool) {
        let name = liveness.identifier.as_deref().unwrap_or(host);
        let mut text = match liveness.state {
            LinkState::Connecting => format!("connecting to {host}"),
            LinkState::Online => format!(
                "device {name} is online (version {}, protocol {})",
                liveness.version.as_deref().unwrap_or("?"),
                liveness
                    .generation
                    .map_or("not known yet", |g| g.short_name())
            ),
            LinkState::Offline => format!("device {name} is offline"),
        };
        if detailed {
            text += &format!(
                "; heartbeat every {:.1} s",
                liveness.heartbeat_interval.as_secs_f64()
            );
            if let Some(last) = liveness.last_heartbeat {
                text += &format!(", last {:.1} s ago", last.elapsed().as_secs_f64());
            }
        }
        self.show(text, || {
            json!({
                "type": "liveness",
                "state": liveness.state.to_string(),
                "identifier": liveness.identifier,
                "version": liveness.version,
                "protocol": liveness.generation.map(|g| g.short_name()),
                "heartbeatSeconds": liveness.heartbeat_interval.as_secs_f64(),
            })
        });
    }

    /// Whether the device is there: its liveness, or the rig's state in the
    /// fleet's bucket.
    pub fn presence(&self, presence: &Presence, name: &str, detailed: bool) {
        match presence {
            Presence::Device(liveness) => self.liveness(liveness, name, detailed),
            Presence::Rig(Some(state)) => {
                self.show(format!("rig {}", rig_text(state)), || state.json())
            }
            Presence::Rig(None) => self.show(
                format!("rig {name}: no state yet (no gateway has bridged it)"),
                || json!({"type": "rig", "rig": name, "online": null}),
            ),
        }
    }

    /// One rig of `fleet status`.
    pub fn rig(&self, state: &RigState) {
        self.show(rig_text(state), || state.json());
    }

    /// A request refused by the device's signature check.
    pub fn refused(&self, code: i64, message: &str) {
        let hint = match code {
            REFUSED_UNAUTHENTICATED => {
                " (sign with a key the device holds: --key-file, or AUTO_TRAINER_KEY)"
            }
            REFUSED_FORBIDDEN => " (the key's role does not allow this command)",
            REFUSED_STALE_OR_REPLAYED => " (is this computer's clock right?)",
            _ => "",
        };
        self.show(
            format!("refused by the device: error {code}: {message}{hint}"),
            || json!({"type": "refused", "code": code, "message": message}),
        );
    }

    pub fn error(&self, text: impl std::fmt::Display) {
        self.show(
            format!("error: {text}"),
            || json!({"type": "error", "error": text.to_string()}),
        );
    }
}

/// `rig-7: online, heartbeat 0.4 s ago, identifier …, version …,
/// protocol 0.9, gateway site-a` (and the last emergency's age, if any).
fn rig_text(state: &RigState) -> String {
    let known = |value: &Option<String>| value.clone().unwrap_or_else(|| "?".into());
    let seconds = |age: Duration| format!("{:.1} s", age.as_secs_f64());
    let heartbeat = state
        .heartbeat_age()
        .map_or_else(|| "none yet".into(), |age| seconds(age) + " ago");
    let mut text = format!(
        "{}: {}, heartbeat {heartbeat}, identifier {}, version {}, protocol {}, gateway {}",
        state.rig,
        if state.online { "online" } else { "offline" },
        known(&state.identifier),
        known(&state.version),
        known(&state.protocol),
        known(&state.gateway),
    );
    if let Some(age) = state.state_age() {
        text += &format!(
            ", {} for {}",
            if state.online { "online" } else { "offline" },
            seconds(age)
        );
    }
    if let Some(age) = state.emergency_age() {
        text += &format!(", last emergency {} ago", seconds(age));
    }
    text
}

fn event_text(topic: &str, event: &ApiEvent<EventKind>) -> String {
    let kind = match event.kind.name() {
        Some(name) => format!("{name} ({})", event.kind.value()),
        None => format!("{} (unknown kind)", event.kind.value()),
    };
    match &event.context {
        Some(context) => format!("{topic} {kind} {context}"),
        None => format!("{topic} {kind}"),
    }
}

fn result_text(result: &ApiCommandRequestResponse) -> String {
    format!(
        "{} (nonce {}): {}",
        result.command,
        result.nonce,
        response_text(result)
    )
}

fn raw_text(raw: &RawMessage) -> String {
    let topic = raw
        .topic
        .map_or_else(|| "?".to_owned(), |t| t.value().to_string());
    let body = raw
        .frames
        .get(1)
        .map(|b| {
            String::from_utf8_lossy(b)
                .chars()
                .take(120)
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        "RAW topic {topic} ({}), {} frame(s): {body}",
        raw.reason,
        raw.frames.len()
    )
}

fn message_text(message: &DeviceMessage) -> String {
    match message {
        DeviceMessage::Heartbeat(h) => format!(
            "HEARTBEAT {} (version {}, protocol {})",
            h.identifier,
            h.version,
            Generation::from_version(&h.version).map_or("?", |g| g.short_name())
        ),
        DeviceMessage::Emergency(e) => event_text("EMERGENCY", e),
        DeviceMessage::Event(e) => event_text("EVENT", e),
        DeviceMessage::PropertyChange(v) => format!("PROPERTY_CHANGE {v}"),
        DeviceMessage::CommandResult(r) => format!("COMMAND_RESULT {}", result_text(r)),
        DeviceMessage::Raw(raw) => raw_text(raw),
        other => format!("{other:?}"),
    }
}

fn event_json(event: &ApiEvent<EventKind>) -> Value {
    json!({
        "kind": event.kind.value(),
        "kindName": event.kind.name(),
        "when": event.when,
        "index": event.index,
        "context": event.context,
    })
}

fn result_json(result: &ApiCommandRequestResponse) -> Value {
    json!({
        "nonce": result.nonce,
        "command": result.command.value(),
        "commandName": result.command.name(),
        "result": result.result.value(),
        "resultName": result.result.name(),
        "data": result.data,
        "errorCode": result.error_code,
        "errorMessage": result.error_message,
    })
}

fn message_json(message: &DeviceMessage) -> Value {
    let topic = message.topic().map(|t| t.value());
    let (kind, body) = match message {
        DeviceMessage::Heartbeat(h) => ("heartbeat", json!(h)),
        DeviceMessage::Emergency(e) => ("emergency", event_json(e)),
        DeviceMessage::Event(e) => ("event", event_json(e)),
        DeviceMessage::PropertyChange(v) => ("property", v.clone()),
        DeviceMessage::CommandResult(r) => ("result", result_json(r)),
        DeviceMessage::Raw(raw) => (
            "raw",
            json!({
                "reason": raw.reason.to_string(),
                "framesHex": raw.frames.iter().map(|f| hex(f)).collect::<Vec<_>>(),
            }),
        ),
        other => ("other", json!(format!("{other:?}"))),
    };
    json!({"type": kind, "topic": topic, "message": body})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn reply_text(reply: &ApiCommandRequestServiceResponse) -> String {
    let error =
        (reply.error_code != 0 || reply.error_message.is_some() || reply.error_kind.value() != 0)
            .then(|| {
                format!(
                    "{} {}: {}",
                    reply.error_kind,
                    reply.error_code,
                    reply.error_message.as_deref().unwrap_or("")
                )
            });
    format!(
        "reply to {} (nonce {}): {}",
        reply.command,
        reply.nonce,
        outcome_text(reply.result, error, reply.data.as_ref())
    )
}

fn reply_json(reply: &ApiCommandRequestServiceResponse) -> Value {
    json!({
        "type": "reply",
        "nonce": reply.nonce,
        "command": reply.command.value(),
        "commandName": reply.command.name(),
        "result": reply.result.value(),
        "resultName": reply.result.name(),
        "data": reply.data,
        "errorKind": reply.error_kind.value(),
        "errorCode": reply.error_code,
        "errorMessage": reply.error_message,
    })
}

/// A refusal by the device's signature check, as (code, message): the
/// client's [`Error::Refused`] for a signed request.
pub fn refusal_of_error(error: &SendError) -> Option<(i64, String)> {
    match error {
        SendError::Api(Error::Refused { code, message }) => Some((*code, message.clone())),
        _ => None,
    }
}

/// A refusal by the device's signature check in the reply to an unsigned
/// request, as (code, message): FAILED, SYSTEM_ERROR, 401, 409 or 403.
pub fn refusal_of_reply(reply: &ApiCommandRequestServiceResponse) -> Option<(i64, String)> {
    let refused = reply.result == ApiCommandRequestResult::Failed
        && reply.error_kind == ApiCommandRequestErrorKind::SystemError
        && [
            REFUSED_UNAUTHENTICATED,
            REFUSED_STALE_OR_REPLAYED,
            REFUSED_FORBIDDEN,
        ]
        .contains(&reply.error_code);
    refused.then(|| {
        (
            reply.error_code,
            reply.error_message.clone().unwrap_or_default(),
        )
    })
}
