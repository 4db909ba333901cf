//! Command requests, the delegate's answer and the service's reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::wire_code;
use super::generation::{Command, Generation};
use super::json::{write_python_json, PythonJsonFormatter};
use super::keys;
use super::v0_9;

/// EMERGENCY_STOP (200) and EMERGENCY_RESUME (210), the same numbers in
/// every generation: answered ahead of other requests.
pub(crate) const fn is_emergency_command(command: i64) -> bool {
    matches!(command, 200 | 210)
}

wire_code! {
    /// The outcome of a command request (`ApiCommandReqeustResult` in the reference).
    #[doc(alias = "ApiCommandReqeustResult")]
    pub enum ApiCommandRequestResult: i64 {
        /// The device does not support this command.
        Unrecognized = 0 => "UNRECOGNIZED",
        /// Done.
        Success = 100 => "SUCCESS",
        /// Started; no notification will follow.
        Pending = 200 => "PENDING",
        /// Started; the result follows on the COMMAND_RESULT topic, matched by nonce.
        PendingWithNotification = 201 => "PENDING_WITH_NOTIFICATION",
        /// Attempted and failed.
        Failed = 400 => "FAILED",
        /// The handler failed (a panic); `errorMessage` says why.
        Exception = 500 => "EXCEPTION",
        /// Recognized but not available now (for instance no delegate registered).
        Unavailable = 9999 => "UNAVAILABLE",
    }
}

wire_code! {
    /// Who reported an error in a reply.
    pub enum ApiCommandRequestErrorKind: i64 {
        /// No error.
        None = 0 => "NONE",
        /// The service could not read the request or write the reply.
        SystemError = 1 => "SYSTEM_ERROR",
        /// The delegate reported a non-zero `errorCode`.
        CommandError = 2 => "COMMAND_ERROR",
    }
}

/// A command request as the delegate sees it; keys of `data` are snake_case.
///
/// On the wire: `{"command": int, "nonce": int, "data": any, "customCommand": int}`.
/// `C` is the catalog its command is read with: [`v0_9::ApiCommand`] (the
/// default), [`crate::v0_12::ApiCommand`], or `i64` for the bare number.
///
/// ```
/// use auto_trainer_api::{ApiCommand, ApiCommandRequest};
/// use serde_json::json;
///
/// let request = ApiCommandRequest::new(ApiCommand::StartAcquisition)
///     .with_nonce(7)
///     .with_data(json!({"animal_id": "m-001"}));
/// let wire = serde_json::to_value(&request).unwrap();
/// assert_eq!(wire["data"], json!({"animalId": "m-001"}));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiCommandRequest<C = v0_9::ApiCommand> {
    /// The command; a number this version does not know is kept as `Unknown`.
    #[cfg_attr(
        feature = "schema",
        schemars(description = "The command, one of the catalog.")
    )]
    pub command: C,
    /// Chosen by the client to match replies and results; 0 when absent.
    #[serde(default)]
    pub nonce: i64,
    /// Arguments of the command.
    #[serde(default, with = "keys::camel_on_wire")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Value>"))]
    pub data: Option<Value>,
    /// A sub-command for `USER_DEFINED`; -1 when absent.
    #[serde(default = "no_custom_command")]
    pub custom_command: i64,
}

fn no_custom_command() -> i64 {
    -1
}

/// Why a request could not be read; it is answered with result
/// UNRECOGNIZED and errorKind SYSTEM_ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MalformedRequest {
    /// What was wrong, for the reply's `errorMessage`.
    pub message: String,
    /// The request's nonce when it could be read, else 0.
    pub nonce: i64,
    /// The request's command when it could be read, else 0.
    pub command: i64,
}

impl MalformedRequest {
    /// A request of `len` bytes over `max` is not read at all.
    pub(crate) fn too_large(len: usize, max: usize) -> Option<Self> {
        (len > max).then(|| {
            Self::unread(format!(
                "request of {len} bytes exceeds the maximum of {max} bytes"
            ))
        })
    }

    /// A request unreadable before its nonce and command were known.
    pub(crate) fn unread(message: String) -> Self {
        Self {
            message,
            nonce: 0,
            command: 0,
        }
    }
}

impl<C> ApiCommandRequest<C> {
    /// A request for `command` with nonce 0, no data and no custom command.
    pub fn new(command: C) -> Self {
        Self {
            command,
            nonce: 0,
            data: None,
            custom_command: -1,
        }
    }

    /// This request with `nonce`.
    pub fn with_nonce(mut self, nonce: i64) -> Self {
        self.nonce = nonce;
        self
    }

    /// This request with `data` (snake_case keys; camelized on the wire).
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The same request with its command read by another catalog (for
    /// instance a bare `i64` given a generation's meaning).
    pub fn map_command<D>(self, read: impl FnOnce(C) -> D) -> ApiCommandRequest<D> {
        ApiCommandRequest {
            command: read(self.command),
            nonce: self.nonce,
            data: self.data,
            custom_command: self.custom_command,
        }
    }
}

impl ApiCommandRequest<i64> {
    /// Whether `bytes` are a request for an emergency command
    /// (EMERGENCY_STOP or EMERGENCY_RESUME), judged from its top-level
    /// `command` alone: a pass over the text that builds nothing, far
    /// cheaper than [`Self::parse`]. Anything unreadable is no emergency.
    pub(crate) fn is_emergency(bytes: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct CommandOnly {
            command: i64,
        }
        // A derived struct would read `[200]` too; a request is an object.
        let is_object = bytes.trim_ascii_start().starts_with(b"{");
        is_object
            && serde_json::from_slice::<CommandOnly>(bytes)
                .is_ok_and(|request| is_emergency_command(request.command))
    }

    /// Reads a request from its wire bytes. Keys are converted to snake_case;
    /// values are untouched.
    ///
    /// # Errors
    /// A [`MalformedRequest`] naming what is wrong: an empty frame, invalid
    /// UTF-8 or JSON, not an object, no `command`, or a non-integer
    /// `command`, `nonce` or `customCommand`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, MalformedRequest> {
        Self::parse_with(bytes, RequestMembers::read)
    }

    /// [`Self::parse`] as it was before [`RequestMembers::read`]: the whole
    /// object parsed, then its keys converted. The two must agree on every
    /// input (a test and the fuzz target check it).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn parse_whole(bytes: &[u8]) -> Result<Self, MalformedRequest> {
        Self::parse_with(bytes, RequestMembers::read_whole)
    }

    /// [`Self::parse`] with the members read from the text by `read`.
    fn parse_with(
        bytes: &[u8],
        read: fn(&str) -> Result<Option<RequestMembers>, serde_json::Error>,
    ) -> Result<Self, MalformedRequest> {
        let malformed = |message: String, nonce: i64| MalformedRequest {
            nonce,
            ..MalformedRequest::unread(message)
        };
        if bytes.is_empty() {
            return Err(malformed("empty request frame".into(), 0));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| malformed(format!("request is not valid UTF-8: {e}"), 0))?;
        let members =
            read(text).map_err(|e| malformed(format!("request is not valid JSON: {e}"), 0))?;
        let Some(mut object) = members else {
            return Err(malformed(
                "request must be a JSON object with a 'command'".into(),
                0,
            ));
        };
        let data = object.remove("data");
        Self::from_members(
            object.get("nonce"),
            object.get("command"),
            object.get("custom_command"),
            data,
        )
    }

    /// A request from its members (keys in snake_case), or what is wrong
    /// with them: `nonce`, `command` and `custom_command` integers (`nonce`
    /// and `custom_command` may be absent or null), `command` present.
    fn from_members(
        nonce: Option<&Value>,
        command: Option<&Value>,
        custom_command: Option<&Value>,
        data: Option<Value>,
    ) -> Result<Self, MalformedRequest> {
        let malformed = |message: String, nonce: i64| MalformedRequest {
            nonce,
            ..MalformedRequest::unread(message)
        };
        let nonce = match nonce {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| malformed(format!("'nonce' must be an integer, got {v}"), 0))?,
        };
        let command = match command {
            None => return Err(malformed("request has no 'command'".into(), nonce)),
            Some(v) => v.as_i64().ok_or_else(|| {
                malformed(format!("'command' must be an integer, got {v}"), nonce)
            })?,
        };
        let custom_command = match custom_command {
            None | Some(Value::Null) => -1,
            Some(v) => v.as_i64().ok_or_else(|| MalformedRequest {
                message: format!("'customCommand' must be an integer, got {v}"),
                nonce,
                command,
            })?,
        };
        let data = data.filter(|v| !v.is_null());
        Ok(Self {
            command,
            nonce,
            data,
            custom_command,
        })
    }
}

/// The top-level members of a request that the device reads (`command`,
/// `nonce`, `customCommand`, `data`), by their snake_case names; the other
/// members are read (so the text must be valid JSON) and dropped. What
/// converting the keys of the whole parsed object gives, without building
/// that object (which took most of a small request's reading): a key seen
/// again replaces its value in its first place, and when several keys
/// convert to one name the last place wins, as in Python after
/// `json.loads` and the reference's key conversion.
struct RequestMembers {
    /// (key as sent, which of [`Self::NAMES`] it converts to, value), in
    /// the order the keys first came.
    places: Vec<(String, usize, Value)>,
}

impl RequestMembers {
    /// The members read, by their snake_case names.
    const NAMES: [&'static str; 4] = ["command", "nonce", "custom_command", "data"];

    /// Reads `text`: `Ok(None)` when it is JSON but not an object.
    fn read(text: &str) -> Result<Option<Self>, serde_json::Error> {
        use serde::Deserializer as _;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let members = (&mut deserializer).deserialize_any(TopLevel)?;
        deserializer.end()?;
        Ok(members)
    }

    /// What [`Self::read`] gives, the old way: the whole object parsed
    /// and its keys converted.
    #[cfg(any(test, fuzzing))]
    fn read_whole(text: &str) -> Result<Option<Self>, serde_json::Error> {
        let Value::Object(mut object) = keys::to_snake_keys(serde_json::from_str(text)?) else {
            return Ok(None);
        };
        let places = (0..Self::NAMES.len())
            .filter_map(|read_as| {
                let name = Self::NAMES[read_as];
                let value = object.remove(name)?;
                Some((name.to_owned(), read_as, value))
            })
            .collect();
        Ok(Some(Self { places }))
    }

    fn place_of(&self, name: &str) -> Option<usize> {
        self.places
            .iter()
            .rposition(|(_, read_as, _)| Self::NAMES[*read_as] == name)
    }

    /// The value of the member named `name` (snake_case).
    fn get(&self, name: &str) -> Option<&Value> {
        self.place_of(name).map(|place| &self.places[place].2)
    }

    /// Takes the value of the member named `name` (snake_case).
    fn remove(&mut self, name: &str) -> Option<Value> {
        self.place_of(name)
            .map(|place| std::mem::take(&mut self.places[place].2))
    }
}

/// Reads a request's top level for [`RequestMembers`]; anything but an
/// object is read through and gives `None`.
struct TopLevel;

impl<'de> serde::de::Visitor<'de> for TopLevel {
    type Value = Option<RequestMembers>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut places: Vec<(String, usize, Value)> = Vec::with_capacity(4);
        while let Some(key) = map.next_key::<String>()? {
            // Every value is read as a `Value`, so what the whole object's
            // parse refuses (a number out of range, say) is refused here too.
            let value: Value = map.next_value()?;
            // Kept values get snake_case keys too: `data` for the delegate,
            // the others for the error message that shows a wrong one.
            if let Some(place) = places.iter_mut().find(|(seen, ..)| *seen == key) {
                place.2 = keys::to_snake_keys(value);
                continue;
            }
            let name = keys::to_snake_key(&key);
            if let Some(read_as) = RequestMembers::NAMES.iter().position(|n| **n == *name) {
                places.push((key, read_as, keys::to_snake_keys(value)));
            }
        }
        Ok(Some(RequestMembers { places }))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The delegate's answer to a request, and the body of a COMMAND_RESULT.
///
/// On the wire (COMMAND_RESULT): `{"result", "data", "errorCode",
/// "errorMessage", "command", "nonce"}`. Build it with the constructors; a
/// `command` and `nonce` set by the delegate are ignored in the immediate
/// reply, as in the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ApiCommandRequestResponse {
    /// The outcome.
    pub result: ApiCommandRequestResult,
    /// Command-specific result (snake_case keys here, camelCase on the wire).
    #[serde(default, with = "keys::camel_on_wire")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            with = "Option<Value>",
            description = "Command-specific result: any JSON, or null."
        )
    )]
    pub data: Option<Value>,
    /// Non-zero when the command reports an error.
    #[serde(default)]
    pub error_code: i64,
    /// Human-readable error.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The command this answers (needed for COMMAND_RESULT).
    #[serde(default = "no_command")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::wire::schema::echoed_command")
    )]
    pub command: Command,
    /// The nonce of the request this answers (needed for COMMAND_RESULT).
    #[serde(default = "no_nonce")]
    pub nonce: i64,
    /// Why `data` could not be converted to JSON, if it could not.
    #[serde(skip)]
    pub(crate) data_error: Option<String>,
}

fn no_command() -> Command {
    Command::Undetected(0)
}

fn no_nonce() -> i64 {
    -1
}

impl ApiCommandRequestResponse {
    /// A response with `result` and nothing else.
    pub fn new(result: ApiCommandRequestResult) -> Self {
        Self {
            result,
            data: None,
            error_code: 0,
            error_message: None,
            command: no_command(),
            nonce: -1,
            data_error: None,
        }
    }

    /// `SUCCESS`.
    pub fn success() -> Self {
        Self::new(ApiCommandRequestResult::Success)
    }

    /// `PENDING_WITH_NOTIFICATION`: the result follows on COMMAND_RESULT.
    pub fn pending_with_notification() -> Self {
        Self::new(ApiCommandRequestResult::PendingWithNotification)
    }

    /// `UNRECOGNIZED`.
    pub fn unrecognized() -> Self {
        Self::new(ApiCommandRequestResult::Unrecognized)
    }

    /// `FAILED` with a non-zero `error_code` and a message.
    pub fn failed(error_code: i64, error_message: impl Into<String>) -> Self {
        Self::new(ApiCommandRequestResult::Failed).with_error(error_code, error_message)
    }

    /// This response with `data`, converted to JSON now. If it cannot be
    /// converted, the reply carries `data` null and the reference's
    /// serialization error instead.
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        match serde_json::to_value(data) {
            Ok(value) => {
                self.data = Some(value);
                self.data_error = None;
            }
            Err(e) => {
                self.data = None;
                self.data_error = Some(e.to_string());
            }
        }
        self
    }

    /// This response with an error code and message.
    pub fn with_error(mut self, error_code: i64, error_message: impl Into<String>) -> Self {
        self.error_code = error_code;
        self.error_message = Some(error_message.into());
        self
    }

    /// This response addressed to a request's command and nonce.
    pub fn for_request(mut self, command: impl Into<Command>, nonce: i64) -> Self {
        self.command = command.into();
        self.nonce = nonce;
        self
    }

    /// This response with the reference's fallback applied when its `data`
    /// could not be serialized.
    pub(crate) fn with_serialization_fallback(mut self) -> Self {
        if self.data_error.take().is_some() {
            self.data = None;
            self.error_message = Some(DATA_SERIALIZATION_ERROR.to_owned());
        }
        self
    }
}

/// The reference's `errorMessage` when a reply's `data` cannot be serialized.
pub const DATA_SERIALIZATION_ERROR: &str =
    "An error occurred serializing the 'data' element of the response.";

/// The service's reply to every request (`ApiCommandRequestServiceResponse`).
///
/// On the wire, exactly: `{"nonce", "command", "result", "data", "errorKind",
/// "errorCode", "errorMessage"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ApiCommandRequestServiceResponse {
    /// The request's nonce (0 when it could not be read).
    pub nonce: i64,
    /// The request's command, as sent.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::wire::schema::echoed_command")
    )]
    pub command: Command,
    /// The outcome.
    pub result: ApiCommandRequestResult,
    /// Command-specific result (snake_case keys here, camelCase on the wire).
    #[serde(default, with = "keys::camel_on_wire")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            with = "Option<Value>",
            description = "Command-specific result: any JSON, or null."
        )
    )]
    pub data: Option<Value>,
    /// Who reported an error.
    pub error_kind: ApiCommandRequestErrorKind,
    /// The delegate's error code.
    #[serde(default)]
    pub error_code: i64,
    /// Human-readable error.
    #[serde(default)]
    pub error_message: Option<String>,
}

impl ApiCommandRequestServiceResponse {
    /// The reply to a request, from the delegate's answer. A non-zero
    /// `error_code` makes the error kind COMMAND_ERROR; data that could not
    /// be serialized gives the reference's SYSTEM_ERROR fallback.
    pub(crate) fn from_delegate(
        command: Command,
        nonce: i64,
        answer: ApiCommandRequestResponse,
    ) -> Self {
        let serialization_failed = answer.data_error.is_some();
        let answer = answer.with_serialization_fallback();
        let error_kind = if serialization_failed {
            ApiCommandRequestErrorKind::SystemError
        } else if answer.error_code != 0 {
            ApiCommandRequestErrorKind::CommandError
        } else {
            ApiCommandRequestErrorKind::None
        };
        Self {
            nonce,
            command,
            result: answer.result,
            data: answer.data,
            error_kind,
            error_code: if serialization_failed {
                0
            } else {
                answer.error_code
            },
            error_message: answer.error_message,
        }
    }

    /// A reply with only a result (for instance UNAVAILABLE when no delegate is set).
    pub(crate) fn bare(command: Command, nonce: i64, result: ApiCommandRequestResult) -> Self {
        Self {
            nonce,
            command,
            result,
            data: None,
            error_kind: ApiCommandRequestErrorKind::None,
            error_code: 0,
            error_message: None,
        }
    }

    /// The EXCEPTION reply for a delegate that failed with `message`.
    pub(crate) fn exception(command: Command, nonce: i64, message: String) -> Self {
        Self {
            error_message: Some(message),
            ..Self::bare(command, nonce, ApiCommandRequestResult::Exception)
        }
    }

    /// FAILED with SYSTEM_ERROR, `code` and `message`: the service's own
    /// failures (a request refused by the gate, a deferred reply that never
    /// came).
    pub(crate) fn system_failure(command: Command, nonce: i64, code: i64, message: String) -> Self {
        Self {
            error_kind: ApiCommandRequestErrorKind::SystemError,
            error_code: code,
            error_message: Some(message),
            ..Self::bare(command, nonce, ApiCommandRequestResult::Failed)
        }
    }

    /// Reads request bytes as a device does before they reach its delegate
    /// (at most `max_request_bytes`, a JSON object with a numeric
    /// `command`, ...). `Err` is the reply a device of `generation` gives
    /// them (UNRECOGNIZED, SYSTEM_ERROR, what is wrong): a relay such as a
    /// gateway answers a malformed request with it without bothering the
    /// device.
    ///
    /// ```
    /// use auto_trainer_api::{ApiCommandRequestResult, ApiCommandRequestServiceResponse, Generation};
    /// let read = ApiCommandRequestServiceResponse::check_request(br#"{"command": 400, "nonce": 3}"#, 1024, Generation::V0_9);
    /// assert_eq!(read.unwrap().nonce, 3);
    /// let refused = ApiCommandRequestServiceResponse::check_request(br#"{"nonce": 3}"#, 1024, Generation::V0_9);
    /// assert_eq!(refused.unwrap_err().result, ApiCommandRequestResult::Unrecognized);
    /// ```
    pub fn check_request(
        bytes: &[u8],
        max_request_bytes: usize,
        generation: Generation,
    ) -> Result<ApiCommandRequest<i64>, Box<Self>> {
        let read = match MalformedRequest::too_large(bytes.len(), max_request_bytes) {
            Some(error) => Err(error),
            None => ApiCommandRequest::parse(bytes),
        };
        read.map_err(|error| Box::new(Self::malformed(error, generation)))
    }

    /// UNAVAILABLE (9999), errorKind SYSTEM_ERROR, with `message`: what a
    /// relay answers for a device that could not answer (offline, no reply
    /// in time), as a device without a delegate answers UNAVAILABLE.
    pub fn unavailable(command: Command, nonce: i64, message: impl Into<String>) -> Self {
        Self {
            error_kind: ApiCommandRequestErrorKind::SystemError,
            error_message: Some(message.into()),
            ..Self::bare(command, nonce, ApiCommandRequestResult::Unavailable)
        }
    }

    /// The reply's bytes as a device of `generation` writes them: compact
    /// for 0.9.11 (it camelizes the whole text), `json.dumps` spacing for
    /// 0.12.
    pub fn to_wire(&self, generation: Generation) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(256);
        let format = match generation {
            Generation::V0_9 => PythonJsonFormatter::COMPACT,
            Generation::V0_12 => PythonJsonFormatter::SPACED,
        };
        write_python_json(&mut bytes, self, format).map(|()| bytes).unwrap_or_else(|error| {
            // A reply holds only JSON values; this cannot happen, but a REQ
            // peer must still get an answer.
            tracing::error!(%error, "cannot serialize a reply");
            br#"{"nonce":0,"command":0,"result":0,"data":null,"errorKind":1,"errorCode":0,"errorMessage":"An error occurred serializing the response."}"#.to_vec()
        })
    }

    pub(crate) fn malformed(error: MalformedRequest, generation: Generation) -> Self {
        Self {
            nonce: error.nonce,
            command: Command::read(Some(generation), error.command),
            result: ApiCommandRequestResult::Unrecognized,
            data: None,
            error_kind: ApiCommandRequestErrorKind::SystemError,
            error_code: 0,
            error_message: Some(error.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergencies_are_told_from_the_command_alone() {
        let emergency = [
            &br#"{"command": 200, "nonce": 7}"#[..],
            br#"{"data": {"command": 400}, "nonce": 1, "command": 210}"#,
        ];
        let other = [
            &br#"{"command": 400, "data": {"command": 200}}"#[..],
            br#"{"command": "200"}"#,
            br#"{"command": 200, "command": 200}"#,
            br#"{"nonce": 200}"#,
            br#"[200]"#,
            br#"{"command": 200"#,
            b"",
        ];
        for bytes in emergency {
            assert!(
                ApiCommandRequest::is_emergency(bytes),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        for bytes in other {
            assert!(
                !ApiCommandRequest::is_emergency(bytes),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    /// The reading that builds only the members it needs agrees with
    /// parsing the whole object and converting its keys, on ordinary
    /// requests and on the odd ones (aliases and repeated keys, values
    /// the JSON parser refuses, not objects, trailing text).
    #[test]
    fn reading_the_members_agrees_with_parsing_the_whole_object() {
        let cases: &[&[u8]] = &[
            br#"{"command": 400, "nonce": 7, "data": null, "customCommand": -1}"#,
            br#"{"command": 120, "nonce": 1, "data": {"animalId": "m-1", "cages": [{"cageName": "a"}]}}"#,
            br#"{"Command": 400, "NONCE": 2, "custom_command": 5, "custom-command": 6}"#,
            br#"{"customCommand": 1, "custom_command": 2, "customCommand": 3, "command": 1}"#,
            br#"{"command": 1, "command": 2, "Command": 3, "command": 4}"#,
            br#"{"data": 1, "Data": {"aB": 2}, "command": 0}"#,
            br#"{"command": 400, "other": 1e400}"#,
            br#"{"command": 400, "other": [1, {"x": }]}"#,
            br#"{"command": 1.0}"#,
            br#"{"command":{"C2n": 0.5}, "nd": -1}"#,
            br#"{"command": 18446744073709551615}"#,
            br#"{"nonce": "7", "command": 1}"#,
            br#"{"customCommand": true, "command": 1, "nonce": 3}"#,
            br#"{"nonce": 3}"#,
            br#"[200]"#,
            br#"[1, 2"#,
            br#"200"#,
            br#""command""#,
            br#"null"#,
            br#"{"command": 200} x"#,
            br#"{"command": 200"#,
            br#"{"comm\u0061nd": 200}"#,
            b"",
            b"\xff",
        ];
        for case in cases {
            assert_eq!(
                ApiCommandRequest::parse(case),
                ApiCommandRequest::parse_whole(case),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn floats_are_read_exactly_as_python_wrote_them() {
        // Python's repr: the shortest text that reads back as the same float.
        let request =
            ApiCommandRequest::parse(br#"{"command": 0, "data": [1.3720000000180881e+28, 0.1]}"#)
                .expect("a valid request");
        assert_eq!(
            request.data,
            Some(serde_json::json!([1.3720000000180881e28_f64, 0.1]))
        );
    }
}
