//! camelCase on the wire, snake_case in the app: keys only, recursively.
//!
//! Values are never touched, unlike the reference, which camelizes whole
//! texts and so damages values ("not acquiring" became "notacquiring").

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::thread::LocalKey;

use heck::{ToLowerCamelCase, ToSnakeCase};
use serde_json::{Map, Value};

/// Converts the words of `key` with `convert`, keeping what the reference's
/// `humps` keeps: keys with no lowercase letter (`ID`, `2`) and leading or
/// trailing `_`/`-` (`_private`). A key without separators is not split
/// into words (`dataURL` stays one word).
fn convert_key(key: &str, convert: fn(&str) -> String, single_word: fn(&str) -> String) -> String {
    if !key.chars().any(char::is_lowercase) {
        return key.to_owned();
    }
    let is_separator = |c: char| c == '_' || c == '-';
    let core = key.trim_matches(is_separator);
    let lead = &key[..key.len() - key.trim_start_matches(is_separator).len()];
    let trail = &key[key.trim_end_matches(is_separator).len()..];
    let converted = if core.contains(is_separator) {
        convert(core)
    } else {
        single_word(core)
    };
    format!("{lead}{converted}{trail}")
}

/// A key in camelCase (`animal_id` → `animalId`), as the reference's
/// `humps.camelize` writes ordinary keys.
pub(crate) fn camel_key(key: &str) -> String {
    convert_key(
        key,
        |k| k.to_lower_camel_case(),
        |word| {
            // humps lowers the first letter unless the first two are capitals.
            let mut chars = word.chars();
            match (chars.next(), chars.next()) {
                (Some(a), Some(b)) if a.is_uppercase() && b.is_uppercase() => word.to_owned(),
                (Some(a), _) => a
                    .to_lowercase()
                    .chain(word[a.len_utf8()..].chars())
                    .collect(),
                _ => word.to_owned(),
            }
        },
    )
}

/// A key in snake_case (`customCommand` → `custom_command`), with the same
/// exceptions as [`camel_key`].
pub(crate) fn snake_key(key: &str) -> String {
    convert_key(key, |k| k.to_snake_case(), |word| word.to_snake_case())
}

/// Converted keys, per thread and direction. Messages repeat the same few
/// keys, and converting them is most of the cost of writing a small event,
/// so each key is converted once and then looked up.
type KeyCache = RefCell<HashMap<Box<str>, Rc<str>>>;

/// Above this many keys a cache starts afresh, so odd traffic cannot grow it without bound.
const KEY_CACHE_LIMIT: usize = 4096;
/// Only keys up to this long are cached: protocol and app keys are short,
/// while a peer can send keys of any length. With both limits a cache holds
/// at most 4,096 × (64 + 64 × 4) bytes of text (a converted key is at most
/// four times longer, in the worst case of heck's word splitting), about
/// 1.3 MiB per thread and direction, whatever the traffic.
const KEY_CACHE_MAX_KEY_BYTES: usize = 64;

thread_local! {
    static CAMEL_KEYS: KeyCache = RefCell::new(HashMap::new());
    static SNAKE_KEYS: KeyCache = RefCell::new(HashMap::new());
}

/// `convert(key)`, from `cache` when it was converted before on this thread.
fn cached(cache: &'static LocalKey<KeyCache>, key: &str, convert: fn(&str) -> String) -> Rc<str> {
    if key.len() > KEY_CACHE_MAX_KEY_BYTES {
        return convert(key).into();
    }
    cache.with(|cache| {
        if let Some(hit) = cache.borrow().get(key) {
            return hit.clone();
        }
        let converted: Rc<str> = convert(key).into();
        let mut cache = cache.borrow_mut();
        if cache.len() >= KEY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key.into(), converted.clone());
        converted
    })
}

/// One key in snake_case, as [`to_snake_keys`] converts it (from the same
/// cache).
pub(crate) fn to_snake_key(key: &str) -> Rc<str> {
    cached(&SNAKE_KEYS, key, snake_key)
}

fn map_keys(value: Value, convert: &dyn Fn(&str) -> Rc<str>) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| (convert(&k).to_string(), map_keys(v, convert)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| map_keys(v, convert)).collect())
        }
        other => other,
    }
}

/// `value` with every object key, at any depth, in camelCase.
///
/// ```
/// use serde_json::json;
/// use auto_trainer_api::to_camel_keys;
/// let wire = to_camel_keys(json!({"animal_id": "m-001", "cages": [{"cage_name": "not acquiring"}]}));
/// assert_eq!(wire, json!({"animalId": "m-001", "cages": [{"cageName": "not acquiring"}]}));
/// ```
pub fn to_camel_keys(value: Value) -> Value {
    map_keys(value, &|key| cached(&CAMEL_KEYS, key, camel_key))
}

/// `value` with every object key, at any depth, in snake_case.
///
/// ```
/// use serde_json::json;
/// use auto_trainer_api::to_snake_keys;
/// let app = to_snake_keys(json!({"animalId": "Mouse 42", "path": "/data/My Files"}));
/// assert_eq!(app, json!({"animal_id": "Mouse 42", "path": "/data/My Files"}));
/// ```
pub fn to_snake_keys(value: Value) -> Value {
    map_keys(value, &to_snake_key)
}

/// Writes a `Value` with camelCase keys without copying it.
pub(crate) struct CamelKeys<'a>(pub &'a Value);

impl serde::Serialize for CamelKeys<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (k, v) in object {
                    map.serialize_entry(&*cached(&CAMEL_KEYS, k, camel_key), &CamelKeys(v))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&CamelKeys(v))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// `#[serde(with = "keys::camel_on_wire")]` for dynamic payloads: camelCase
/// keys on the wire, snake_case in Rust.
pub(crate) mod camel_on_wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Value>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(super::CamelKeys).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Value>, D::Error> {
        Ok(Option::<Value>::deserialize(deserializer)?
            .filter(|v| !v.is_null())
            .map(super::to_snake_keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_converted_but_never_cached() {
        let long = "peer_chosen_".repeat(10_000);
        let converted = to_camel_keys(serde_json::json!({ long.clone(): 1, "animal_id": 2 }));
        assert_eq!(converted[camel_key(&long)], 1);
        assert_eq!(converted["animalId"], 2);
        CAMEL_KEYS.with(|cache| {
            let cache = cache.borrow();
            assert!(cache.contains_key("animal_id"));
            assert!(cache.keys().all(|key| key.len() <= KEY_CACHE_MAX_KEY_BYTES));
        });
    }

    #[test]
    fn keys_convert_as_humps_does() {
        for (key, camel) in [
            ("error_message", "errorMessage"),
            ("currentMagnetIntensity", "currentMagnetIntensity"),
            ("AnimalId", "animalId"),
            ("ID", "ID"),
            ("_private", "_private"),
            ("dataURL", "dataURL"),
        ] {
            assert_eq!(camel_key(key), camel, "{key}");
        }
        for (key, snake) in [
            ("customCommand", "custom_command"),
            ("animal_id", "animal_id"),
            ("_privateKey", "_private_key"),
        ] {
            assert_eq!(snake_key(key), snake, "{key}");
        }
    }
}
