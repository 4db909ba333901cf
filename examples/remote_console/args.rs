//! The command line.

use auto_trainer_api::{DEFAULT_COMMAND_PORT, DEFAULT_SUBSCRIBER_PORT};
use clap::{Parser, Subcommand};

use crate::common::duration::DurationArg;

/// Operator console for an auto-trainer API device.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// The device's host name or IP address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// The device's PUB port (events).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_SUBSCRIBER_PORT)]
    pub pub_port: u16,

    /// The device's command port.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_COMMAND_PORT)]
    pub cmd_port: u16,

    /// How long a command waits for its reply, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5")]
    pub timeout: DurationArg,

    /// Send a command again this many times when its reply is lost (only
    /// for commands that are safe to repeat).
    #[arg(long, default_value_t = 0)]
    pub retries: u32,

    /// Print one JSON object per line instead of readable text.
    #[arg(long)]
    pub json: bool,

    /// Log filter: error, warn, info, debug, trace, or tracing directives.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log_level: String,

    /// Keep the prompt's history in this file.
    #[arg(long, value_name = "FILE")]
    pub history: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Send one command, print the reply and exit (0 SUCCESS or PENDING*,
    /// 1 another result, 3 no reply).
    Send(SendArgs),
    /// Print published messages and exit.
    Listen(ListenArgs),
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// An alias (status, config, start, stop, estop, resume, ping), a
    /// protocol name (GET_STATUS) or a number (400).
    pub command: String,
    /// The command's data, as JSON.
    pub data: Option<String>,
    /// The `customCommand` of a USER_DEFINED command.
    #[arg(long, value_name = "N")]
    pub custom: Option<i64>,
    /// For a PENDING_WITH_NOTIFICATION reply, wait for the COMMAND_RESULT
    /// (up to this many seconds) and exit by its result.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60")]
    pub wait: Option<DurationArg>,
}

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// How many messages to print (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
    /// Only these topics (names such as event or numbers); repeatable.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Vec<String>,
    /// Give up (exit 3) after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_wait: Option<DurationArg>,
}
