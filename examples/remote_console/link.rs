//! Where the console's commands go and its messages come from: one device
//! over ZeroMQ (its PUB and command ports), or one rig of the fleet through
//! NATS (`--nats <url> --rig <name>`, a gateway relaying). The prompt and
//! the one-shot modes only see a [`Link`], so every command, reply and
//! message is handled and printed the same way on both.

use std::time::Duration;

use auto_trainer_api::{
    ApiCommandRequestResponse, ApiCommandRequestServiceResponse, AwaitedCommand, ClientOptions,
    CommandCall, DeviceClient, DeviceMessage, Error, Generation, Liveness, MessageStream,
};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::args::Args;
use crate::common::text::error_chain;
use crate::fleet::{check_rig_name, Fleet, FleetRig, RigMessages, RigState};
use crate::signing_key;
use crate::{EXIT_NO_ANSWER, EXIT_USAGE};

/// A device, directly or through the fleet. Cheap to clone.
#[derive(Clone)]
pub enum Link {
    Device(DeviceClient),
    Rig(FleetRig),
}

/// A command's reply.
pub struct Answer {
    pub reply: ApiCommandRequestServiceResponse,
    /// Set when a gateway answered for the rig instead of the rig itself
    /// (its `Autotrainer-Error` header: `offline`, `timeout`,
    /// `unknown-rig`, `malformed`).
    pub relay_error: Option<String>,
}

impl Answer {
    /// Whether nobody answered: the gateway said the rig is offline or did
    /// not answer in time.
    pub fn unanswered(&self) -> bool {
        matches!(self.relay_error.as_deref(), Some("offline" | "timeout"))
    }
}

/// Why a command got no reply.
#[derive(Debug)]
pub enum SendError {
    /// As the device client reports it (also a NATS request that timed out).
    Api(Error),
    /// Nothing answers requests on the rig's command subject.
    NoGateway { subject: String },
    /// The NATS connection failed.
    Nats(String),
}

impl SendError {
    /// Whether no answer came (exit code 3), rather than a wrong one.
    pub fn unanswered(&self) -> bool {
        match self {
            Self::Api(error) => matches!(
                error,
                Error::RequestTimeout { .. } | Error::Transport { .. } | Error::ClientClosed
            ),
            Self::NoGateway { .. } | Self::Nats(_) => true,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(error) => error.fmt(f),
            Self::NoGateway { subject } => write!(
                f,
                "no gateway answers on {subject} (is one running, and does it bridge this rig?)"
            ),
            Self::Nats(text) => write!(f, "NATS: {text}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api(error) => error.source(),
            _ => None,
        }
    }
}

impl From<Error> for SendError {
    fn from(error: Error) -> Self {
        Self::Api(error)
    }
}

/// What is known of whether the device is there.
pub enum Presence {
    Device(Liveness),
    /// The rig's state in the bucket; `None` before a gateway wrote it.
    Rig(Option<Box<RigState>>),
}

/// Changes of [`Presence`].
pub enum PresenceWatch {
    Device(watch::Receiver<Liveness>),
    Rig(watch::Receiver<Option<RigState>>),
}

impl PresenceWatch {
    /// Waits for a change; `false` once the link is closed.
    pub async fn changed(&mut self) -> bool {
        match self {
            Self::Device(watch) => watch.changed().await.is_ok(),
            Self::Rig(watch) => watch.changed().await.is_ok(),
        }
    }

    /// The latest value, marked seen.
    pub fn current(&mut self) -> Presence {
        match self {
            Self::Device(watch) => Presence::Device(watch.borrow_and_update().clone()),
            Self::Rig(watch) => Presence::Rig(watch.borrow_and_update().clone().map(Box::new)),
        }
    }
}

/// The device's messages from now on.
pub enum Messages {
    Device(MessageStream),
    Rig(RigMessages),
}

impl Messages {
    /// The next message; `None` once the link is closed.
    pub async fn recv(&mut self) -> Option<DeviceMessage> {
        match self {
            Self::Device(stream) => stream.recv().await,
            Self::Rig(stream) => stream.recv().await,
        }
    }
}

impl Link {
    /// Connects as the arguments say: to the device's ports, or with
    /// `--nats` to the rig of `--rig`. The error is the exit code and the
    /// message.
    pub async fn connect(args: &Args) -> Result<Self, (u8, String)> {
        match (&args.nats, &args.rig) {
            (Some(url), Some(rig)) => {
                check_rig_name(rig).map_err(|message| (EXIT_USAGE, message))?;
                let fleet = Fleet::connect(args, url)
                    .await
                    .map_err(|message| (EXIT_NO_ANSWER, message))?;
                fleet
                    .rig(rig, args)
                    .map(Link::Rig)
                    .map_err(|message| (EXIT_USAGE, message))
            }
            (Some(_), None) => Err((
                EXIT_USAGE,
                "--nats needs --rig <name> (or the fleet subcommand)".into(),
            )),
            (None, _) => {
                let usage = |error: Error| (EXIT_USAGE, error_chain(&error));
                let mut options =
                    ClientOptions::new(args.host.clone()).with_ports(args.pub_port, args.cmd_port);
                options.signing = signing_key(args).map_err(usage)?;
                options.request_timeout = args.timeout.0;
                options.retries = args.retries;
                options.protocol = args.protocol.0;
                // Invalid options (such as a zero --timeout) are a usage error too.
                DeviceClient::connect(options)
                    .map(Link::Device)
                    .map_err(usage)
            }
        }
    }

    /// The device's name for lines about it until it says its own: the
    /// host, or the rig.
    pub fn name(&self) -> &str {
        match self {
            Self::Device(client) => &client.options().host,
            Self::Rig(rig) => rig.name(),
        }
    }

    /// What the console is connected to, for its first line.
    pub fn describe(&self) -> String {
        match self {
            Self::Device(client) => {
                let options = client.options();
                format!(
                    "{} (events on port {}, commands on port {})",
                    options.host, options.subscriber_port, options.command_port
                )
            }
            Self::Rig(rig) => rig.describe(),
        }
    }

    /// How long a command waits for its reply.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Device(client) => client.options().request_timeout,
            Self::Rig(rig) => rig.timeout(),
        }
    }

    /// The generation the device's codes are read with, when known.
    pub fn generation(&self) -> Option<Generation> {
        match self {
            Self::Device(client) => client.generation(),
            Self::Rig(rig) => rig.generation(),
        }
    }

    /// The generation commands are named in: the one fixed by
    /// `--protocol`, else the one the device announces. When none is known
    /// yet, waits up to `patience` for it, then falls back to 0.9 with a
    /// warning (returned for the caller to show).
    pub async fn command_generation(&self, patience: Duration) -> (Generation, Option<String>) {
        if self.generation().is_none() {
            match self {
                Self::Device(client) => {
                    let mut liveness = client.liveness();
                    let known = liveness.wait_for(|l| l.generation.is_some());
                    let _ = tokio::time::timeout(patience, known).await;
                }
                Self::Rig(rig) => rig.wait_for_generation(patience).await,
            }
        }
        match self.generation() {
            Some(generation) => (generation, None),
            None => (
                Generation::V0_9,
                Some(format!(
                    "no heartbeat within {:.1} s told the device's protocol; naming commands as \
                     in 0.9 (choose with --protocol)",
                    patience.as_secs_f64()
                )),
            ),
        }
    }

    /// Sends a command and returns its reply, whatever its result.
    pub async fn send(&self, call: CommandCall) -> Result<Answer, SendError> {
        match self {
            Self::Device(client) => Ok(Answer {
                reply: client.send(call).await?,
                relay_error: None,
            }),
            Self::Rig(rig) => rig.send(call).await,
        }
    }

    /// Waits for the COMMAND_RESULT of this console's pending command `nonce`.
    pub async fn wait_for_result(
        &self,
        nonce: i64,
        timeout: Duration,
    ) -> Result<ApiCommandRequestResponse, Error> {
        match self {
            Self::Device(client) => client.wait_for_result(nonce, timeout).await,
            Self::Rig(rig) => rig.wait_for_result(nonce, timeout).await,
        }
    }

    /// This console's commands still waiting for their result, oldest first.
    pub fn awaited_commands(&self) -> Vec<AwaitedCommand> {
        match self {
            Self::Device(client) => client.awaited_commands(),
            Self::Rig(rig) => rig.awaited_commands(),
        }
    }

    /// The device's messages from now on.
    pub async fn subscribe(&self) -> Result<Messages, SendError> {
        match self {
            Self::Device(client) => Ok(Messages::Device(client.subscribe())),
            Self::Rig(rig) => rig.subscribe().await.map(Messages::Rig),
        }
    }

    /// Whether the device is there, to read or watch.
    pub fn presence(&self) -> PresenceWatch {
        match self {
            Self::Device(client) => PresenceWatch::Device(client.liveness()),
            Self::Rig(rig) => PresenceWatch::Rig(rig.state()),
        }
    }

    /// The connection's counters, as a line and as JSON.
    pub fn counters(&self) -> (String, Value) {
        match self {
            Self::Device(client) => {
                let stats = client.stats();
                let text = format!(
                    "messages {} (raw {}, malformed {}, skipped {}), PUB connections {}, \
                     requests {}, replies {}, timeouts {}, invalid replies {}",
                    stats.messages_received,
                    stats.raw_messages,
                    stats.malformed_messages,
                    stats.lagged_messages,
                    stats.publisher_connections,
                    stats.requests_sent,
                    stats.replies_received,
                    stats.request_timeouts,
                    stats.invalid_replies
                );
                let value = json!({"type": "stats", "messagesReceived": stats.messages_received,
                       "rawMessages": stats.raw_messages, "malformedMessages": stats.malformed_messages,
                       "requestTimeouts": stats.request_timeouts});
                (text, value)
            }
            Self::Rig(rig) => rig.counters(),
        }
    }

    /// Closes the connection (the device client's threads stop; the NATS
    /// connection goes with the runtime).
    pub fn close(&self) {
        if let Self::Device(client) = self {
            client.close();
        }
    }
}
