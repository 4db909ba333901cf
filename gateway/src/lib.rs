//! The fleet gateway: puts every rig of a lab on NATS (FLEET.md).
//!
//! ```text
//!   rig-1 (PUB, REP) ──┐                        ┌── P.<rig>.event …  → stream AUTOTRAINER
//!   rig-2 (PUB, REP) ──┼── auto-trainer-gateway ┼── bucket autotrainer_rigs (online, heartbeat, …)
//!   rig-N (PUB, REP) ──┘   one SUB + one REQ    └── P.<rig>.command (requests, queue group)
//!                          per rig
//! ```
//!
//! For each configured rig the gateway runs the library's operator client
//! ([`auto_trainer_api::DeviceClient`]: one SUB and one REQ, each owned by
//! one thread, Lazy Pirate on the REQ) and:
//! - republishes every message the rig publishes, body unchanged, on
//!   `P.<rig>.<heartbeat|emergency|event|property|result.<nonce>|topic.<n>>`
//!   with the headers of [`subjects`] and a `Nats-Msg-Id` from the rig, the
//!   topic and the bytes alone (two gateways' copies are stored once);
//! - keeps the rig's record in the bucket (online from heartbeats, `link`
//!   events when that changes);
//! - answers NATS requests on `P.<rig>.command` with the rig's reply bytes,
//!   or a well-formed UNAVAILABLE reply when the rig is offline, unknown or
//!   silent.
//!
//! With `[gateway] http`, it also serves the dashboard: a web page and an
//! HTTP API (rigs, commands, events as Server-Sent Events, OpenAPI at
//! `/api/openapi.json`) for the operators of `[[operator]]`.
//!
//! Nothing on the NATS side can hold up a rig: messages wait in one bounded
//! buffer (`[gateway] buffer`), and what does not fit is dropped and counted
//! in the status (`P.gateway.<name>.status`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auto_trainer_gateway::{run, Config};
//! let config = Config::load(std::path::Path::new("gateway.toml"))?;
//! let (_reload, reloads) = tokio::sync::mpsc::channel(1);
//! run(config, None, reloads, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod config;
mod dashboard;
mod gateway;
#[cfg(feature = "telemetry")]
mod metrics;
pub mod nats;
pub mod rig;
pub mod subjects;

pub use config::{Config, ConfigError};
pub use gateway::{run, GatewayError, GatewayStatus, NatsStatus, RigStatus};
pub use subjects::Subjects;
