//! Typed payloads read from the JSON the app side holds.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads a typed payload such as [`crate::v0_12::ApiSystemStatus`] from the
/// `data` of a reply or result, or an event's context. Payload types carry
/// their wire (camelCase) names, while this crate hands app-defined JSON
/// over with snake_case keys, so the keys are camelized back first; either
/// form reads.
///
/// ```
/// use auto_trainer_api::{decode_payload, v0_9};
/// use serde_json::json;
/// let data = json!({"app_status": 0, "training_mode": 0, "animal_id": "m-001"});
/// let status: v0_9::StatusResponse = decode_payload(&data).unwrap();
/// assert_eq!((status.app_status, status.animal_id.as_str()), (v0_9::ApiAppStatus::Idle, "m-001"));
/// ```
///
/// # Errors
/// [`crate::Error::InvalidReply`] when `data` does not have the type's shape.
pub fn decode_payload<T: DeserializeOwned>(data: &Value) -> Result<T, crate::Error> {
    serde_json::from_value(crate::to_camel_keys(data.clone()))
        .map_err(|e| crate::Error::InvalidReply(format!("unexpected payload: {e}")))
}

/// [`decode_payload`] of an optional value: a missing one reads as `null`
/// (which `()` and `Option` payloads accept).
pub(crate) fn decode_payload_value<T: DeserializeOwned>(
    data: Option<&Value>,
) -> Result<T, crate::Error> {
    decode_payload(data.unwrap_or(&Value::Null))
}

/// Declares payload structs (status, configuration, event contexts) with
/// the attributes every one of them shares: plain data, camelCase on the
/// wire (the reference's dataclasses through `humps.camelize`), a JSON
/// Schema; each may add its own (`#[derive(Eq)]`, stricter schemas).
macro_rules! payload {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    )+) => {$(
        // The derives first: a struct's own attributes may use their helpers.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(rename_all = "camelCase")]
        $(#[$meta])*
        pub struct $name { $($body)* }
    )+};
}
pub(crate) use payload;
