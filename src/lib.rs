//! # auto-trainer-api
//!
//! Lets a lab acquisition app be watched and commanded from other machines
//! over ZeroMQ. A Rust port of the Python package `auto-trainer-api` 0.9.11:
//! Python consoles and services that speak to the reference speak to this
//! crate unchanged, byte for byte, except for the reference's defects this
//! crate fixes on purpose (see `README.md`).
//!
//! ## A tour
//!
//! - **Wire types** ([`ApiTopic`], [`ApiCommand`], [`ApiCommandRequest`],
//!   [`ApiCommandRequestResponse`], [`ApiCommandRequestServiceResponse`],
//!   [`ApiEvent`] with the whole [`ApiEventKind`] catalog, [`HeartbeatMessage`],
//!   [`StatusResponse`], [`ConfigurationResponse`], [`ApiSystemStatus`]): each
//!   integer code is declared once, converts to and from its number and its
//!   name, and keeps unknown numbers. JSON keys are camelCase on the wire and
//!   snake_case in the app ([`to_camel_keys`], [`to_snake_keys`]); values are
//!   never changed. [`to_python_json`] writes the reference's exact bytes.
//! - **The device side**: [`create_api_service`] builds a [`ZeroMqRpcService`]
//!   from [`ApiOptions`]; it implements [`RpcService`]: a PUB socket for
//!   events and heartbeats, a REP socket whose requests go to your
//!   [`CommandRequestDelegate`]. Slow commands answer
//!   `PENDING_WITH_NOTIFICATION` and complete later through a
//!   [`CompletionHandle`], which publishes the COMMAND_RESULT matched by nonce.
//! - **The operator side** ([`client`]): [`DeviceClient`] sends commands
//!   and returns typed replies, retrying lost ones on a fresh socket (Lazy
//!   Pirate); it decodes published messages into [`DeviceMessage`]s, awaits
//!   the results of pending commands by nonce and watches the device's
//!   [`Liveness`] from its heartbeats. [`BlockingDeviceClient`] wraps it for
//!   code without an async runtime.
//! - **Threads**: publish calls push into a bounded queue and return; one
//!   publisher thread owns the PUB socket; one command thread owns the REP
//!   socket. All libzmq code is in one private module, `transport`.
//! - **Telemetry** (cargo feature `telemetry`, off by default):
//!   [`configure_telemetry`] exports OpenTelemetry spans and metrics of
//!   requests, pending commands and published messages over OTLP/HTTP, as
//!   the reference does; the service records them through the global
//!   providers, so an app's own OpenTelemetry set-up works too. Without the
//!   feature the private module `telemetry` compiles to nothing.
//!
//! ## Embedding
//!
//! ```no_run
//! use auto_trainer_api::*;
//!
//! let mut options = create_default_api_options();
//! options.rpc.as_mut().unwrap().identifier = "rig-7".into();
//! let service = create_api_service(&options).expect("rpc is enabled");
//!
//! service.set_delegate(|request: ApiCommandRequest| match request.command {
//!     ApiCommand::GetStatus => ApiCommandRequestResponse::success().with_data(&StatusResponse {
//!         app_status: ApiAppStatus::Idle,
//!         training_mode: ApiTrainingMode::Manual,
//!         animal_id: "m-001".into(),
//!     }),
//!     ApiCommand::StartAcquisition => {
//!         let done = request.accept_pending();
//!         std::thread::spawn(move || {
//!             // ... start the cameras ...
//!             let _ = done.complete(ApiCommandRequestResponse::success());
//!         });
//!         ApiCommandRequestResponse::pending_with_notification()
//!     }
//!     _ => ApiCommandRequestResponse::unrecognized(),
//! });
//! service.start()?;
//! service.publish_event(ApiEvent::new(ApiEventKind::ApplicationLaunched, None))?;
//! // ... the app runs ...
//! service.stop();
//! # Ok::<(), auto_trainer_api::Error>(())
//! ```
#![deny(missing_docs)]

mod camel;
pub mod client;
mod clock;
mod error;
mod options;
mod service;
mod telemetry;
mod transport;
mod wire;

pub use camel::{camel_key, snake_key, to_camel_keys, to_snake_keys};
pub use client::{
    decode_message, decode_payload, AwaitedCommand, BlockingDeviceClient, ClientOptions,
    ClientStats, CommandCall, DeviceClient, DeviceMessage, LinkState, Liveness, MessageStream,
    RawMessage, RawReason,
};
pub use clock::{epoch_seconds, monotonic_nanos};
pub use error::Error;
pub use options::{
    create_default_api_options, ApiOptions, RpcOptions, TelemetryOptions, DEFAULT_COMMAND_PORT,
    DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDENTIFIER, DEFAULT_SUBSCRIBER_PORT,
};
pub use service::delegate::CommandRequestDelegate;
pub use service::dispatch::REQUEST_HARD_LIMIT_FACTOR;
pub use service::pending::{CompletionHandle, PendingCommand, ERROR_CODE_STOPPED_WHILE_PENDING};
pub use service::stats::ServiceStats;
pub use service::{create_api_service, RpcService, ZeroMqRpcService};
pub use telemetry::{
    configure_telemetry, TelemetryGuard, TELEMETRY_API_KEY_HEADER, TELEMETRY_SERVICE_NAME,
};
pub use wire::code::UnknownCodeName;
pub use wire::command::{
    ApiCommand, ApiCommandRequest, ApiCommandRequestErrorKind, ApiCommandRequestResponse,
    ApiCommandRequestResult, ApiCommandRequestServiceResponse, MalformedRequest,
    DATA_SERIALIZATION_ERROR,
};
pub use wire::event::{
    ApiAlarmKind, ApiAlarmStatus, ApiDetectorKind, ApiDetectorStatus, ApiEvent, ApiEventKind,
    ApiSystemStatus, HeadFixStatus, PelletStatus,
};
pub use wire::heartbeat::HeartbeatMessage;
pub use wire::json::{python_float_repr, to_python_json, PythonJsonFormatter};
pub use wire::schema::{wire_schemas, WireSchema};
pub use wire::status::{ApiAppStatus, ApiTrainingMode, ConfigurationResponse, StatusResponse};
pub use wire::topic::ApiTopic;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
