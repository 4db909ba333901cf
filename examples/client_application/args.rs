//! The command line.

use std::time::Duration;

use auto_trainer_api::{
    RpcOptions, DEFAULT_COMMAND_PORT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDENTIFIER,
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

    /// Interface to bind, as an IP address; repeat for several.
    /// [default: every IPv4 interface]
    #[arg(long = "bind", value_name = "ADDRESS")]
    pub bind: Vec<String>,

    /// Time between heartbeats.
    #[arg(long, value_name = "SECONDS", default_value_t = DurationArg(DEFAULT_HEARTBEAT_INTERVAL))]
    pub heartbeat_interval: DurationArg,

    /// How long starting (or stopping) an acquisition takes.
    #[arg(long, value_name = "SECONDS", default_value_t = DurationArg(Duration::from_secs(1)))]
    pub start_delay: DurationArg,

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
        if !self.bind.is_empty() {
            rpc.bind_addresses = self.bind.clone();
        }
        rpc
    }
}
