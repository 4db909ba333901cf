//! `sendApiEvent`: the app's event, checked against the configured
//! generation before it is published.
//!
//! The reference publishes whatever dict it is given. Since a kind number
//! means nothing without its generation (301 is acquisitionStarted in 0.9.11
//! and applicationModeChanged in 0.12), the bridge takes only events of the
//! generation its service speaks: a kind of that catalog (by number or by
//! name), a context that is an object or null and, in 0.12, one that reads
//! as the kind's typed context.

use auto_trainer_api::v0_12::kind::{self, EventKindMarker, MarkerVisitor};
use auto_trainer_api::{to_camel_keys, v0_12, v0_9, ApiEvent, Generation};
use serde_json::Value;

/// The fields of an event, as the app may send them (camelCase, or the
/// snake_case the reference's `humps.decamelize` also reads).
const FIELDS: &str = "kind, context, when, index, repeat";

/// Reads the payload of a `sendApiEvent` as an event of `generation`, with
/// the kind's number; `when` and `index` are now unless given.
///
/// # Errors
/// What is wrong with the payload, in a sentence for the app's developer.
pub(crate) fn read_api_event(
    generation: Generation,
    payload: &Value,
) -> Result<ApiEvent<i64>, String> {
    let Value::Object(fields) = payload else {
        return Err(format!(
            "an event is an object with {FIELDS}, not {}",
            json_type(payload)
        ));
    };
    let mut kind = None;
    let mut context = None;
    let mut when = None;
    let mut index = None;
    let mut repeat = None;
    for (key, value) in fields {
        let slot = match key.as_str() {
            "kind" => &mut kind,
            "context" => &mut context,
            "when" => &mut when,
            "index" => &mut index,
            "repeat" => &mut repeat,
            other => return Err(format!("unknown field '{other}' (an event has {FIELDS})")),
        };
        *slot = Some(value);
    }
    let kind = read_kind(generation, kind.ok_or("the event has no 'kind'")?)?;
    let context = match context {
        None | Some(Value::Null) => None,
        Some(Value::Object(object)) => Some(Value::Object(object.clone())),
        Some(other) => {
            return Err(format!(
                "'context' must be an object or null, not {}",
                json_type(other)
            ))
        }
    };
    if generation == Generation::V0_12 {
        check_typed_context(kind, context.as_ref())?;
    }
    let mut event = ApiEvent::new(kind, context);
    if let Some(when) = when {
        event.when = when
            .as_f64()
            .filter(|when| when.is_finite())
            .ok_or_else(|| format!("'when' must be epoch seconds, not {when}"))?;
    }
    if let Some(index) = index {
        event.index = index
            .as_i64()
            .ok_or_else(|| format!("'index' must be an integer (monotonic ns), not {index}"))?;
    }
    if let Some(repeat) = repeat {
        let repeat = repeat
            .as_i64()
            .filter(|repeat| *repeat >= 0)
            .ok_or_else(|| format!("'repeat' must be an integer from 0, not {repeat}"))?;
        if repeat != 0 && generation == Generation::V0_9 {
            return Err("'repeat' is a field of protocol 0.12; this bridge speaks 0.9.11".into());
        }
        event.repeat = repeat;
    }
    Ok(event)
}

/// The kind's number, from a number or a name of `generation`'s catalog.
fn read_kind(generation: Generation, kind: &Value) -> Result<i64, String> {
    let known = |number: i64| match generation {
        Generation::V0_9 => v0_9::ApiEventKind::from_value(number).is_known(),
        Generation::V0_12 => v0_12::ApiEventKind::from_value(number).is_known(),
    };
    let named = |name: &str| match generation {
        Generation::V0_9 => v0_9::ApiEventKind::from_name(name).map(|kind| kind.value()),
        Generation::V0_12 => v0_12::ApiEventKind::from_name(name).map(|kind| kind.value()),
    };
    let protocol = generation.reference_version();
    match kind {
        Value::Number(number) => match number.as_i64() {
            Some(number) if known(number) => Ok(number),
            Some(number) => Err(format!(
                "kind {number} is not an event kind of protocol {protocol}"
            )),
            None => Err(format!("'kind' must be an integer, not {number}")),
        },
        Value::String(name) => named(name).ok_or_else(|| {
            format!("'{name}' is not the name of an event kind of protocol {protocol}")
        }),
        other => Err(format!(
            "'kind' must be a number or a name, not {}",
            json_type(other)
        )),
    }
}

/// In 0.12 every kind has a context type (none for some): the context must
/// read as it.
fn check_typed_context(kind_number: i64, context: Option<&Value>) -> Result<(), String> {
    /// Reads the context as the type of the visited kind.
    struct Fits<'a>(Option<&'a Value>);
    impl MarkerVisitor for Fits<'_> {
        type Output = Result<(), String>;
        fn visit<M: EventKindMarker>(self, _: M) -> Result<(), String> {
            // Context types carry their wire (camelCase) names; the app
            // may have sent snake_case, as the reference reads either.
            let context = self.0.cloned().map_or(Value::Null, to_camel_keys);
            serde_json::from_value::<M::Context>(context)
                .map(drop)
                .map_err(|error| error.to_string())
        }
    }
    let kind = v0_12::ApiEventKind::from_value(kind_number);
    let name = kind.name().unwrap_or("?");
    match kind::visit(kind, Fits(context)) {
        Some(Ok(())) => Ok(()),
        Some(Err(_)) if context.is_some() && kind::visit(kind, Fits(None)) == Some(Ok(())) => Err(
            format!("kind {name} ({kind_number}) takes no context in protocol 0.12.0: send null"),
        ),
        Some(Err(error)) => Err(format!(
            "the context of {name} ({kind_number}) is not its protocol 0.12.0 type: {error}"
        )),
        None => Err(format!(
            "kind {kind_number} is not an event kind of protocol 0.12.0"
        )),
    }
}

/// "an array", "a string", ... for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// For tests: an object from pairs.
#[cfg(test)]
fn object(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<serde_json::Map<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_kind_of_the_generation_is_published_with_its_number() {
        let event = read_api_event(
            Generation::V0_12,
            &json!({"kind": 301, "context": {"mode": 100}}),
        )
        .unwrap();
        assert_eq!(event.kind, 301);
        assert_eq!(event.context, Some(json!({"mode": 100})));
        assert!(event.when > 0.0);
        let event = read_api_event(
            Generation::V0_9,
            &json!({"kind": "acquisitionStarted", "context": {"animal_id": "m-1"}}),
        )
        .unwrap();
        assert_eq!(event.kind, 301);
    }

    #[test]
    fn a_typed_context_reads_in_either_spelling() {
        for context in [
            json!({"reason": "door", "reasonCode": 101, "activeAlarms": []}),
            json!({"reason": "door", "reason_code": 101, "active_alarms": []}),
        ] {
            let payload = json!({"kind": "emergencyStop", "context": context});
            assert!(
                read_api_event(Generation::V0_12, &payload).is_ok(),
                "{payload}"
            );
        }
    }

    #[test]
    fn given_times_and_repeat_are_kept() {
        let event = read_api_event(
            Generation::V0_12,
            &object(&[
                ("kind", json!(1101)),
                ("when", json!(1795265092.5)),
                ("index", json!(42)),
                ("repeat", json!(3)),
            ]),
        )
        .unwrap();
        assert_eq!(
            (event.when, event.index, event.repeat),
            (1795265092.5, 42, 3)
        );
    }

    #[test]
    fn the_wrong_shapes_are_refused_with_the_reason() {
        for (generation, payload, reason) in [
            (Generation::V0_12, json!("tunnelEnter"), "not a string"),
            (Generation::V0_12, json!([1101]), "not an array"),
            (Generation::V0_12, json!({"context": null}), "no 'kind'"),
            (
                Generation::V0_12,
                json!({"kind": 424242}),
                "not an event kind of protocol 0.12.0",
            ),
            (
                Generation::V0_9,
                json!({"kind": 424242}),
                "not an event kind of protocol 0.9.11",
            ),
            (
                Generation::V0_12,
                json!({"kind": "noSuchKind"}),
                "not the name",
            ),
            (
                Generation::V0_12,
                json!({"kind": 1.5}),
                "must be an integer",
            ),
            (
                Generation::V0_12,
                json!({"kind": 1101, "ctx": {}}),
                "unknown field 'ctx'",
            ),
            (
                Generation::V0_9,
                json!({"kind": 301, "context": [1]}),
                "object or null",
            ),
            (
                Generation::V0_12,
                json!({"kind": 301, "context": {"mode": "fast"}}),
                "not its protocol 0.12.0 type",
            ),
            (
                Generation::V0_12,
                json!({"kind": 1101, "context": {"x": 1}}),
                "takes no context",
            ),
            (
                Generation::V0_12,
                json!({"kind": 1101, "when": "now"}),
                "'when'",
            ),
            (
                Generation::V0_12,
                json!({"kind": 1101, "repeat": -1}),
                "'repeat'",
            ),
            (
                Generation::V0_9,
                json!({"kind": 301, "repeat": 2}),
                "protocol 0.12",
            ),
        ] {
            let error = read_api_event(generation, &payload).unwrap_err();
            assert!(error.contains(reason), "{payload}: {error}");
        }
    }

    #[test]
    fn a_0_9_kind_renumbered_in_0_12_is_read_by_the_configured_generation() {
        // 301 is acquisitionStarted in 0.9.11, which takes any object; in
        // 0.12 it is applicationModeChanged, which needs a mode.
        let context = json!({"kind": 301, "context": {"animal_id": "m-1"}});
        assert!(read_api_event(Generation::V0_9, &context).is_ok());
        assert!(read_api_event(Generation::V0_12, &context).is_err());
    }
}
