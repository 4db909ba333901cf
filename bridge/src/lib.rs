//! # auto-trainer-bridge
//!
//! Lets an app without ZeroMQ (a web page, a JavaScript app) be an
//! auto-trainer device: the bridge hosts the device's service (the ZeroMQ
//! PUB socket and command socket of `auto-trainer-api`) and hands every
//! command to the one app connected to it over Socket.IO, as the Python
//! reference's bridge (`autotrainer.api.bridge`, 0.10 to 0.12) does, on the
//! same Socket.IO events. What it does better is in the README ("The
//! Socket.IO bridge").
//!
//! ## A tour
//!
//! - [`BridgeOptions`] (`options.rs`): what the program's flags set, checked
//!   once at start.
//! - `origin.rs`: the browser-origin allow-list, enforced on every HTTP
//!   request (long-polling and the WebSocket upgrade alike) before Socket.IO
//!   sees it, and the CORS headers for the origins on it.
//! - `device.rs`: the connected app (one at most) and the commands it owes
//!   an answer. The service's delegate defers each command's reply
//!   ([`auto_trainer_api::RequestContext::defer`]) and emits it to the app,
//!   so the service's command loop never waits for a browser; the app's
//!   `commandResult` sends the reply, or accepts the command as pending and
//!   later publishes its COMMAND_RESULT.
//! - `event.rs`: `sendApiEvent` payloads checked against the event catalog
//!   (and, in 0.12, the typed contexts) of the configured generation before
//!   they are published.
//! - [`Bridge`] (`server.rs`): the service, the Socket.IO handlers and the
//!   HTTP server (axum, with `GET /health`), started together and stopped
//!   together.
//!
//! The Socket.IO protocol, as the reference's:
//!
//! | event | direction | payload |
//! |---|---|---|
//! | [`COMMAND_REQUEST`] | bridge to app | `{"command", "customCommand", "nonce", "data"}` (camelCase keys) |
//! | [`COMMAND_RESULT`] | app to bridge | `{"nonce", "result", "data", "errorCode", "errorMessage"}` |
//! | [`SEND_API_EVENT`] | app to bridge | `{"kind", "context", "when"?, "index"?, "repeat"?}` |
//! | [`BRIDGE_ERROR`] | bridge to app | `{"event", "error", "nonce"?}`: a refused `commandResult` or `sendApiEvent` (ours) |
#![deny(missing_docs)]

mod device;
mod event;
mod options;
mod origin;
mod server;

pub use options::{BridgeOptions, DEFAULT_COMMAND_TIMEOUT, DEFAULT_HTTP_PORT};
pub use server::{Bridge, BridgeError};

/// The event that carries a command to the app:
/// `{"command", "customCommand", "nonce", "data"}`.
pub const COMMAND_REQUEST: &str = "commandRequest";
/// The event that carries the app's answer to a command, matched by nonce.
pub const COMMAND_RESULT: &str = "commandResult";
/// The event whose payload the bridge publishes as an EVENT (and first as an
/// EMERGENCY for emergencyStop and emergencyResume).
pub const SEND_API_EVENT: &str = "sendApiEvent";
/// The event that tells the app why its `commandResult` or `sendApiEvent`
/// was refused: `{"event": "<the refused event>", "error": "<why>"}`, with
/// the `nonce` of a refused `commandResult` when it could be read.
pub const BRIDGE_ERROR: &str = "bridgeError";
