//! What the operator types: commands and topics by name, JSON data.

use std::collections::BTreeSet;

use auto_trainer_api::{ApiCommand, ApiTopic, DeviceMessage};
use serde_json::Value;

pub const ALIASES: &[(&str, ApiCommand)] = &[
    ("status", ApiCommand::GetStatus),
    ("config", ApiCommand::GetConfiguration),
    ("start", ApiCommand::StartAcquisition),
    ("stop", ApiCommand::StopAcquisition),
    ("estop", ApiCommand::EmergencyStop),
    ("resume", ApiCommand::EmergencyResume),
    ("ping", ApiCommand::None),
    ("custom", ApiCommand::UserDefined),
];

/// A command by alias, protocol name (any case, `_` or `-`) or number.
pub fn resolve_command(word: &str) -> Option<ApiCommand> {
    let lower = word.to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, command)| *command)
        .or_else(|| word.parse().ok())
}

/// The protocol's command names, for completion.
pub fn command_names() -> impl Iterator<Item = String> {
    ApiCommand::ALL
        .iter()
        .filter_map(|c| c.name().map(str::to_owned))
}

pub const TOPIC_WORDS: &[(&str, ApiTopic)] = &[
    ("heartbeat", ApiTopic::Heartbeat),
    ("emergency", ApiTopic::Emergency),
    ("event", ApiTopic::Event),
    ("property", ApiTopic::PropertyChange),
    ("result", ApiTopic::CommandResult),
];

/// What `watch` and `listen --topic` select: a topic, or raw messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shown {
    Topic(u32),
    Raw,
}

pub fn resolve_shown(word: &str) -> Option<Shown> {
    let lower = word.to_ascii_lowercase();
    if lower == "raw" {
        return Some(Shown::Raw);
    }
    TOPIC_WORDS
        .iter()
        .find(|(name, _)| lower == *name || lower == format!("{name}s"))
        .map(|(_, topic)| *topic)
        .or_else(|| word.parse::<ApiTopic>().ok())
        .map(|topic| Shown::Topic(topic.value()))
}

/// The topics named by `words`, or the first word that names none.
pub fn resolve_all_shown<'a>(
    words: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<Shown>, String> {
    words
        .into_iter()
        .map(|w| resolve_shown(w).ok_or_else(|| format!("unknown topic '{w}'")))
        .collect()
}

pub fn shown_kind(message: &DeviceMessage) -> Shown {
    match (message, message.topic()) {
        (DeviceMessage::Raw(_), _) | (_, None) => Shown::Raw,
        (_, Some(topic)) => Shown::Topic(topic.value()),
    }
}

pub fn shown_name(shown: Shown) -> String {
    match shown {
        Shown::Raw => "raw".into(),
        Shown::Topic(value) => TOPIC_WORDS
            .iter()
            .find(|(_, t)| t.value() == value)
            .map_or_else(|| value.to_string(), |(name, _)| (*name).to_owned()),
    }
}

pub fn all_shown() -> BTreeSet<Shown> {
    TOPIC_WORDS
        .iter()
        .map(|(_, t)| Shown::Topic(t.value()))
        .chain([Shown::Raw])
        .collect()
}

/// A command's data typed as JSON.
pub fn parse_data(text: Option<&str>) -> Result<Option<Value>, String> {
    text.map(|t| serde_json::from_str(t).map_err(|e| format!("invalid JSON data '{t}': {e}")))
        .transpose()
}
