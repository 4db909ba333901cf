//! Arbitrary bytes through the wire code a device runs on every request: the
//! request parser (against the whole-object parse it replaced), the key
//! conversions, the Python-exact JSON writer and the signed envelope's
//! reader.
//! Each step is checked against a property, not only for panics.
//!
//! Run with `scripts/fuzz.sh [seconds]`; seeds are in `fuzz/corpus/wire/`.

#![no_main]

use auto_trainer_api::fuzzing::{envelope_readers_agree, parse_request, request_readers_agree};
use auto_trainer_api::{to_camel_keys, to_python_json, to_snake_keys, ApiCommandRequest};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    match parse_request(bytes) {
        Ok(request) => check_request_round_trip(&request),
        Err(message) => assert!(!message.is_empty(), "a malformed request needs a message"),
    }
    assert!(
        request_readers_agree(bytes),
        "the request reader and the whole-object parse disagree"
    );
    assert!(
        envelope_readers_agree(bytes),
        "the compact envelope reader and the JSON parser disagree"
    );
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        check_key_conversions(&value);
        check_python_json(&value);
    }
});

/// A parsed request, written by either writer, parses back to itself: the
/// same command, nonce and custom command, and the same data up to what the
/// key conversion itself changes.
fn check_request_round_trip(request: &ApiCommandRequest<i64>) {
    let written = [
        (
            "serde_json",
            serde_json::to_vec(request).expect("a request serializes"),
        ),
        (
            "to_python_json",
            to_python_json(request).expect("a request serializes"),
        ),
    ];
    for (writer, bytes) in written {
        let again = parse_request(&bytes).unwrap_or_else(|message| {
            panic!(
                "{writer} wrote an unreadable request ({message}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(
            (again.command, again.nonce, again.custom_command),
            (request.command, request.nonce, request.custom_command),
            "{writer}"
        );
        match (&request.data, &again.data) {
            (None, None) => {}
            (Some(data), Some(data_again)) => {
                // Keys a conversion round trip keeps must come back exactly.
                if to_snake_keys(to_camel_keys(data.clone())) == *data {
                    assert_eq!(data_again, data, "{writer}");
                }
                assert_same_values(data, data_again, writer);
            }
            (data, data_again) => panic!("{writer}: data {data:?} came back as {data_again:?}"),
        }
    }
}

/// Keys change; values, array lengths and the order of object entries do not.
/// An object only loses entries when two keys convert to the same key.
fn check_key_conversions(value: &Value) {
    let camel = to_camel_keys(value.clone());
    assert_same_values(value, &camel, "to_camel_keys");
    let snake = to_snake_keys(camel.clone());
    assert_same_values(&camel, &snake, "to_snake_keys");
    assert_same_values(value, &snake, "to_snake_keys(to_camel_keys)");
}

/// `converted` is `original` with object keys changed: the same scalars and
/// arrays, and each object's values in order, unless keys collided (then
/// fewer entries, each holding one of the original values).
fn assert_same_values(original: &Value, converted: &Value, step: &str) {
    assert!(
        same_values(original, converted),
        "{step} changed a value:\n  before: {original}\n  after:  {converted}"
    );
}

fn same_values(original: &Value, converted: &Value) -> bool {
    match (original, converted) {
        (Value::Object(before), Value::Object(after)) if after.len() == before.len() => before
            .values()
            .zip(after.values())
            .all(|(b, a)| same_values(b, a)),
        (Value::Object(before), Value::Object(after)) => {
            after.len() < before.len()
                && after
                    .values()
                    .all(|a| before.values().any(|b| same_values(b, a)))
        }
        (Value::Array(before), Value::Array(after)) => {
            before.len() == after.len() && before.iter().zip(after).all(|(b, a)| same_values(b, a))
        }
        (before, after) => before == after,
    }
}

/// What the Python-exact writer produces is ASCII (as `ensure_ascii`), valid
/// JSON, and reads back as the value written. Every parsed number is finite.
fn check_python_json(value: &Value) {
    let bytes = to_python_json(value).expect("a JSON value serializes");
    assert!(
        bytes.iter().all(|&b| b < 0x7f),
        "not ASCII without DEL: {}",
        String::from_utf8_lossy(&bytes)
    );
    let again: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "to_python_json wrote invalid JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(
        again,
        *value,
        "to_python_json changed a value: {}",
        String::from_utf8_lossy(&bytes)
    );
}
