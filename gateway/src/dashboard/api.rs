//! The JSON endpoints of the dashboard's API.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auto_trainer_api::{v0_12, v0_9, Generation};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use utoipa::OpenApi;

use super::auth::Caller;
use super::{ApiError, Dashboard};
use crate::config::Role;
use crate::rig::epoch_seconds;
use crate::subjects::{check_token, ERROR_HEADER, GATEWAY_HEADER};

/// An error's body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
}

/// The body of `POST /api/rigs/{rig}/commands`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CommandRequest {
    /// The command: its number, or its name in the rig's protocol
    /// generation (`GET_STATUS`, `start-acquisition`, ...).
    #[schema(value_type = Object, example = json!("GET_STATUS"))]
    command: Value,
    /// The command's data.
    #[serde(default)]
    #[schema(value_type = Object)]
    data: Value,
    /// For USER_DEFINED.
    #[serde(default)]
    custom_command: Option<i64>,
    /// The nonce; the gateway picks one when it is missing.
    #[serde(default)]
    nonce: Option<i64>,
}

/// `GET /api/rigs`: every rig of the fleet (the rig bucket), each with its
/// last status, and the server's time (for heartbeat ages).
#[utoipa::path(get, path = "/api/rigs", tag = "rigs",
    responses((status = 200, description = "`{\"now\", \"rigs\": [record + lastStatus]}`; a record is as in the bucket (FLEET.md)"),
              (status = 401, description = "not signed in", body = ErrorBody)))]
pub(crate) async fn rigs(State(dashboard): State<Arc<Dashboard>>, _caller: Caller) -> Json<Value> {
    let rigs: Vec<Value> = dashboard
        .fleet
        .records()
        .into_iter()
        .map(|record| with_status(&dashboard, record))
        .collect();
    Json(json!({"now": epoch_seconds(SystemTime::now()), "rigs": rigs}))
}

fn with_status(dashboard: &Dashboard, mut record: Value) -> Value {
    let rig = record["rig"].as_str().unwrap_or_default().to_owned();
    if let Some(fields) = record.as_object_mut() {
        let status = dashboard.statuses.get(&rig).unwrap_or(Value::Null);
        fields.insert("lastStatus".into(), status);
    }
    record
}

/// `GET /api/rigs/{rig}`: one rig's record with its last status.
#[utoipa::path(get, path = "/api/rigs/{rig}", tag = "rigs",
    params(("rig" = String, Path, description = "the rig's name")),
    responses((status = 200, description = "the rig's record (FLEET.md) with `lastStatus` `{\"at\", \"reply\"}` or null"),
              (status = 401, description = "not signed in", body = ErrorBody),
              (status = 404, description = "no such rig in the fleet", body = ErrorBody)))]
pub(crate) async fn rig(
    State(dashboard): State<Arc<Dashboard>>,
    _caller: Caller,
    Path(rig): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = known_rig(&dashboard, &rig)?;
    Ok(Json(with_status(&dashboard, record)))
}

fn known_rig(dashboard: &Dashboard, rig: &str) -> Result<Value, ApiError> {
    dashboard.fleet.record(rig).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no rig '{rig}' in the fleet"),
        )
    })
}

/// The number of a command given by number or by name in `generation`.
fn command_number(command: &Value, generation: Generation) -> Result<i64, ApiError> {
    if let Some(number) = command.as_i64() {
        return Ok(number);
    }
    let name = command
        .as_str()
        .ok_or_else(|| ApiError::bad_request("command: a number or a name"))?;
    let number = match generation {
        Generation::V0_12 => v0_12::ApiCommand::from_name(name).map(|c| c.value()),
        _ => v0_9::ApiCommand::from_name(name).map(|c| c.value()),
    };
    number.ok_or_else(|| {
        ApiError::bad_request(format!(
            "command '{name}' is not a command of protocol {}",
            generation.short_name()
        ))
    })
}

/// `POST /api/rigs/{rig}/commands`: the command through NATS
/// (`P.<rig>.command`, so whichever gateway bridges the rig sends it),
/// answered with the rig's reply; a pending command's result follows on
/// `/api/events` (topic `result`).
#[utoipa::path(post, path = "/api/rigs/{rig}/commands", tag = "commands",
    params(("rig" = String, Path, description = "the rig's name")),
    request_body = CommandRequest,
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "`{\"rig\", \"command\", \"nonce\", \"reply\", \"gatewayError\"}`: `reply` is the rig's reply (or the gateway's UNAVAILABLE reply, `gatewayError` saying why)"),
              (status = 400, description = "bad JSON or an unknown command name", body = ErrorBody),
              (status = 401, description = "not signed in", body = ErrorBody),
              (status = 403, description = "a viewer, or a cookie session without its CSRF token", body = ErrorBody),
              (status = 404, description = "no such rig", body = ErrorBody),
              (status = 413, description = "a body over 64 KiB"),
              (status = 503, description = "NATS did not answer", body = ErrorBody)))]
pub(crate) async fn command(
    State(dashboard): State<Arc<Dashboard>>,
    caller: Caller,
    headers: HeaderMap,
    Path(rig): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.allow(Role::Operator, &headers)?;
    let record = known_rig(&dashboard, &rig)?;
    check_token(&rig).map_err(ApiError::bad_request)?;
    let request: CommandRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a command request: {e}")))?;
    let generation = match record["protocol"].as_str() {
        Some("0.12") => Generation::V0_12,
        _ => Generation::V0_9,
    };
    let number = command_number(&request.command, generation)?;
    let nonce = request
        .nonce
        .unwrap_or_else(|| dashboard.next_nonce.fetch_add(1, Ordering::Relaxed));
    let wire = json!({
        "command": number,
        "nonce": nonce,
        "data": request.data,
        "customCommand": request.custom_command,
    });
    tracing::info!(operator = %caller.operator, rig, command = number, nonce, "dashboard command");
    // The rig's gateway answers within its command timeout; a little more
    // for the way through NATS.
    let patience = dashboard.command_timeout + Duration::from_secs(2);
    let sent = dashboard
        .client
        .request(dashboard.subjects.command(&rig), wire.to_string().into());
    let reply = match tokio::time::timeout(patience, sent).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(error)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no gateway answered for rig '{rig}': {error}"),
            ))
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no gateway answered for rig '{rig}' in time"),
            ))
        }
    };
    let header = |name: &str| {
        reply
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let gateway_error = header(ERROR_HEADER);
    if gateway_error.is_none() {
        dashboard.statuses.offer(&rig, number, &reply.payload);
    }
    let body = serde_json::from_slice::<Value>(&reply.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.payload).into_owned()));
    Ok(Json(json!({
        "rig": rig,
        "command": number,
        "nonce": nonce,
        "reply": body,
        "gatewayError": gateway_error,
        "gateway": header(GATEWAY_HEADER),
    })))
}

/// `POST /api/fleet/emergency-stop`: EMERGENCY_STOP to every online rig of
/// the fleet (`P.fleet.emergency-stop`); a body `{"data": ...}` is optional.
#[utoipa::path(post, path = "/api/fleet/emergency-stop", tag = "commands",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "`{\"gateway\", \"rigs\": [{\"rig\", \"outcome\", ...}]}`, one entry per rig"),
              (status = 400, description = "a body that is not JSON", body = ErrorBody),
              (status = 401, description = "not signed in", body = ErrorBody),
              (status = 403, description = "a viewer, or a cookie session without its CSRF token", body = ErrorBody),
              (status = 503, description = "NATS did not answer", body = ErrorBody)))]
pub(crate) async fn stop_fleet(
    State(dashboard): State<Arc<Dashboard>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.allow(Role::Operator, &headers)?;
    let data = if body.is_empty() {
        Value::Null
    } else {
        let request: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("not JSON: {e}")))?;
        request.get("data").cloned().unwrap_or(Value::Null)
    };
    tracing::warn!(operator = %caller.operator, "fleet-wide emergency stop from the dashboard");
    let patience = dashboard.command_timeout + Duration::from_secs(5);
    let sent = dashboard.client.request(
        dashboard.subjects.fleet_emergency_stop(),
        json!({"data": data}).to_string().into(),
    );
    match tokio::time::timeout(patience, sent).await {
        Ok(Ok(reply)) => Ok(Json(
            serde_json::from_slice(&reply.payload).unwrap_or(Value::Null),
        )),
        Ok(Err(error)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no gateway answered the emergency stop: {error}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no gateway answered the emergency stop in time",
        )),
    }
}

/// `[{"code", "name"}]` of a catalog.
fn names<T: Copy>(
    all: &[T],
    code: impl Fn(T) -> i64,
    name: impl Fn(T) -> Option<&'static str>,
) -> Value {
    all.iter()
        .map(|&item| json!({"code": code(item), "name": name(item)}))
        .collect()
}

/// `GET /api/catalog`: the names of commands, event kinds and status codes
/// of each protocol generation, and the topics' subject names.
#[utoipa::path(get, path = "/api/catalog", tag = "rigs",
    responses((status = 200, description = "`{\"0.9\": {\"commands\", \"eventKinds\", ...}, \"0.12\": {...}, \"topics\"}`")))]
pub(crate) async fn catalog(_caller: Caller) -> Json<Value> {
    Json(json!({
        "0.9": {
            "commands": names(v0_9::ApiCommand::ALL, |c| c.value(), |c| c.name()),
            "eventKinds": names(v0_9::ApiEventKind::ALL, |c| c.value(), |c| c.name()),
            "appStatus": names(v0_9::ApiAppStatus::ALL, |c| c.value(), |c| c.name()),
            "trainingModes": names(v0_9::ApiTrainingMode::ALL, |c| c.value(), |c| c.name()),
        },
        "0.12": {
            "commands": names(v0_12::ApiCommand::ALL, |c| c.value(), |c| c.name()),
            "eventKinds": names(v0_12::ApiEventKind::ALL, |c| c.value(), |c| c.name()),
            "applicationModes": names(v0_12::ApiApplicationMode::ALL, |c| c.value(), |c| c.name()),
            "trainingModes": names(v0_12::ApiTrainingMode::ALL, |c| c.value(), |c| c.name()),
        },
        "topics": [
            {"code": 1001, "name": "heartbeat"},
            {"code": 2001, "name": "emergency"},
            {"code": 4001, "name": "event"},
            {"code": 5001, "name": "property"},
            {"code": 6001, "name": "result"},
        ],
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "auto-trainer fleet dashboard", description = "The gateway's HTTP API: every rig of the fleet, its commands and its events (FLEET.md)."),
    paths(
        super::auth::sign_in, super::auth::who, super::auth::sign_out,
        rigs, rig, command, stop_fleet, catalog, super::events::events, openapi
    ),
    components(schemas(ErrorBody, CommandRequest, super::auth::SignIn, super::auth::SessionInfo)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "autotrainer_session",
                "from POST /api/session; POSTs also need its csrfToken in X-CSRF-Token",
            ))),
        );
    }
}

/// `GET /api/openapi.json`: this API's OpenAPI description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "rigs",
    responses((status = 200, description = "OpenAPI 3.1")))]
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
