//! # auto-trainer-api
//!
//! Lets a lab acquisition app be watched and commanded from other machines
//! over ZeroMQ. A Rust port of the Python package `auto-trainer-api`, both
//! protocol generations ([`Generation`]: 0.9.11, the default, and 0.12):
//! Python consoles and services of either speak to this crate unchanged,
//! byte for byte, except for the reference's defects this crate fixes on
//! purpose (see `README.md`).
//!
//! ## A tour
//!
//! - **Wire types** (private module `wire`): plain data, nothing else.
//!   [`ApiTopic`], [`ApiCommandRequest`], [`ApiCommandRequestResponse`],
//!   [`ApiCommandRequestServiceResponse`], [`ApiEvent`],
//!   [`HeartbeatMessage`]; the catalogs and payloads of each generation in
//!   [`v0_9`] (also at the crate's root: [`ApiCommand`], [`ApiEventKind`],
//!   [`StatusResponse`], ...) and [`v0_12`] (typed event contexts,
//!   [`v0_12::build_event`], [`v0_12::ApiSystemStatus`]). A request and an
//!   event are read with a generation's catalog (`ApiCommandRequest<C>`,
//!   `ApiEvent<K>`); the operator side tags each code with the generation
//!   that read it ([`Command`], [`EventKind`]). Each integer code is
//!   declared once, converts to and from its number and its name, and keeps
//!   unknown numbers. JSON keys
//!   are camelCase on the wire and snake_case in the app ([`to_camel_keys`],
//!   [`to_snake_keys`]); values are never changed. [`to_python_json`] writes
//!   the reference's exact bytes.
//! - **The device side** (`service`): [`ZeroMqRpcService`], built from
//!   [`RpcOptions`] (or [`create_api_service`] from [`ApiOptions`]),
//!   implements [`RpcService`]: a PUB socket for events and heartbeats, a
//!   command socket (REP on the wire) whose requests go to your
//!   [`CommandRequestDelegate`] together
//!   with a [`RequestContext`]. A slow command is accepted through the
//!   context and answers `PENDING_WITH_NOTIFICATION`; its
//!   [`CompletionHandle`] later publishes the COMMAND_RESULT matched by
//!   nonce. A [`Publisher`] is the cheap, cloneable handle that the app's
//!   threads publish through.
//! - **The operator side** (`client`, cargo feature `client`, on by
//!   default): [`DeviceClient`] sends commands and returns typed replies,
//!   retrying lost ones on a fresh socket (Lazy Pirate); it decodes
//!   published messages into [`DeviceMessage`]s, awaits the results of
//!   pending commands by nonce and watches the device's [`Liveness`] from its
//!   heartbeats. [`BlockingDeviceClient`] wraps it for code without an async
//!   runtime. Without the feature, no tokio is compiled.
//! - **Threads**: publish calls push into a bounded queue and return; one
//!   publisher thread owns the PUB socket; one command thread owns the
//!   command socket, reads requests ahead and answers emergencies first; a
//!   reader thread parses large requests meanwhile. All libzmq code is in one
//!   private module, `transport`.
//! - **Signed commands** (private module `auth`), off unless the device
//!   is given keys ([`RpcOptions::keys`], [`RpcOptions::key_file`]): then
//!   every request must be signed (HMAC-SHA256) with one of its keys, fresh,
//!   never seen, and allowed by the key's role; replies are signed back.
//!   The client signs with [`ClientOptions::signing`].
//! - **Telemetry** (cargo feature `telemetry`, off by default):
//!   [`configure_telemetry`] exports OpenTelemetry spans and metrics of
//!   requests, pending commands and published messages over OTLP/HTTP, as
//!   the reference does. Without the feature the private module `telemetry`
//!   compiles to nothing.
//! - **Schemas** (cargo feature `schema`): [`wire_schemas`] generates the
//!   JSON Schemas committed under `proto-schema/`.
//!
//! ## The public surface, by role
//!
//! | role | names |
//! |---|---|
//! | embed a device | [`ZeroMqRpcService`], [`RpcService`], [`RpcOptions`], [`CommandRequestDelegate`], [`RequestContext`], [`Publisher`], [`CompletionHandle`], [`PendingCommand`], [`ServiceStats`]; the reference's [`ApiOptions`], [`create_default_api_options`], [`create_api_service`] |
//! | command a device | [`DeviceClient`], [`BlockingDeviceClient`], [`ClientOptions`], [`CommandCall`], [`MessageStream`], [`DeviceMessage`], [`RawMessage`], [`RawReason`], [`Liveness`], [`LinkState`], [`AwaitedCommand`], [`ClientStats`], [`decode_message`] |
//! | signed commands | [`KeyRing`], [`SigningKey`], [`Envelope`], [`sign_frames`], [`verify_signed_frames`], [`REFUSED_UNAUTHENTICATED`], [`REFUSED_STALE_OR_REPLAYED`], [`REFUSED_FORBIDDEN`], [`KEY_ENV`], [`ENVELOPE_VERSION`] |
//! | protocol generations | [`Generation`], [`v0_9`], [`v0_12`], [`Command`], [`EventKind`], [`WireCode`], [`Catalog`], [`UnknownGeneration`] |
//! | requests and replies | [`ApiCommand`], [`ApiCommandRequest`], [`ApiCommandRequestResponse`], [`ApiCommandRequestResult`], [`ApiCommandRequestServiceResponse`], [`ApiCommandRequestErrorKind`] |
//! | published messages | [`ApiTopic`], [`ApiEvent`], [`ApiEventKind`], [`HeartbeatMessage`] |
//! | payloads | [`decode_payload`], [`StatusResponse`], [`ApiAppStatus`], [`ApiTrainingMode`], [`ConfigurationResponse`], [`ApiSystemStatus`], [`ApiAlarmStatus`], [`ApiAlarmKind`], [`ApiDetectorStatus`], [`ApiDetectorKind`], [`HeadFixStatus`], [`PelletStatus`] |
//! | JSON as the reference writes it | [`to_camel_keys`], [`to_snake_keys`], [`to_python_json`] |
//! | telemetry and schemas | [`configure_telemetry`], [`TelemetryOptions`], [`TelemetryGuard`], [`wire_schemas`], [`WireSchema`] |
//! | errors and constants | [`Error`], [`UnknownCodeName`], `DEFAULT_*`, [`ERROR_CODE_STOPPED_WHILE_PENDING`], [`REQUEST_HARD_LIMIT_FACTOR`], [`DATA_SERIALIZATION_ERROR`], `TELEMETRY_*` |
//!
//! ## Embedding
//!
//! ```
//! use auto_trainer_api::*;
//!
//! let mut options = RpcOptions::default(); // 5556/5557, every IPv4 interface
//! # // Run as a test: 127.0.0.1 and free ports, so nothing else is in the way.
//! # let mut options = RpcOptions::loopback();
//! options.identifier = "rig-7".into();
//! let service = ZeroMqRpcService::new(options);
//!
//! service.set_delegate(|request: ApiCommandRequest, context: &RequestContext| {
//!     match request.command {
//!         ApiCommand::GetStatus => ApiCommandRequestResponse::success().with_data(&StatusResponse {
//!             app_status: ApiAppStatus::Idle,
//!             training_mode: ApiTrainingMode::Manual,
//!             animal_id: "m-001".into(),
//!         }),
//!         ApiCommand::StartAcquisition => {
//!             let done = context.accept_pending();
//!             std::thread::spawn(move || {
//!                 // ... start the cameras ...
//!                 let _ = done.complete(ApiCommandRequestResponse::success());
//!             });
//!             ApiCommandRequestResponse::pending_with_notification()
//!         }
//!         _ => ApiCommandRequestResponse::unrecognized(),
//!     }
//! });
//! service.start()?;
//! service.publish_event(ApiEvent::new(ApiEventKind::ApplicationLaunched, None))?;
//! // ... the app runs; its threads publish through service.publisher().clone() ...
//! service.stop();
//! # Ok::<(), auto_trainer_api::Error>(())
//! ```
#![deny(missing_docs)]

mod auth;
#[cfg(feature = "client")]
mod client;
mod counter;
mod error;
mod service;
mod telemetry;
mod threads;
mod transport;
mod validate;
mod wire;

pub use error::Error;

// The wire protocol, for both generations.
pub use wire::code::{Catalog, UnknownCodeName, WireCode};
pub use wire::command::{
    ApiCommandRequest, ApiCommandRequestErrorKind, ApiCommandRequestResponse,
    ApiCommandRequestResult, ApiCommandRequestServiceResponse, DATA_SERIALIZATION_ERROR,
};
pub use wire::defaults::{
    DEFAULT_COMMAND_PORT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDENTIFIER, DEFAULT_SUBSCRIBER_PORT,
};
pub use wire::event::ApiEvent;
pub use wire::generation::{Command, EventKind, Generation, UnknownGeneration};
pub use wire::heartbeat::HeartbeatMessage;
pub use wire::json::to_python_json;
pub use wire::keys::{to_camel_keys, to_snake_keys};
pub use wire::payload::decode_payload;
pub use wire::topic::ApiTopic;
pub use wire::{v0_12, v0_9};
// The 0.9.11 catalogs and payloads at the root, as before 0.12 was supported.
pub use wire::v0_9::{
    ApiAlarmKind, ApiAlarmStatus, ApiAppStatus, ApiCommand, ApiDetectorKind, ApiDetectorStatus,
    ApiEventKind, ApiSystemStatus, ApiTrainingMode, ConfigurationResponse, HeadFixStatus,
    PelletStatus, StatusResponse,
};

// Signed commands.
pub use auth::envelope::{sign_frames, verify_signed_frames, Envelope, ENVELOPE_VERSION};
pub use auth::gate::{REFUSED_FORBIDDEN, REFUSED_STALE_OR_REPLAYED, REFUSED_UNAUTHENTICATED};
pub use auth::keys::{KeyRing, SigningKey, KEY_ENV};

// The device side.
pub use service::deferred::{DeferredReply, ERROR_CODE_REPLY_TIMEOUT};
pub use service::delegate::{CommandRequestDelegate, RequestContext};
pub use service::dispatch::REQUEST_HARD_LIMIT_FACTOR;
pub use service::options::{create_default_api_options, ApiOptions, RpcOptions};
pub use service::pending::{CompletionHandle, PendingCommand, ERROR_CODE_STOPPED_WHILE_PENDING};
pub use service::publisher::Publisher;
pub use service::stats::ServiceStats;
pub use service::{create_api_service, RpcService, ZeroMqRpcService};

// The operator side.
#[cfg(feature = "client")]
pub use client::{
    decode_message, AwaitedCommand, BlockingDeviceClient, ClientOptions, ClientStats, CommandCall,
    DeviceClient, DeviceMessage, ForwardedReply, FrameStream, LinkState, Liveness, MessageStream,
    RawMessage, RawReason, ReceivedFrames,
};

// Telemetry and schemas.
pub use telemetry::{
    configure_telemetry, TelemetryGuard, TelemetryOptions, TELEMETRY_API_KEY_HEADER,
    TELEMETRY_SERVICE_NAME,
};
#[cfg(feature = "schema")]
pub use wire::schema::{wire_schemas, WireSchema};

/// Entry points for the fuzz targets in `fuzz/`. Compiled only by `cargo fuzz`
/// (`--cfg fuzzing`), so a normal build exposes nothing new.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// The service's request parser (commands as bare numbers, as the
    /// service reads them); `Err` holds the reply's `errorMessage`.
    pub fn parse_request(bytes: &[u8]) -> Result<crate::ApiCommandRequest<i64>, String> {
        crate::ApiCommandRequest::parse(bytes).map_err(|error| error.message)
    }

    /// Whether the request reader gives what parsing the whole object and
    /// converting its keys gave before it (the same request or the same
    /// error).
    pub fn request_readers_agree(bytes: &[u8]) -> bool {
        crate::ApiCommandRequest::parse(bytes) == crate::ApiCommandRequest::parse_whole(bytes)
    }

    /// Whether the signed-envelope reader's compact path, when it reads
    /// `bytes`, reads what the JSON parser does.
    pub fn envelope_readers_agree(bytes: &[u8]) -> bool {
        crate::auth::envelope::ReadEnvelope::compact_reader_agrees(bytes)
    }
}

/// The README's examples, compiled as doctests so they stay true.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
