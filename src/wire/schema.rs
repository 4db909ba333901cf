//! JSON Schemas (draft 2020-12) of every wire message, generated from the wire
//! types with `schemars`: the committed `proto-schema/*.schema.json` files are
//! this module's output (`scripts/generate-schemas.sh`), and a test fails when
//! they drift from the code.
//!
//! Code enums (`wire_code!`) describe only their known numbers, each with its
//! name and meaning, so a schema rejects a number the protocol does not define
//! even though the Rust types keep such numbers as `Unknown`. The one place a
//! number outside the catalog is part of the contract is the echo of a
//! request's command ([`echoed_command`]).

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::event::is_emergency_kind;
use crate::{
    v0_12, v0_9, ApiCommandRequest, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiCommandRequestServiceResponse, ApiEvent, ApiTopic, Generation, HeartbeatMessage,
    DEFAULT_COMMAND_PORT, DEFAULT_SUBSCRIBER_PORT,
};

/// The JSON Schema of one wire message of one protocol generation, as
/// committed under `proto-schema/<generation>/`.
#[derive(Debug, Clone, PartialEq)]
pub struct WireSchema {
    /// The generation it describes.
    pub generation: Generation,
    /// The path under `proto-schema/`, e.g. `0.12/command-request.schema.json`.
    pub file_name: String,
    /// The schema document.
    pub schema: Value,
}

impl WireSchema {
    /// The file's exact text: pretty-printed JSON and a final newline.
    pub fn to_file_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema)
            .expect("a serde_json::Value always serializes");
        text.push('\n');
        text
    }
}

/// The JSON Schemas (draft 2020-12) of every message on the wire, for each
/// protocol generation (files under `0.9/` and `0.12/`), generated from the
/// Rust wire types: the command request and its reply, the published
/// messages (heartbeat, event, emergency copy, property change, command
/// result), the typed payloads and the topic numbers. Field names are the
/// camelCase wire names; codes are those of the generation's catalogs.
///
/// ```
/// let schemas = auto_trainer_api::wire_schemas();
/// let request = schemas
///     .iter()
///     .find(|s| s.file_name == "0.12/command-request.schema.json")
///     .unwrap();
/// assert_eq!(request.schema["required"], serde_json::json!(["command"]));
/// ```
pub fn wire_schemas() -> Vec<WireSchema> {
    Generation::ALL
        .into_iter()
        .flat_map(|generation| {
            let files = match generation {
                Generation::V0_9 => v0_9_files(),
                Generation::V0_12 => v0_12_files(),
            };
            files
                .into_iter()
                .map(move |(name, mut schema, description)| {
                    schema["description"] = Value::String(format!(
                        "{description}\n\nProtocol generation {} (auto-trainer-api {}).",
                        generation.short_name(),
                        generation.reference_version()
                    ));
                    clean_descriptions(&mut schema);
                    WireSchema {
                        generation,
                        file_name: format!("{}/{name}", generation.short_name()),
                        schema: in_reading_order(schema),
                    }
                })
        })
        .collect()
}

type SchemaFile = (&'static str, Value, String);

fn topic(t: ApiTopic) -> String {
    format!("{} ({})", t, t.value())
}

/// The files that are the same in every generation.
fn common_files() -> Vec<SchemaFile> {
    vec![
        (
            "heartbeat.schema.json",
            root::<HeartbeatMessage>(true, |_| {}),
            format!(
                "Published on topic {} every `heartbeat_interval` seconds while the service \
                 is serving (default PUB port {DEFAULT_SUBSCRIBER_PORT}). `version` is the \
                 reference package's version for a Python device, and for this crate the \
                 version of the reference it follows with its own as build metadata \
                 (`0.12.0+rust.0.1.0`).",
                topic(ApiTopic::Heartbeat)
            ),
        ),
        (
            "property-change.schema.json",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "PropertyChange",
                "type": "object",
            }),
            format!(
                "Published on topic {}: an object the app defines; its keys are camelCase \
                 and its values are the app's.",
                topic(ApiTopic::PropertyChange)
            ),
        ),
        (
            "topic.schema.json",
            root::<ApiTopic>(true, |_| {}),
            "The first frame of every published message is its topic: this number as 4 bytes, \
             little-endian; the second frame is the UTF-8 JSON body. Subscribers filter on the \
             4-byte prefix (ANY subscribes to everything)."
                .to_owned(),
        ),
    ]
}

/// The request, the reply, the events and the command result, with the
/// catalogs `C` (commands) and `K` (event kinds) of one generation.
fn message_files<C: JsonSchema, K: JsonSchema>(
    reply_spacing: &str,
    reply_payloads: fn(&mut Extension),
    event_contexts: fn(&mut Extension),
    context_note: &str,
) -> Vec<SchemaFile> {
    vec![
        (
            "command-request.schema.json",
            with_catalog::<C>(root::<ApiCommandRequest<C>>(false, |_| {})),
            format!(
                "A command request: the single frame a console sends to the device's REP \
                 socket (default port {DEFAULT_COMMAND_PORT}), a UTF-8 JSON object with \
                 camelCase keys (inside `data` too). Only `command` is required. The device \
                 answers every request with exactly one reply (command-reply.schema.json). \
                 This schema admits only the commands of the catalog; the Rust service still \
                 hands an unknown number to the app and echoes it."
            ),
        ),
        (
            "command-reply.schema.json",
            with_catalog::<C>(root::<ApiCommandRequestServiceResponse>(
                true,
                reply_payloads,
            )),
            format!(
                "The device's reply to every request, on the REP socket: exactly these seven \
                 keys, {reply_spacing}. `nonce` and `command` echo the request (0 and NONE \
                 when it could not be read). The `data` of a successful GET_STATUS or \
                 GET_CONFIGURATION reply is typed (null if it could not be serialized)."
            ),
        ),
        (
            "event.schema.json",
            event_schema::<K>(event_contexts),
            format!(
                "An application event, published on topic {}. {context_note} Context keys \
                 are camelCase. Events of the kinds emergencyStop and emergencyResume are also \
                 published on {}, first.",
                topic(ApiTopic::Event),
                topic(ApiTopic::Emergency)
            ),
        ),
        (
            "emergency.schema.json",
            emergency_kinds_only(event_schema::<K>(event_contexts)),
            format!(
                "Published on topic {}: a copy of an emergencyStop or emergencyResume event, \
                 sent just before the same event on {}.",
                topic(ApiTopic::Emergency),
                topic(ApiTopic::Event)
            ),
        ),
        (
            "command-result.schema.json",
            with_catalog::<C>(root::<ApiCommandRequestResponse>(true, |_| {})),
            format!(
                "Published on topic {} when a command whose reply was {} finishes. A console \
                 matches it to its request by `nonce` (and `command`).",
                topic(ApiTopic::CommandResult),
                ApiCommandRequestResult::PendingWithNotification,
            ),
        ),
    ]
}

fn v0_9_files() -> Vec<SchemaFile> {
    use v0_9::{ApiCommand, ApiEventKind};
    let command = |c: ApiCommand| format!("{} ({})", c, c.value());
    let mut files = message_files::<ApiCommand, ApiEventKind>(
        "as compact JSON (no spaces)",
        v0_9_reply_payloads,
        v0_9_event_contexts,
        "`context` is kind-specific (for systemStatus an ApiSystemStatus); 0.9.11 has no \
         `repeat` (this crate writes it only when it is not 0).",
    );
    files.extend(common_files());
    files.extend([
        (
            "status-response.schema.json",
            root::<v0_9::StatusResponse>(true, |_| {}),
            format!(
                "The `data` of a successful {} reply.",
                command(ApiCommand::GetStatus)
            ),
        ),
        (
            "configuration-response.schema.json",
            root::<v0_9::ConfigurationResponse>(true, |_| {}),
            format!(
                "The `data` of a successful {} reply.",
                command(ApiCommand::GetConfiguration)
            ),
        ),
        (
            "system-status.schema.json",
            root::<v0_9::ApiSystemStatus>(true, |_| {}),
            format!(
                "The `context` of a {} ({}) event.",
                ApiEventKind::SystemStatus,
                ApiEventKind::SystemStatus.value()
            ),
        ),
    ]);
    files
}

fn v0_12_files() -> Vec<SchemaFile> {
    use v0_12::{ApiCommand, ApiEventKind};
    let command = |c: ApiCommand| format!("{} ({})", c, c.value());
    let mut files = message_files::<ApiCommand, ApiEventKind>(
        "as `json.dumps` writes them (`\", \"` and `\": \"` separators)",
        v0_12_reply_payloads,
        v0_12_event_contexts,
        "`context` has the type of its kind (the reference's `build_event` overloads); \
         `repeat` counts the repeats of the previous event.",
    );
    files.extend(common_files());
    files.extend([
        (
            "system-status.schema.json",
            root::<v0_12::ApiSystemStatus>(true, |_| {}),
            format!(
                "The `data` of a successful {} reply, and the `context` of a {} ({}) event.",
                command(ApiCommand::GetStatus),
                ApiEventKind::SystemStatus,
                ApiEventKind::SystemStatus.value()
            ),
        ),
        (
            "system-configuration.schema.json",
            root::<v0_12::ApiSystemConfiguration>(true, |_| {}),
            format!(
                "The `data` of a successful {} reply.",
                command(ApiCommand::GetConfiguration)
            ),
        ),
        (
            "animal-status.schema.json",
            root::<v0_12::ApiAnimalStatus>(true, |_| {}),
            format!(
                "An animal: each item of the `data` of a successful {} reply, the `animal` of \
                 the system status, the context of animalCreated, animalUpdated and \
                 animalSelected.",
                command(ApiCommand::GetAnimals)
            ),
        ),
    ]);
    files
}

/// The EVENT body with the kinds `K`. `repeat` is optional in both
/// generations: 0.9.11 has none, and 0.12 writes it for `send_event` but not
/// for `send_event_dict` (a `build_event` dictionary has no `repeat`).
fn event_schema<K: JsonSchema>(event_contexts: fn(&mut Extension)) -> Value {
    let mut schema = with_catalog::<K>(root::<ApiEvent<K>>(true, event_contexts));
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|key| key != "repeat");
    }
    schema
}

/// `schema` with the generation's catalog `C` as the definition of its
/// code type: the reply and result types echo a command of any generation
/// and refer to the definition by its name (`ApiCommand`, `ApiEventKind`).
fn with_catalog<C: JsonSchema>(mut schema: Value) -> Value {
    let name = C::schema_name();
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    generator.subschema_for::<C>();
    if let (Some(definition), Some(defs)) = (
        generator.definitions().get(name.as_ref()),
        schema.get_mut("$defs").and_then(Value::as_object_mut),
    ) {
        if defs.contains_key(name.as_ref()) {
            defs.insert(name.into_owned(), definition.clone());
        }
    }
    schema
}

/// The root schema of `T`: what it serializes to (`serialize`) or what it
/// accepts. `extend` adds to it with the same generator, so what it refers to
/// lands in `$defs`.
fn root<T: JsonSchema>(serialize: bool, extend: fn(&mut Extension)) -> Value {
    let settings = SchemaSettings::draft2020_12();
    let settings = if serialize {
        settings.for_serialize()
    } else {
        settings.for_deserialize()
    };
    let mut generator = settings.into_generator();
    let mut extension = Extension {
        schema: generator.root_schema_for::<T>().to_value(),
        generator,
    };
    extend(&mut extension);
    let mut schema = extension.schema;
    if serialize {
        // Every field is always written, so defaults would only confuse.
        without_defaults(&mut schema);
    }
    schema
}

/// Removes `default` from every property schema.
fn without_defaults(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = object.get_mut("properties") {
                for property in properties.values_mut() {
                    if let Some(property) = property.as_object_mut() {
                        property.remove("default");
                    }
                }
            }
            object.values_mut().for_each(without_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(without_defaults),
        _ => {}
    }
}

/// The root keys in reading order: `$schema`, `title`, `description`, the
/// rest, `$defs` last.
fn in_reading_order(schema: Value) -> Value {
    let Value::Object(mut object) = schema else {
        return schema;
    };
    let mut ordered = Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(value) = object.remove(key) {
            ordered.insert(key.into(), value);
        }
    }
    let defs = object.remove("$defs");
    ordered.extend(object);
    if let Some(defs) = defs {
        ordered.insert("$defs".into(), defs);
    }
    Value::Object(ordered)
}

/// A root schema being extended, and the generator that made it.
struct Extension {
    schema: Value,
    generator: SchemaGenerator,
}

impl Extension {
    /// A `$ref` to `T`'s definition, which is added to `$defs`.
    fn reference<T: JsonSchema>(&mut self) -> Value {
        let reference = self.generator.subschema_for::<T>().to_value();
        self.copy_definitions();
        reference
    }

    /// Adds what the generator has defined so far to the root's `$defs`.
    fn copy_definitions(&mut self) {
        if let Some(root) = self.schema.as_object_mut() {
            let defs = root
                .entry("$defs")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(defs) = defs {
                for (name, def) in self.generator.definitions() {
                    defs.entry(name.clone()).or_insert_with(|| def.clone());
                }
            }
        }
    }
}

/// `data` of successful replies to `typed` commands has the given types.
fn typed_replies(root: &mut Extension, typed: Vec<(i64, Value)>) {
    root.schema["allOf"] = typed
        .into_iter()
        .map(|(command, payload)| {
            json!({
                "if": {
                    "properties": {
                        "command": {"const": command},
                        "result": {"const": ApiCommandRequestResult::Success.value()},
                    },
                },
                "then": {
                    "properties": {"data": {"anyOf": [payload, {"type": "null"}]}},
                },
            })
        })
        .collect();
}

fn v0_9_reply_payloads(root: &mut Extension) {
    use v0_9::ApiCommand;
    let typed = vec![
        (
            ApiCommand::GetStatus.value(),
            root.reference::<v0_9::StatusResponse>(),
        ),
        (
            ApiCommand::GetConfiguration.value(),
            root.reference::<v0_9::ConfigurationResponse>(),
        ),
    ];
    typed_replies(root, typed);
}

fn v0_12_reply_payloads(root: &mut Extension) {
    use v0_12::ApiCommand;
    let typed = vec![
        (
            ApiCommand::GetStatus.value(),
            root.reference::<v0_12::ApiSystemStatus>(),
        ),
        (
            ApiCommand::GetConfiguration.value(),
            root.reference::<v0_12::ApiSystemConfiguration>(),
        ),
        (
            ApiCommand::GetAnimals.value(),
            root.reference::<Vec<v0_12::ApiAnimalStatus>>(),
        ),
    ];
    typed_replies(root, typed);
}

/// The `context` of a 0.9.11 systemStatus event is an [`v0_9::ApiSystemStatus`].
fn v0_9_event_contexts(root: &mut Extension) {
    let status = root.reference::<v0_9::ApiSystemStatus>();
    root.schema["allOf"] = json!([{
        "if": {"properties": {"kind": {"const": v0_9::ApiEventKind::SystemStatus.value()}}},
        "then": {"properties": {"context": status}},
    }]);
}

/// Every 0.12 kind's `context` has its type; kinds that share one are
/// grouped.
fn v0_12_event_contexts(root: &mut Extension) {
    let mut groups: Vec<(Value, Vec<i64>)> = Vec::new();
    let contexts = v0_12::kind::context_schemas(&mut root.generator);
    root.copy_definitions();
    for (kind, schema) in contexts {
        let schema = schema.to_value();
        match groups.iter_mut().find(|(s, _)| *s == schema) {
            Some((_, kinds)) => kinds.push(kind.value()),
            None => groups.push((schema, vec![kind.value()])),
        }
    }
    root.schema["allOf"] = groups
        .into_iter()
        .map(|(context, kinds)| {
            json!({
                "if": {"properties": {"kind": {"enum": kinds}}},
                "then": {"properties": {"context": context}},
            })
        })
        .collect();
}

/// The EMERGENCY copy: an event whose kind is one of the emergency kinds.
fn emergency_kinds_only(mut schema: Value) -> Value {
    let name = "EmergencyEventKind";
    let mut kinds = schema["$defs"]["ApiEventKind"].clone();
    if let Some(Value::Array(codes)) = kinds.get_mut("oneOf") {
        codes.retain(|code| code["const"].as_i64().is_some_and(is_emergency_kind));
    }
    schema["title"] = json!("EmergencyEvent");
    kinds["title"] = json!(name);
    kinds["description"] =
        json!("The kinds of event that are also published on the EMERGENCY topic.");
    let defs = &mut schema["$defs"];
    defs[name] = kinds;
    if let Some(defs) = defs.as_object_mut() {
        defs.remove("ApiEventKind");
    }
    schema["properties"]["kind"] = json!({
        "$ref": format!("#/$defs/{name}"),
        "description": "emergencyStop or emergencyResume.",
    });
    // Only the emergency kinds' contexts apply.
    if let Some(Value::Array(cases)) = schema.get_mut("allOf") {
        cases.retain(|case| {
            let kinds = &case["if"]["properties"]["kind"];
            let listed = kinds["enum"]
                .as_array()
                .map_or_else(|| vec![kinds["const"].clone()], Clone::clone);
            listed
                .iter()
                .any(|kind| kind.as_i64().is_some_and(is_emergency_kind))
        });
        if cases.is_empty() {
            schema.as_object_mut().map(|root| root.remove("allOf"));
        }
    }
    schema
}

/// One known value of a code enum, for [`code_schema`].
pub(crate) struct CodeDoc<'a> {
    /// The number on the wire.
    pub(crate) value: i64,
    /// The reference's name.
    pub(crate) name: &'a str,
    /// The variant's doc comment, one entry per attribute (`None`: not a doc).
    pub(crate) doc: &'a [Option<&'a str>],
}

/// The schema of a code enum (used by `wire_code!`): an integer that is one of
/// the known numbers, each a `const` with the name as `title` and the doc
/// comment as `description`.
pub(crate) fn code_schema(
    type_name: &str,
    doc: &[Option<&str>],
    codes: &[CodeDoc<'_>],
    aliases: &[(&str, i64)],
) -> Schema {
    let one_of: Vec<Value> = codes
        .iter()
        .map(|code| {
            let mut description = doc_text(code.doc);
            // Docs that only repeat the name (`emergencyStop`) add nothing.
            if let Some(rest) = description.strip_prefix(&format!("`{}`", code.name)) {
                description = rest
                    .trim_start_matches([':', '.', ' '])
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .trim()
                    .to_owned();
            }
            let also: Vec<String> = aliases
                .iter()
                .filter(|(_, value)| *value == code.value)
                .map(|(alias, _)| format!("`{alias}`"))
                .collect();
            if !also.is_empty() {
                let sep = if description.is_empty() { "" } else { " " };
                description = format!("{description}{sep}Also named {}.", also.join(", "));
            }
            let mut entry = Map::new();
            entry.insert("const".into(), json!(code.value));
            entry.insert("title".into(), json!(code.name));
            if !description.is_empty() {
                entry.insert("description".into(), json!(description));
            }
            Value::Object(entry)
        })
        .collect();
    json_schema!({
        "title": type_name,
        "description": doc_text(doc),
        "type": "integer",
        "oneOf": one_of,
    })
}

/// The command echoed in a reply or command result: one of the catalog, or
/// (by design) any number a client sent.
pub(crate) fn echoed_command(generator: &mut SchemaGenerator) -> Schema {
    // The 0.9.11 catalog; `with_catalog` puts the generation's in its place.
    let known = generator.subschema_for::<v0_9::ApiCommand>();
    json_schema!({
        "anyOf": [
            known,
            {
                "type": "integer",
                "title": "unknown",
                "description": "A number outside the catalog, echoed as the client sent it \
                    (the Python reference echoes USER_DEFINED, 99999, instead).",
            },
        ],
    })
}

/// A doc comment as one text: lines joined by spaces, blank lines kept as
/// paragraph breaks.
fn doc_text(lines: &[Option<&str>]) -> String {
    let mut text = String::new();
    let mut paragraph_break = false;
    for line in lines.iter().flatten().flat_map(|l| l.split('\n')) {
        let line = line.trim();
        if line.is_empty() {
            paragraph_break = !text.is_empty();
            continue;
        }
        if !text.is_empty() {
            text.push_str(if paragraph_break { "\n\n" } else { " " });
        }
        paragraph_break = false;
        text.push_str(line);
    }
    text
}

/// Rewrites rustdoc links (``[`crate::StatusResponse`]``) in every
/// `description` as plain code (`` `StatusResponse` ``), and joins the lines
/// of a paragraph.
fn clean_descriptions(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                match child {
                    Value::String(text) if key == "description" => {
                        *text = without_links(text)
                            .split("\n\n")
                            .map(|paragraph| {
                                paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
                            })
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => clean_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_descriptions),
        _ => {}
    }
}

fn without_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        let Some(len) = rest[start + 2..].find("`]") else {
            break;
        };
        let path = &rest[start + 2..start + 2 + len];
        let path = path
            .trim_start_matches("crate::")
            .trim_start_matches("Self::");
        out.push_str(&rest[..start]);
        out.push('`');
        out.push_str(path);
        out.push('`');
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_text_joins_lines_and_keeps_paragraphs() {
        let lines = [Some(" First line"), Some(" continued."), Some(""), None];
        assert_eq!(doc_text(&lines), "First line continued.");
        let lines = [Some(" One."), Some(""), Some(" Two.")];
        assert_eq!(doc_text(&lines), "One.\n\nTwo.");
    }

    #[test]
    fn links_become_code() {
        assert_eq!(
            without_links("Is a [`crate::StatusResponse`], see [`Self::x`]."),
            "Is a `StatusResponse`, see `x`."
        );
        assert_eq!(without_links("no [`link"), "no [`link");
    }

    #[test]
    fn each_code_has_its_name_and_number() {
        let schema = serde_json::to_value(schemars::schema_for!(v0_9::ApiEventKind)).unwrap();
        let codes = schema["oneOf"].as_array().unwrap();
        assert_eq!(codes.len(), v0_9::ApiEventKind::ALL.len());
        assert_eq!(codes[0]["const"], 101);
        assert_eq!(codes[0]["title"], "emergencyStop");
        let reset = codes.iter().find(|c| c["const"] == 1222).unwrap();
        assert_eq!(reset["description"], "Also named `pelletDriftResetBegin`.");
    }
}
