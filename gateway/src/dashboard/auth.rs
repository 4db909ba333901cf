//! Who calls the API and what they may do: operators of `[[operator]]`,
//! each with a token and a role. An API client sends
//! `Authorization: Bearer <token>`; the page exchanges the token for a
//! session cookie (HttpOnly, SameSite=Strict) at `POST /api/session`, and
//! a cookie session must send the session's CSRF token in the
//! `X-CSRF-Token` header with everything that changes something.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{ApiError, Dashboard};
use crate::config::{OperatorConfig, Role};

/// The header a cookie session sends its CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// The session cookie's name.
const COOKIE: &str = "autotrainer_session";
/// A session ends this long after sign-in.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest go first): sign-ins cannot grow the
/// gateway without bound.
const MAX_SESSIONS: usize = 1024;

/// An operator as the gateway knows them: the token only as its digest.
struct Operator {
    name: String,
    role: Role,
    token_digest: [u8; 32],
}

struct Session {
    operator: String,
    role: Role,
    csrf: String,
    expires: Instant,
}

/// The operators and their open sessions.
pub(crate) struct Sessions {
    operators: Vec<Operator>,
    open: Mutex<HashMap<String, Session>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// A random secret: two v4 UUIDs (244 random bits from the OS), hex.
fn secret() -> String {
    let [a, b] = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    format!("{}{}", a.simple(), b.simple())
}

impl Sessions {
    pub(crate) fn new(operators: &[OperatorConfig]) -> Self {
        Self {
            operators: operators
                .iter()
                .map(|operator| Operator {
                    name: operator.name.clone(),
                    role: operator.role,
                    token_digest: digest(&operator.token),
                })
                .collect(),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The operator whose token this is. Every operator is compared (the
    /// time does not tell which one nearly matched).
    fn operator_of(&self, token: &str) -> Option<&Operator> {
        let wanted = digest(token);
        let mut found = None;
        for operator in &self.operators {
            if same(&operator.token_digest, &wanted) {
                found = Some(operator);
            }
        }
        found
    }

    fn open(&self, operator: &Operator) -> (String, String) {
        let id = secret();
        let csrf = secret();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.retain(|_, session| session.expires > now);
        if open.len() >= MAX_SESSIONS {
            if let Some(oldest) = open
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(id, _)| id.clone())
            {
                open.remove(&oldest);
            }
        }
        open.insert(
            id.clone(),
            Session {
                operator: operator.name.clone(),
                role: operator.role,
                csrf: csrf.clone(),
                expires: now + SESSION_LIFETIME,
            },
        );
        (id, csrf)
    }

    fn session(&self, id: &str) -> Option<Caller> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let session = open.get(id).filter(|s| s.expires > Instant::now())?;
        Some(Caller {
            operator: session.operator.clone(),
            role: session.role,
            csrf: Some(session.csrf.clone()),
        })
    }

    fn close(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// Who made a request. `csrf` is the session's token for a cookie
/// session, `None` for a bearer token (no cookie, nothing to forge).
pub(crate) struct Caller {
    pub operator: String,
    pub role: Role,
    csrf: Option<String>,
}

impl Caller {
    /// Refuses a caller below `role` (403), and a cookie session whose
    /// request lacks its CSRF token (403).
    pub(crate) fn allow(&self, role: Role, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Some(csrf) = &self.csrf {
            let sent = headers
                .get(CSRF_HEADER)
                .map(|value| value.as_bytes())
                .unwrap_or_default();
            if !same(sent, csrf.as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token header (a cookie session sends the token it got at sign-in)",
                ));
            }
        }
        if self.role < role {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "operator '{}' is a {:?}; this needs the role {:?}",
                    self.operator, self.role, role
                )
                .to_lowercase(),
            ));
        }
        Ok(())
    }
}

fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

impl FromRequestParts<Arc<Dashboard>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        dashboard: &Arc<Dashboard>,
    ) -> Result<Self, ApiError> {
        let sessions = &dashboard.sessions;
        let unauthorized = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, why);
        if let Some(authorization) = parts.headers.get(header::AUTHORIZATION) {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .ok_or_else(|| unauthorized("Authorization: Bearer <token> expected"))?;
            let operator = sessions
                .operator_of(token.trim())
                .ok_or_else(|| unauthorized("unknown token"))?;
            return Ok(Caller {
                operator: operator.name.clone(),
                role: operator.role,
                csrf: None,
            });
        }
        let id = cookie_of(&parts.headers).ok_or_else(|| {
            unauthorized("sign in first (POST /api/session) or send Authorization: Bearer <token>")
        })?;
        sessions
            .session(id)
            .ok_or_else(|| unauthorized("the session has ended: sign in again"))
    }
}

fn session_cookie(id: &str, max_age: Duration) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        max_age.as_secs()
    )
}

/// `POST /api/session` `{"token"}`: a session cookie and its CSRF token.
#[utoipa::path(post, path = "/api/session", tag = "session",
    request_body(content = SignIn, description = "an operator's token"),
    responses(
        (status = 200, description = "signed in: the session cookie is set; `csrfToken` goes in the X-CSRF-Token header of every POST", body = SessionInfo),
        (status = 400, description = "not JSON with a token", body = super::api::ErrorBody),
        (status = 401, description = "unknown token", body = super::api::ErrorBody)))]
pub(crate) async fn sign_in(
    State(dashboard): State<Arc<Dashboard>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SignIn = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"token\": \"...\"}}: {e}")))?;
    let operator = dashboard
        .sessions
        .operator_of(&request.token)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"))?;
    let (id, csrf) = dashboard.sessions.open(operator);
    tracing::info!(operator = %operator.name, "dashboard sign-in");
    let info = json!({"operator": operator.name, "role": operator.role, "csrfToken": csrf});
    Ok((
        [(header::SET_COOKIE, session_cookie(&id, SESSION_LIFETIME))],
        Json(info),
    )
        .into_response())
}

/// `GET /api/session`: who is signed in (and, for a cookie session, its
/// CSRF token again, for a page that was reloaded).
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, description = "the caller", body = SessionInfo),
              (status = 401, description = "not signed in", body = super::api::ErrorBody)))]
pub(crate) async fn who(caller: Caller) -> Json<Value> {
    Json(json!({"operator": caller.operator, "role": caller.role, "csrfToken": caller.csrf}))
}

/// `DELETE /api/session`: signs out.
#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 200, description = "signed out; the cookie is cleared")))]
pub(crate) async fn sign_out(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = cookie_of(&headers) {
        dashboard.sessions.close(id);
    }
    (
        [(header::SET_COOKIE, session_cookie("", Duration::ZERO))],
        Json(json!({"signedOut": true})),
    )
        .into_response()
}

/// The body of `POST /api/session`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct SignIn {
    /// An operator's token from the gateway's configuration.
    token: String,
}

/// Who is signed in.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionInfo {
    /// The operator's name.
    operator: String,
    /// `viewer`, `operator` or `admin`.
    role: String,
    /// For a cookie session: the value of the X-CSRF-Token header.
    csrf_token: Option<String>,
}
