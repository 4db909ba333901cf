//! The crate's error type.

use crate::ApiTopic;

/// The underlying error of a transport failure (libzmq's), kept as the
/// [`std::error::Error::source`] of an [`Error`].
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options cannot work; fix the named field.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A socket could not be bound: the port is in use or the address is not
    /// one of this machine's. Choose another port or address; the source
    /// says which it was.
    #[error("cannot bind {endpoint}")]
    Bind {
        /// The endpoint that failed, e.g. `tcp://0.0.0.0:5556`.
        endpoint: String,
        /// libzmq's error.
        #[source]
        source: Cause,
    },
    /// A socket could not connect to a device: the host cannot be used in an
    /// address (libzmq resolves names when it connects).
    #[error("cannot connect to {endpoint}")]
    Connect {
        /// The endpoint that failed, e.g. `tcp://rig-7.lab:5557`.
        endpoint: String,
        /// libzmq's error.
        #[source]
        source: Cause,
    },
    /// A ZeroMQ operation failed.
    #[error("ZeroMQ failed to {action}")]
    Transport {
        /// What was being done, e.g. `create a socket`.
        action: &'static str,
        /// libzmq's error.
        #[source]
        source: Cause,
    },
    /// A thread the library needs could not be started (the process is out
    /// of threads or memory). Nothing was started; try again later.
    #[error("cannot start the {thread} thread")]
    Spawn {
        /// Which thread, e.g. `command`.
        thread: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `start` was called on a service that was started before. A stopped
    /// service cannot restart: create a new one.
    #[error("the service was already started; create a new one to start again")]
    AlreadyStarted,
    /// The service is not running (not started yet, or stopped), so nothing
    /// can be published or completed.
    #[error("the service is not running")]
    NotRunning,
    /// The publishing queue is full; the message was not accepted and is counted.
    #[error("the publishing queue is full; message on {topic} not accepted")]
    QueueFull {
        /// The topic of the message that was refused.
        topic: ApiTopic,
    },
    /// A pending command was completed already (or settled when the service stopped).
    #[error("the pending command with nonce {nonce} was already completed")]
    AlreadyCompleted {
        /// The command's nonce.
        nonce: i64,
    },
    /// A deferred reply was settled already: sent through another handle,
    /// answered with the timeout reply at its deadline, or answered when
    /// the service stopped.
    #[error("the deferred reply to nonce {nonce} was settled already")]
    ReplyClosed {
        /// The request's nonce.
        nonce: i64,
    },
    /// No pending command has this nonce.
    #[error("no pending command has nonce {nonce}")]
    UnknownNonce {
        /// The nonce that was asked for.
        nonce: i64,
    },
    /// A message could not be converted to JSON.
    #[error("cannot serialize the message: {0}")]
    Serialize(#[from] serde_json::Error),
    /// No attempt of a command got a reply in time. The device may be down,
    /// busy or unreachable, and may still have carried the command out. The
    /// client reopened its command socket; the next call starts afresh.
    #[error("no reply to {command} (nonce {nonce}) after {attempts} attempt(s) of {timeout:?}")]
    RequestTimeout {
        /// The command that was sent.
        command: crate::Command,
        /// Its nonce.
        nonce: i64,
        /// How many times it was sent.
        attempts: u32,
        /// How long each attempt waited.
        timeout: std::time::Duration,
    },
    /// The device's reply could not be read, or it answers another nonce.
    #[error("invalid reply from the device: {0}")]
    InvalidReply(String),
    /// The COMMAND_RESULT of a pending command did not arrive in time. It
    /// may still come: waiting again for the same nonce is fine.
    #[error("no result for nonce {nonce} within {timeout:?}")]
    ResultTimeout {
        /// The command's nonce.
        nonce: i64,
        /// How long the caller waited.
        timeout: std::time::Duration,
    },
    /// The client was closed; create a new one.
    #[error("the client is closed")]
    ClientClosed,
    /// A key or key file is unusable; the text says why.
    #[error("keys: {0}")]
    Keys(String),
    /// The device refused a signed request (errorCode 401, 409 or 403), or
    /// answered a signed request unsigned, which a client takes as a
    /// refusal whatever it says.
    #[error("the device refused the request (error code {code}): {message}")]
    Refused {
        /// The reply's errorCode (0 when an unsigned reply said nothing of one).
        code: i64,
        /// The reply's errorMessage, or what was wrong with the reply.
        message: String,
    },
    /// Bytes given to be forwarded as a command request are not one (a
    /// device would answer them UNRECOGNIZED); the text says why.
    #[error("not a command request: {0}")]
    InvalidRequest(String),
}
