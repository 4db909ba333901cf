//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use auto_trainer_api::{
    Generation, RpcOptions, DEFAULT_COMMAND_PORT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDENTIFIER,
    DEFAULT_SUBSCRIBER_PORT,
};
use clap::Parser;

use crate::common::duration::DurationArg;

/// A stand-in acquisition app serving the auto-trainer API over ZeroMQ.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Device identifier sent in every heartbeat.
    #[arg(long, default_value = DEFAULT_IDENTIFIER)]
    pub identifier: String,

    /// TCP port of the PUB socket (events, heartbeats, results).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_SUBSCRIBER_PORT)]
    pub pub_port: u16,

    /// TCP port of the REP socket (commands).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_COMMAND_PORT)]
    pub cmd_port: u16,

    /// Interface to bind, as an IP address; repeat or separate with commas
    /// for several. Beyond loopback without --keys, anyone who reaches the
    /// command port can command the device (a warning says so at start).
    /// [default: every IPv4 interface]
    #[arg(long = "bind", value_name = "ADDRESS", value_delimiter = ',')]
    pub bind: Vec<String>,

    /// Accept only commands signed with a key of this key file (TOML:
    /// `[[key]]` entries with id, secret and role, and `[roles]` listing
    /// what each role may send; see `remote_console keygen`). Others are
    /// refused: 401 unsigned or unknown key, 409 stale or replayed, 403 not
    /// allowed to the key's role. SIGHUP reads the file again.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,

    /// Time between heartbeats.
    #[arg(long, value_name = "SECONDS", default_value_t = DurationArg(DEFAULT_HEARTBEAT_INTERVAL))]
    pub heartbeat_interval: DurationArg,

    /// How long starting (or stopping) an acquisition takes.
    #[arg(long, value_name = "SECONDS", default_value_t = DurationArg(Duration::from_secs(1)))]
    pub start_delay: DurationArg,

    /// The protocol generation to serve: 0.9 (0.9.11) or 0.12. As a 0.12
    /// device it answers the 0.12 commands (GET_STATUS an ApiSystemStatus,
    /// SET_APPLICATION_MODE, SET_TRAINING_MODE, GET_ANIMALS, SET_*_ENABLED;
    /// START/STOP_ACQUISITION are obsolete: UNRECOGNIZED) and publishes
    /// typed 0.12 events. A run is then the mode RUNNING: SET_APPLICATION_MODE
    /// RUNNING (from IDLE) and back to IDLE are pending for --start-delay and
    /// end with a COMMAND_RESULT, like START/STOP_ACQUISITION in 0.9.
    #[arg(long, value_name = "GENERATION", default_value = "0.9")]
    pub protocol: Generation,

    /// Log filter: error, warn, info, debug, trace, or tracing directives.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,
}

impl Args {
    pub fn rpc_options(&self) -> RpcOptions {
        let mut rpc = RpcOptions::default();
        rpc.identifier = self.identifier.clone();
        rpc.subscriber_port = self.pub_port;
        rpc.command_port = self.cmd_port;
        rpc.heartbeat_interval = self.heartbeat_interval.0;
        rpc.protocol = self.protocol;
        if !self.bind.is_empty() {
            rpc.bind_addresses = self.bind.clone();
        }
        rpc.key_file = self.keys.clone();
        rpc
    }
}
