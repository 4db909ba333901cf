//! The dashboard: a web page and its HTTP API, served by the gateway on
//! `[gateway] http` (README, "Dashboard").
//!
//! - [`auth`]: who calls (a bearer token or a session cookie), what their
//!   role lets them do, CSRF for cookie sessions.
//! - [`api`]: the JSON endpoints: rigs, commands, the fleet-wide stop, the
//!   code catalogs, the OpenAPI description.
//! - [`events`]: the event history and live events as Server-Sent Events,
//!   replayed from the JetStream stream.
//! - `page/`: the page itself (plain HTML, CSS and JS, embedded).
//!
//! Everything goes through NATS as any other client would (a command is a
//! request on `P.<rig>.command`), so a gateway's dashboard shows and
//! commands every rig of the fleet, not only its own.

mod api;
mod auth;
mod events;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use async_nats::jetstream::{self, kv};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Config, ConfigError};
use crate::rig::epoch_seconds;
use crate::subjects::Subjects;

pub(crate) use auth::CSRF_HEADER;

/// The largest request body the API reads (a command's `data` included).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A command `GET_STATUS` (the same number in both generations).
pub(crate) const GET_STATUS: i64 = 400;
/// A reply's `result` SUCCESS.
const SUCCESS: i64 = 100;

/// The last GET_STATUS reply of each rig, whoever asked: the gateway's
/// poll, a NATS client, the dashboard.
#[derive(Clone, Default)]
pub(crate) struct LastStatuses(Arc<RwLock<HashMap<String, Value>>>);

impl LastStatuses {
    /// Keeps `reply` as `rig`'s status when it is a successful reply to
    /// GET_STATUS.
    pub(crate) fn offer(&self, rig: &str, command: i64, reply: &[u8]) {
        if command != GET_STATUS {
            return;
        }
        let Ok(reply) = serde_json::from_slice::<Value>(reply) else {
            return;
        };
        if reply.get("result").and_then(Value::as_i64) != Some(SUCCESS) {
            return;
        }
        let status = json!({"at": epoch_seconds(SystemTime::now()), "reply": reply});
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rig.to_owned(), status);
    }

    /// `{"at", "reply"}` of `rig`, if any.
    fn get(&self, rig: &str) -> Option<Value> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(rig)
            .cloned()
    }
}

/// The rig bucket as this gateway last saw it (a watcher keeps it).
#[derive(Clone, Default)]
struct Fleet(Arc<RwLock<std::collections::BTreeMap<String, Value>>>);

impl Fleet {
    fn records(&self) -> Vec<Value> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn record(&self, rig: &str) -> Option<Value> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(rig)
            .cloned()
    }

    /// Reads every record now, so the API knows the fleet from its first
    /// request (the watcher of [`Self::follow`] takes a moment to start).
    async fn load(&self, bucket: &kv::Store) {
        let keys = match bucket.keys().await {
            Ok(keys) => keys.collect::<Vec<_>>().await,
            Err(error) => {
                tracing::warn!(%error, "cannot list the rig bucket yet");
                return;
            }
        };
        for key in keys.into_iter().flatten() {
            if let Ok(Some(value)) = bucket.get(&key).await {
                if let Ok(record) = serde_json::from_slice(&value) {
                    self.0
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, record);
                }
            }
        }
    }

    /// Follows the bucket forever: every record, then every change.
    async fn follow(self, bucket: kv::Store) {
        loop {
            match bucket.watch_with_history(">").await {
                Ok(mut changes) => {
                    while let Some(change) = changes.next().await {
                        let Ok(entry) = change else { break };
                        let mut records = self.0.write().unwrap_or_else(|e| e.into_inner());
                        match entry.operation {
                            kv::Operation::Put => {
                                if let Ok(record) = serde_json::from_slice(&entry.value) {
                                    records.insert(entry.key, record);
                                }
                            }
                            kv::Operation::Delete | kv::Operation::Purge => {
                                records.remove(&entry.key);
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot watch the rig bucket"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// What the handlers share.
struct Dashboard {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: String,
    subjects: Subjects,
    command_timeout: Duration,
    fleet: Fleet,
    statuses: LastStatuses,
    sessions: auth::Sessions,
    next_nonce: AtomicI64,
}

/// The NATS side the dashboard uses, from the gateway.
pub(crate) struct Links {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub bucket: kv::Store,
    pub statuses: LastStatuses,
    pub first_nonce: i64,
}

/// An API error: its status and a JSON body `{"error": message}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

/// Binds `[gateway] http` and serves the dashboard until `shutdown`;
/// returns the bound address (port 0 in the configuration: the OS's pick)
/// and the server's future.
///
/// # Errors
/// When the address cannot be bound.
pub(crate) async fn bind(
    config: &Config,
    address: &str,
    links: Links,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(std::net::SocketAddr, impl Future<Output = ()>), ConfigError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| ConfigError(format!("[gateway] http '{address}': {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ConfigError(format!("[gateway] http '{address}': {e}")))?;
    if config.operators.is_empty() {
        tracing::warn!("no [[operator]] configured: the dashboard's API refuses everyone");
    }
    let fleet = Fleet::default();
    fleet.load(&links.bucket).await;
    let watcher = tokio::spawn(fleet.clone().follow(links.bucket.clone()));
    let dashboard = Arc::new(Dashboard {
        client: links.client,
        jetstream: links.jetstream,
        stream: config.nats.stream.clone(),
        subjects: Subjects::new(config.nats.prefix.clone()),
        command_timeout: config.nats.command_timeout,
        fleet,
        statuses: links.statuses,
        sessions: auth::Sessions::new(&config.operators),
        next_nonce: AtomicI64::new(links.first_nonce),
    });
    let app = router(dashboard, &config.gateway.allowed_origins)?;
    let serving = async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the dashboard's server stopped");
        }
        watcher.abort();
    };
    Ok((bound, serving))
}

fn router(dashboard: Arc<Dashboard>, allowed_origins: &[String]) -> Result<Router, ConfigError> {
    let api = Router::new()
        .route(
            "/api/session",
            post(auth::sign_in).get(auth::who).delete(auth::sign_out),
        )
        .route("/api/rigs", get(api::rigs))
        .route("/api/rigs/{rig}", get(api::rig))
        .route("/api/rigs/{rig}/commands", post(api::command))
        .route("/api/fleet/emergency-stop", post(api::stop_fleet))
        .route("/api/catalog", get(api::catalog))
        .route("/api/events", get(events::events))
        .route("/api/openapi.json", get(api::openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let page = Router::new()
        .route("/", get(page_file("index.html")))
        .route("/app.js", get(page_file("app.js")))
        .route("/style.css", get(page_file("style.css")));
    let mut app = api.merge(page).with_state(dashboard);
    if !allowed_origins.is_empty() {
        app = app.layer(cors(allowed_origins)?);
    }
    Ok(app)
}

/// CORS for the listed origins only, with credentials (never a reflected
/// or wildcard origin).
fn cors(allowed_origins: &[String]) -> Result<CorsLayer, ConfigError> {
    let origins = allowed_origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin)
                .map_err(|e| ConfigError(format!("[gateway] allowed_origins '{origin}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(CSRF_HEADER),
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(600)))
}

/// The page's files, in the binary.
const PAGE: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("page/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("page/style.css"),
    ),
];

/// The page keeps to its own origin's scripts and styles.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn page_file(name: &'static str) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || {
        let (_, content_type, text) = PAGE
            .iter()
            .find(|(file, _, _)| *file == name)
            .copied()
            .unwrap_or(("", "text/plain", ""));
        std::future::ready(
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                text,
            )
                .into_response(),
        )
    }
}
