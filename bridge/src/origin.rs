//! The browser-origin allow-list.
//!
//! CORS headers only ask a browser not to show a page a response; they do
//! not stop the request, and browsers apply no CORS at all to WebSocket.
//! So the bridge refuses, before Socket.IO sees it, every request whose
//! `Origin` is not on the list: a long-polling request and a WebSocket
//! upgrade alike. Origins on the list get CORS headers naming them (never
//! `*`, never an origin reflected unchecked) with credentials.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// The origins allowed to reach the bridge from a browser.
#[derive(Debug, Clone)]
pub(crate) struct OriginPolicy {
    allowed: Arc<[HeaderValue]>,
}

impl OriginPolicy {
    /// The policy of `origins` (already checked by
    /// [`crate::options::check_origin`]).
    pub(crate) fn new(origins: &[String]) -> Result<Self, String> {
        let allowed = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin).map_err(|e| format!("allowed origin '{origin}': {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            allowed: allowed.into(),
        })
    }

    /// The first `Origin` of `request` that is not on the list; `None` when
    /// every one is (or it has none: not a browser).
    fn refused_origin<'r>(&self, request: &'r Request) -> Option<&'r HeaderValue> {
        request
            .headers()
            .get_all(header::ORIGIN)
            .iter()
            .find(|origin| !self.allowed.contains(origin))
    }

    /// CORS headers for the listed origins; `None` without any.
    pub(crate) fn cors(&self) -> Option<CorsLayer> {
        (!self.allowed.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.allowed.iter().cloned()))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                // Socket.IO clients may add headers of their own
                // (`extraHeaders`); the origin is what is checked.
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(Duration::from_secs(600))
        })
    }
}

/// Refuses (403, with a JSON `{"error"}` saying why) a request whose
/// `Origin` is not allowed; passes the others on.
pub(crate) async fn guard(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(origin) = policy.refused_origin(&request) {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        tracing::warn!(
            %origin,
            path = request.uri().path(),
            "refused a request from an origin not on the allow-list"
        );
        let error =
            format!("origin '{origin}' is not allowed by this bridge (see its --allowed-origin)");
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": error })),
        )
            .into_response();
    }
    next.run(request).await
}
