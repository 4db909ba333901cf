//! Options of the device side, with the reference's defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::validate::OptionsCheck;
use crate::{
    Generation, KeyRing, TelemetryOptions, DEFAULT_COMMAND_PORT, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_IDENTIFIER, DEFAULT_SUBSCRIBER_PORT,
};

/// Everything the library can be configured with (`ApiOptions` of the
/// reference). The default enables the service with [`RpcOptions::default`]
/// and leaves telemetry off, as [`create_default_api_options`] does.
///
/// ```
/// use auto_trainer_api::{create_default_api_options, ApiOptions};
/// assert_eq!(ApiOptions::default(), create_default_api_options());
/// assert!(ApiOptions::default().rpc.unwrap().enable);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ApiOptions {
    /// The command and event service; `None` or `enable == false` means no service.
    pub rpc: Option<RpcOptions>,
    /// OpenTelemetry export.
    pub telemetry: Option<TelemetryOptions>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            rpc: Some(RpcOptions::default()),
            telemetry: Some(TelemetryOptions::default()),
        }
    }
}

/// The reference's `create_default_api_options()`: the same as
/// [`ApiOptions::default`].
pub fn create_default_api_options() -> ApiOptions {
    ApiOptions::default()
}

/// Options of the ZeroMQ service. Fields are public; start from
/// `RpcOptions::default()` and change what you need. They are checked once,
/// when the service starts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RpcOptions {
    /// Whether [`crate::create_api_service`] creates a service at all.
    pub enable: bool,
    /// Sent in every heartbeat so operators can tell devices apart.
    pub identifier: String,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// A heartbeat means "serving": while the command thread has spent longer
    /// than this on one request (a delegate that blocks), heartbeats are
    /// withheld, so operators see the device go offline, until it answers.
    /// Default 5 s.
    pub command_stall_limit: Duration,
    /// TCP port of the PUB socket; 0 picks a free port (see
    /// [`crate::RpcService::subscriber_port`]).
    pub subscriber_port: u16,
    /// TCP port of the REP socket; 0 picks a free port.
    pub command_port: u16,
    /// Interfaces to bind, as IP addresses or interface names understood by
    /// libzmq. Default: `0.0.0.0`, every IPv4 interface.
    pub bind_addresses: Vec<String>,
    /// Messages the publishing queue holds for ordinary topics. When it is
    /// full, a new ordinary message is dropped and counted (drop-newest);
    /// the publish call returns [`crate::Error::QueueFull`]. Default 200 000,
    /// so a burst of 100 000 events is absorbed.
    pub queue_capacity: usize,
    /// The most memory the waiting ordinary messages may hold, estimated
    /// from their size (text plus a fixed cost per JSON node); past it, new
    /// ordinary messages are dropped as when the queue is full. Default
    /// 80 MiB: an event of 150 bytes on the wire is counted as about 700
    /// bytes in memory (its JSON nodes), so a burst of 100 000 takes about
    /// 67 MiB, absorbed even if nothing is sent meanwhile.
    pub queue_capacity_bytes: usize,
    /// Extra room kept for emergency messages and command results, which
    /// are never dropped for ordinary traffic. If even this room is used up,
    /// their publish call returns [`crate::Error::QueueFull`].
    pub critical_reserve: usize,
    /// Largest request the service reads; a longer one gets an error reply.
    /// libzmq closes the connection of a peer that sends a frame longer than
    /// [`crate::REQUEST_HARD_LIMIT_FACTOR`] times this, before reading it.
    /// Default 256 KiB: commands are small, and what a peer can make libzmq
    /// hold grows with this (see the README's reliability section).
    pub max_request_bytes: usize,
    /// Messages libzmq keeps per subscriber before dropping for that
    /// subscriber (ZMQ_SNDHWM); a stalled subscriber costs at most this many.
    /// Default 10 000, so a healthy subscriber keeps up with bursts as large
    /// as the queue (libzmq's own default of 1 000 loses some).
    pub send_high_water_mark: i32,
    /// How long `stop` lets queued frames drain to connected peers.
    pub linger: Duration,
    /// The protocol generation this device speaks: its replies' spacing,
    /// its heartbeat's `version`, whether `repeat` is in its events, how it
    /// answers NONE and which catalog names its commands in logs, telemetry
    /// and [`crate::PendingCommand`]. Default [`Generation::V0_9`]
    /// (0.9.11), as every version of this crate before spoke.
    pub protocol: Generation,
    /// Keys for signed commands (PROTOCOL.md): with keys, every request
    /// must be signed by one of them, fresh and never seen, and be allowed by
    /// the key's role; others are refused (errorCode 401, 409 or 403) and
    /// never reach the delegate. `None` (the default): no request is
    /// checked, as with the reference. See also [`Self::key_file`].
    pub keys: Option<KeyRing>,
    /// A key file (TOML, see [`KeyRing`]) read at start and by
    /// [`crate::ZeroMqRpcService::reload_keys`]; when set, its keys replace
    /// [`Self::keys`].
    pub key_file: Option<PathBuf>,
    /// How far a signed request's `ts` may be from the device's clock, either
    /// way; also how long its signature is remembered against replays.
    /// Default 30 s.
    pub signature_window: Duration,
}

impl Default for RpcOptions {
    fn default() -> Self {
        Self {
            enable: true,
            identifier: DEFAULT_IDENTIFIER.to_owned(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            command_stall_limit: Duration::from_secs(5),
            subscriber_port: DEFAULT_SUBSCRIBER_PORT,
            command_port: DEFAULT_COMMAND_PORT,
            bind_addresses: vec!["0.0.0.0".to_owned()],
            queue_capacity: 200_000,
            queue_capacity_bytes: 80 * 1024 * 1024,
            critical_reserve: 1_000,
            max_request_bytes: 256 * 1024,
            send_high_water_mark: 10_000,
            linger: Duration::from_secs(1),
            protocol: Generation::default(),
            keys: None,
            key_file: None,
            signature_window: Duration::from_secs(30),
        }
    }
}

impl RpcOptions {
    /// Options for a service bound to 127.0.0.1 on free ports: handy in tests
    /// and tools on one machine.
    pub fn loopback() -> Self {
        Self {
            subscriber_port: 0,
            command_port: 0,
            bind_addresses: vec!["127.0.0.1".to_owned()],
            ..Self::default()
        }
    }

    /// Checks the options, saying what is wrong.
    ///
    /// # Errors
    /// [`crate::Error::InvalidOptions`] for an empty identifier or bind list,
    /// a zero heartbeat interval, queue capacity or request size.
    pub fn validate(&self) -> Result<(), crate::Error> {
        OptionsCheck::new()
            .not_empty("identifier", &self.identifier)
            .positive_duration("heartbeat_interval", self.heartbeat_interval)
            .positive_duration("command_stall_limit", self.command_stall_limit)
            .require(!self.bind_addresses.is_empty(), || {
                "bind_addresses must list at least one address".to_owned()
            })
            .positive("queue_capacity", self.queue_capacity as u64)
            .positive("queue_capacity_bytes", self.queue_capacity_bytes as u64)
            .positive("max_request_bytes", self.max_request_bytes as u64)
            .positive_duration("signature_window", self.signature_window)
            .finish()
    }
}
