//! What the operator types: commands and topics by name, JSON data. Command
//! names and aliases follow the device's protocol generation: a number or
//! name means a command of that generation's catalog.

use std::collections::BTreeSet;

use auto_trainer_api::{v0_12, v0_9, ApiTopic, Command, CommandCall, DeviceMessage, Generation};
use serde_json::{json, Value};

/// The aliases of 0.9.11's commands.
pub const ALIASES_V0_9: &[(&str, v0_9::ApiCommand)] = &[
    ("status", v0_9::ApiCommand::GetStatus),
    ("config", v0_9::ApiCommand::GetConfiguration),
    ("start", v0_9::ApiCommand::StartAcquisition),
    ("stop", v0_9::ApiCommand::StopAcquisition),
    ("estop", v0_9::ApiCommand::EmergencyStop),
    ("resume", v0_9::ApiCommand::EmergencyResume),
    ("ping", v0_9::ApiCommand::None),
    ("custom", v0_9::ApiCommand::UserDefined),
];

/// The aliases of 0.12's commands. `start` and `stop` name the obsolete
/// START/STOP_ACQUISITION (a warning says so); `set-mode`,
/// `set-training-mode`, `enable` and `disable` take an argument (see
/// [`command_call`]).
pub const ALIASES_V0_12: &[(&str, v0_12::ApiCommand)] = &[
    ("status", v0_12::ApiCommand::GetStatus),
    ("config", v0_12::ApiCommand::GetConfiguration),
    ("animals", v0_12::ApiCommand::GetAnimals),
    ("set-mode", v0_12::ApiCommand::SetApplicationMode),
    ("set-training-mode", v0_12::ApiCommand::SetTrainingMode),
    ("start", v0_12::ApiCommand::StartAcquisition),
    ("stop", v0_12::ApiCommand::StopAcquisition),
    ("estop", v0_12::ApiCommand::EmergencyStop),
    ("resume", v0_12::ApiCommand::EmergencyResume),
    ("ping", v0_12::ApiCommand::None),
    ("custom", v0_12::ApiCommand::UserDefined),
];

/// The aliases of `generation`, as tagged commands.
pub fn aliases(generation: Generation) -> Vec<(&'static str, Command)> {
    match generation {
        Generation::V0_9 => ALIASES_V0_9
            .iter()
            .map(|(a, c)| (*a, (*c).into()))
            .collect(),
        Generation::V0_12 => ALIASES_V0_12
            .iter()
            .map(|(a, c)| (*a, (*c).into()))
            .collect(),
    }
}

/// A command of `generation` by alias, protocol name (any case, `_` or
/// `-`) or number.
pub fn resolve_command(generation: Generation, word: &str) -> Option<Command> {
    let lower = word.to_ascii_lowercase();
    aliases(generation)
        .into_iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, command)| command)
        .or_else(|| match generation {
            Generation::V0_9 => word.parse::<v0_9::ApiCommand>().ok().map(Command::from),
            Generation::V0_12 => word.parse::<v0_12::ApiCommand>().ok().map(Command::from),
        })
}

/// The command names of `generation`'s catalog, for completion.
pub fn command_names(generation: Generation) -> Vec<String> {
    let names: Vec<&str> = match generation {
        Generation::V0_9 => v0_9::ApiCommand::ALL
            .iter()
            .filter_map(|c| c.name())
            .collect(),
        Generation::V0_12 => v0_12::ApiCommand::ALL
            .iter()
            .filter_map(|c| c.name())
            .collect(),
    };
    names.into_iter().map(str::to_owned).collect()
}

/// The word of a 0.12 behaviour setting: SET_LIVE_ANALYSIS_ENABLED is
/// `live-analysis`.
fn setting_word(command: v0_12::ApiCommand) -> Option<String> {
    let name = command
        .name()?
        .strip_prefix("SET_")?
        .strip_suffix("_ENABLED")?;
    Some(name.to_ascii_lowercase().replace('_', "-"))
}

/// The words of `enable` / `disable` (0.12's SET_*_ENABLED), for help and
/// completion.
pub fn setting_words() -> Vec<String> {
    v0_12::ApiCommand::ALL
        .iter()
        .filter_map(|c| setting_word(*c))
        .collect()
}

/// The application modes and training modes by name, for completion.
pub fn mode_words(command: v0_12::ApiCommand) -> Vec<String> {
    let names: Vec<&str> = match command {
        v0_12::ApiCommand::SetApplicationMode => v0_12::ApiApplicationMode::ALL
            .iter()
            .filter_map(|m| m.name())
            .collect(),
        v0_12::ApiCommand::SetTrainingMode => v0_12::ApiTrainingMode::ALL
            .iter()
            .filter_map(|m| m.name())
            .collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .map(|n| n.to_ascii_lowercase().replace('_', "-"))
        .collect()
}

/// The call a command word and its argument text make, with the warnings
/// the operator should see. Every command takes optional JSON data; in
/// 0.12, `set-mode <mode>` and `set-training-mode <mode>` also take a mode
/// by name (`running`, `in-training`, `automatic`) or number, and
/// `enable <setting>` / `disable <setting>` switch a behaviour setting
/// (`enable live-analysis` is SET_LIVE_ANALYSIS_ENABLED `{"enabled": true}`).
pub fn command_call(
    generation: Generation,
    word: &str,
    argument: Option<&str>,
) -> Result<(CommandCall, Vec<String>), String> {
    let lower = word.to_ascii_lowercase();
    if generation == Generation::V0_12 && (lower == "enable" || lower == "disable") {
        let setting = argument.unwrap_or("").trim();
        let command = v0_12::ApiCommand::ALL
            .iter()
            .find(|c| setting_word(**c).is_some_and(|w| w == setting.to_ascii_lowercase()))
            .ok_or_else(|| {
                format!(
                    "{lower} needs a setting, one of: {}",
                    setting_words().join(" ")
                )
            })?;
        let call = CommandCall::new(*command).data(json!({ "enabled": lower == "enable" }));
        return Ok((call, Vec::new()));
    }
    let command = resolve_command(generation, word).ok_or_else(|| {
        format!(
            "unknown command '{word}' in protocol {generation} (try: send GET_STATUS, send 400)"
        )
    })?;
    let mut warnings = Vec::new();
    let data = match command.v0_12() {
        Some(
            mode_command @ (v0_12::ApiCommand::SetApplicationMode
            | v0_12::ApiCommand::SetTrainingMode),
        ) if argument.is_some_and(|a| !a.trim_start().starts_with('{')) => {
            let text = argument.unwrap_or("").trim();
            let mode = match mode_command {
                v0_12::ApiCommand::SetApplicationMode => {
                    text.parse::<v0_12::ApiApplicationMode>().map(|m| m.value())
                }
                _ => text.parse::<v0_12::ApiTrainingMode>().map(|m| m.value()),
            }
            .map_err(|_| {
                format!(
                    "'{text}' is not a mode; one of: {}",
                    mode_words(mode_command).join(" ")
                )
            })?;
            Some(json!({ "mode": mode }))
        }
        _ => parse_data(argument)?,
    };
    if matches!(
        command.v0_12(),
        Some(v0_12::ApiCommand::StartAcquisition | v0_12::ApiCommand::StopAcquisition)
    ) {
        warnings.push(format!(
            "{command} is obsolete in protocol 0.12 (a 0.12 device answers UNRECOGNIZED);              a run starts with 'set-mode running' and ends with 'set-mode idle'"
        ));
    }
    Ok((CommandCall::new(command).maybe_data(data), warnings))
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
