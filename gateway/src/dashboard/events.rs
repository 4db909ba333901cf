//! `GET /api/events`: the stream's events as Server-Sent Events, each with
//! its stream sequence as the SSE id, so a page that reconnects
//! (`Last-Event-ID`) or asks for a past moment (`?since=`) misses nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

use super::auth::Caller;
use super::{ApiError, Dashboard};
use crate::subjects::{check_token, RECEIVED_HEADER, RIG_HEADER, TOPIC_HEADER};

/// The stored subjects' kinds (the token after `P.<rig>.`).
const KINDS: [&str; 6] = ["emergency", "event", "property", "result", "topic", "link"];

/// `?rig=&topic=&since=`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct Filter {
    /// Only this rig's events.
    rig: Option<String>,
    /// Only this kind: `emergency`, `event`, `property`, `result`, `topic`
    /// or `link`.
    topic: Option<String>,
    /// Replay from here: a stream sequence (an integer) or a time (RFC 3339,
    /// e.g. `2026-11-26T12:00:00Z`). Without it (and without
    /// `Last-Event-ID`), only new events.
    since: Option<String>,
}

/// `GET /api/events`: the fleet's stored events as SSE. Each event's `id`
/// is its stream sequence and its data
/// `{"seq", "subject", "rig", "kind", "topic", "received", "body"}`.
#[utoipa::path(get, path = "/api/events", tag = "events",
    params(Filter, ("Last-Event-ID" = Option<u64>, Header, description = "resume after this stream sequence (what EventSource sends when it reconnects)")),
    responses((status = 200, description = "text/event-stream"),
              (status = 400, description = "a bad filter", body = super::api::ErrorBody),
              (status = 401, description = "not signed in", body = super::api::ErrorBody)))]
pub(crate) async fn events(
    State(dashboard): State<Arc<Dashboard>>,
    _caller: Caller,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subject = filter_subject(&dashboard.subjects, &filter)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("Last-Event-ID: a stream sequence"))
        })
        .transpose()?;
    let deliver_policy = match (last_event_id, &filter.since) {
        (Some(sequence), _) => DeliverPolicy::ByStartSequence {
            start_sequence: sequence + 1,
        },
        (None, Some(since)) => since_policy(since)?,
        (None, None) => DeliverPolicy::New,
    };
    let stream = dashboard
        .jetstream
        .get_stream(&dashboard.stream)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the stream: {e}")))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: subject,
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("a consumer: {e}")))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the stream: {e}")))?;
    let events = messages.filter_map(|message| async move {
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "reading the stream for the dashboard");
                return None;
            }
        };
        let sequence = message.info().ok()?.stream_sequence;
        let event = event_of(&message, sequence);
        Some(Ok(Event::default()
            .id(sequence.to_string())
            .data(event.to_string())))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `P.<rig or *>.<kind or *>` (`result` and `topic` take a `.>` tail).
fn filter_subject(subjects: &crate::Subjects, filter: &Filter) -> Result<String, ApiError> {
    let rig = match &filter.rig {
        Some(rig) => {
            check_token(rig).map_err(|why| ApiError::bad_request(format!("rig: {why}")))?;
            rig.as_str()
        }
        None => "*",
    };
    let kind = match filter.topic.as_deref() {
        None => ">",
        Some(kind @ ("result" | "topic")) => &format!("{kind}.>"),
        Some(kind) if KINDS.contains(&kind) => kind,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "topic '{other}': one of {}",
                KINDS.join(", ")
            )))
        }
    };
    Ok(format!("{}.{rig}.{kind}", subjects.prefix()))
}

fn since_policy(since: &str) -> Result<DeliverPolicy, ApiError> {
    if let Ok(sequence) = since.parse::<u64>() {
        return Ok(DeliverPolicy::ByStartSequence {
            start_sequence: sequence.max(1),
        });
    }
    let time = humantime::parse_rfc3339_weak(since).map_err(|e| {
        ApiError::bad_request(format!(
            "since '{since}': a stream sequence or an RFC 3339 time ({e})"
        ))
    })?;
    Ok(DeliverPolicy::ByStartTime {
        start_time: time::OffsetDateTime::from(time),
    })
}

/// The JSON of one stored message.
fn event_of(message: &async_nats::jetstream::Message, sequence: u64) -> Value {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let subject = message.subject.as_str();
    // P.<rig>.<kind>[.<more>]: the prefix may have dots of its own.
    let rig = header(RIG_HEADER);
    let kind = rig
        .as_deref()
        .and_then(|rig| subject.split_once(&format!(".{rig}.")))
        .and_then(|(_, tail)| tail.split('.').next())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice::<Value>(&message.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&message.payload).into_owned()));
    json!({
        "seq": sequence,
        "subject": subject,
        "rig": rig,
        "kind": kind,
        "topic": header(TOPIC_HEADER).and_then(|topic| topic.parse::<u32>().ok()),
        "received": header(RECEIVED_HEADER).and_then(|at| at.parse::<f64>().ok()),
        "body": body,
    })
}
