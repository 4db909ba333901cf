//! Options of a [`crate::DeviceClient`] and of one command call.

use std::time::Duration;

use serde_json::Value;

use crate::validate::OptionsCheck;
use crate::{
    ApiTopic, Command, Error, Generation, SigningKey, DEFAULT_COMMAND_PORT,
    DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_SUBSCRIBER_PORT,
};

/// How a [`crate::DeviceClient`] reaches a device and how patient it is.
/// Fields are public; start from `ClientOptions::default()` (or
/// [`ClientOptions::new`]) and change what you need. They are checked once,
/// by [`crate::DeviceClient::connect`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The device's host name or IP address. Default `127.0.0.1`.
    pub host: String,
    /// The device's PUB port (events). Default [`DEFAULT_SUBSCRIBER_PORT`].
    pub subscriber_port: u16,
    /// The device's REP port (commands). Default [`DEFAULT_COMMAND_PORT`].
    pub command_port: u16,
    /// How long one attempt of a command waits for its reply. Default 5 s.
    pub request_timeout: Duration,
    /// How many times a command whose reply did not come is sent again, each
    /// time on a fresh socket and with the same nonce. Default 0: a command
    /// such as `START_ACQUISITION` is not idempotent, and the device may have
    /// carried it out even though its reply was lost. Raise it (globally here,
    /// or per call with [`CommandCall::retries`]) for commands that are safe
    /// to repeat, such as `GET_STATUS`.
    pub retries: u32,
    /// Topics to receive; empty (the default) means every topic. HEARTBEAT
    /// and COMMAND_RESULT are always received, since liveness and pending
    /// commands need them.
    pub topics: Vec<ApiTopic>,
    /// The device's heartbeat interval, if known. `None` (the default): learn
    /// it from the spacing of heartbeats, assuming
    /// [`crate::DEFAULT_HEARTBEAT_INTERVAL`] until two have arrived.
    pub heartbeat_interval: Option<Duration>,
    /// The device counts as offline after this many heartbeat intervals
    /// without a heartbeat. Default 3.
    pub missed_heartbeats: u32,
    /// How many COMMAND_RESULTs are kept by nonce for callers that start
    /// waiting after the result arrived (oldest evicted first); also the most
    /// commands tracked as awaiting their result. Default 256.
    pub result_capacity: usize,
    /// Messages buffered for each [`crate::MessageStream`]; a stream that
    /// falls further behind skips the oldest (counted in
    /// [`crate::ClientStats::lagged_messages`]). Default 1024.
    pub message_buffer: usize,
    /// Largest frame accepted from the device; libzmq drops the connection
    /// of a peer that sends a longer one, and the client connects again (a
    /// longer reply times out; a longer published message is lost). Default
    /// 16 MiB.
    pub max_message_bytes: usize,
    /// The device's protocol generation. `None` (the default): detected
    /// from its heartbeats' `version` ([`crate::Generation::from_version`]);
    /// until the first heartbeat, event kinds and commands are kept as
    /// numbers ([`crate::EventKind::Undetected`]). `Some`: always that one,
    /// whatever the heartbeats say.
    pub protocol: Option<Generation>,
    /// Signs every request with this key (signed commands, PROTOCOL.md):
    /// for a device that has keys. Replies must then be signed with the
    /// same key; an unsigned one is [`crate::Error::Refused`], a forged one
    /// [`crate::Error::InvalidReply`]. See [`SigningKey::from_key_file`] and
    /// [`SigningKey::from_env`]. Default `None`.
    pub signing: Option<SigningKey>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            subscriber_port: DEFAULT_SUBSCRIBER_PORT,
            command_port: DEFAULT_COMMAND_PORT,
            request_timeout: Duration::from_secs(5),
            retries: 0,
            topics: Vec::new(),
            heartbeat_interval: None,
            missed_heartbeats: 3,
            result_capacity: 256,
            message_buffer: 1024,
            max_message_bytes: 16 * 1024 * 1024,
            protocol: None,
            signing: None,
        }
    }
}

impl ClientOptions {
    /// Options for the device at `host` on the default ports.
    ///
    /// ```
    /// use auto_trainer_api::{ClientOptions, DEFAULT_COMMAND_PORT};
    /// let options = ClientOptions::new("rig-7.lab");
    /// assert_eq!(options.command_port, DEFAULT_COMMAND_PORT);
    /// assert_eq!(options.endpoints().1, "tcp://rig-7.lab:5557");
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            ..Self::default()
        }
    }

    /// These options with other ports.
    pub fn with_ports(mut self, subscriber_port: u16, command_port: u16) -> Self {
        self.subscriber_port = subscriber_port;
        self.command_port = command_port;
        self
    }

    /// The PUB and REP endpoints, as libzmq addresses.
    pub fn endpoints(&self) -> (String, String) {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host) // an IPv6 literal
        } else {
            self.host.clone()
        };
        (
            format!("tcp://{host}:{}", self.subscriber_port),
            format!("tcp://{host}:{}", self.command_port),
        )
    }

    /// Checks the options, saying what is wrong.
    ///
    /// # Errors
    /// [`Error::InvalidOptions`] for an empty host (or one with a NUL or
    /// whitespace), a zero port, timeout, heartbeat interval, missed count,
    /// result capacity, message buffer or message size.
    pub fn validate(&self) -> Result<(), Error> {
        OptionsCheck::new()
            .not_empty("host", &self.host)
            .require(
                !self
                    .host
                    .chars()
                    .any(|c| c == '\0' || c.is_whitespace() || c == '/'),
                || "host must be a host name or IP address".to_owned(),
            )
            .positive("subscriber_port", u64::from(self.subscriber_port))
            .positive("command_port", u64::from(self.command_port))
            .positive_duration("request_timeout", self.request_timeout)
            .positive_duration(
                "heartbeat_interval",
                self.heartbeat_interval
                    .unwrap_or(DEFAULT_HEARTBEAT_INTERVAL),
            )
            .positive("missed_heartbeats", u64::from(self.missed_heartbeats))
            .positive("result_capacity", self.result_capacity as u64)
            .positive("message_buffer", self.message_buffer as u64)
            .positive("max_message_bytes", self.max_message_bytes as u64)
            .finish()
    }
}

/// One command to send, with optional per-call settings. The command is of
/// either generation's catalog (or a bare number, `Command::Undetected`):
/// its number is what is sent.
///
/// ```
/// use auto_trainer_api::{v0_12, ApiCommand, CommandCall};
/// use serde_json::json;
/// let call = CommandCall::new(ApiCommand::UserDefined)
///     .custom_command(7)
///     .data(json!({"valve_id": 2}))
///     .retries(1);
/// assert_eq!(call.command, ApiCommand::UserDefined);
/// let mode = CommandCall::new(v0_12::ApiCommand::SetApplicationMode).data(json!({"mode": 100}));
/// assert_eq!(mode.command.value(), 120);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandCall {
    /// The command.
    pub command: Command,
    /// Its arguments, with snake_case keys (camelized on the wire).
    pub data: Option<Value>,
    /// The sub-command of `USER_DEFINED`; -1 for none.
    pub custom_command: i64,
    /// Overrides [`ClientOptions::request_timeout`] for this call.
    pub timeout: Option<Duration>,
    /// Overrides [`ClientOptions::retries`] for this call.
    pub retries: Option<u32>,
}

impl CommandCall {
    /// A call of `command` with no data and the client's settings.
    pub fn new(command: impl Into<Command>) -> Self {
        Self {
            command: command.into(),
            data: None,
            custom_command: -1,
            timeout: None,
            retries: None,
        }
    }

    /// This call with `data` (snake_case keys).
    pub fn data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// This call with an optional `data`.
    pub fn maybe_data(mut self, data: Option<Value>) -> Self {
        self.data = data;
        self
    }

    /// This call with a `customCommand`.
    pub fn custom_command(mut self, custom_command: i64) -> Self {
        self.custom_command = custom_command;
        self
    }

    /// This call with its own timeout per attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// This call with its own retry count.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }
}

impl From<crate::v0_9::ApiCommand> for CommandCall {
    fn from(command: crate::v0_9::ApiCommand) -> Self {
        Self::new(command)
    }
}

impl From<crate::v0_12::ApiCommand> for CommandCall {
    fn from(command: crate::v0_12::ApiCommand) -> Self {
        Self::new(command)
    }
}

impl From<Command> for CommandCall {
    fn from(command: Command) -> Self {
        Self::new(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(ClientOptions::default().validate().is_ok());
        let mut options = ClientOptions::new("bad\0host");
        assert!(matches!(options.validate(), Err(Error::InvalidOptions(m)) if m.contains("host")));
        options.host = "::1".into();
        assert_eq!(options.endpoints().0, "tcp://[::1]:5556");
        options.request_timeout = Duration::ZERO;
        assert!(options.validate().is_err());
    }
}
