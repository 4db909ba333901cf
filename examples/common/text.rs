//! One-line texts both programs print.

use std::error::Error;
use std::fmt::Display;

use auto_trainer_api::ApiCommandRequestResponse;
use serde_json::Value;

/// An error followed by each of its causes: `error: cause: cause`.
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text += &format!(": {next}");
        cause = next.source();
    }
    text
}

/// A command's outcome: the result, then `[error]` when there is one, then
/// the data, e.g. `FAILED [error 4: not acquiring]`.
pub fn outcome_text(result: impl Display, error: Option<String>, data: Option<&Value>) -> String {
    let mut text = result.to_string();
    if let Some(error) = error {
        text += &format!(" [{error}]");
    }
    if let Some(data) = data {
        text += &format!(" {}", json_text(data));
    }
    text
}

/// Longer JSON is cut here in one-line texts: a peer's request can be
/// hundreds of KiB, and a log line that long helps nobody.
const LONGEST_JSON_TEXT: usize = 1000;

/// `value` as compact JSON, cut after [`LONGEST_JSON_TEXT`] characters with
/// a note of its full length.
pub fn json_text(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(LONGEST_JSON_TEXT) {
        None => text,
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// The outcome of a response (a delegate's answer or a COMMAND_RESULT).
pub fn response_text(response: &ApiCommandRequestResponse) -> String {
    let error = (response.error_code != 0 || response.error_message.is_some()).then(|| {
        format!(
            "error {}: {}",
            response.error_code,
            response.error_message.as_deref().unwrap_or("")
        )
    });
    outcome_text(response.result, error, response.data.as_ref())
}
