//! The command line.

use std::path::PathBuf;

use auto_trainer_api::{Generation, DEFAULT_COMMAND_PORT, DEFAULT_SUBSCRIBER_PORT};
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

    /// The device's protocol generation: auto (from its heartbeats), 0.9
    /// or 0.12. Command names and aliases follow it: in 0.12, `set-mode
    /// <mode>` (idle, running, in-device, in-training, calibration-dcs,
    /// calibration-3d), `set-training-mode <mode>` (manual, automatic, ...),
    /// `animals`, `enable <setting>` / `disable <setting>` (live-analysis,
    /// pellet-delivery, pellet-cover, intertrial-pellet-shift,
    /// home-on-excessive-drift, triangle-pellet-distance-detection,
    /// auto-close-gate-on-intertrial, auto-clamp, tunnel-sweep, batch-trials);
    /// `start`/`stop` are obsolete there. With auto, a command waits up to
    /// --timeout for the first heartbeat, then reads as 0.9 (and says so).
    #[arg(long, value_name = "auto|0.9|0.12", default_value = "auto")]
    pub protocol: Protocol,

    /// Print one JSON object per line instead of readable text.
    #[arg(long)]
    pub json: bool,

    /// Log filter: error, warn, info, debug, trace, or tracing directives.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log_level: String,

    /// Keep the prompt's history in this file.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,

    /// Sign every command with a key of this key file (TOML, the device's
    /// form: `[[key]]` entries and `[roles]`; see `keygen`), for a device
    /// that has keys. Without --key-file, the key in the environment
    /// variable AUTO_TRAINER_KEY (`<key id>:<base64 secret>`) when it is
    /// set; else commands go unsigned.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Which key of --key-file signs (needed when it holds more than one).
    #[arg(long, value_name = "ID", requires = "key_file")]
    pub key_id: Option<String>,

    /// Reach the device as a rig of the fleet, through this NATS server
    /// (a gateway bridges the rig; FLEET.md) instead of over ZeroMQ: with
    /// --rig for commands and messages, or `fleet status`. The gateway
    /// signs the commands it forwards, so no key is given here.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["host", "pub_port", "cmd_port", "key_file"]
    )]
    pub nats: Option<String>,

    /// The rig's name in the gateway's configuration (with --nats).
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub rig: Option<String>,

    /// The fleet's subject prefix (with --nats).
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "autotrainer",
        requires = "nats"
    )]
    pub prefix: String,

    /// The fleet's rig-state bucket (with --nats).
    #[arg(
        long,
        value_name = "BUCKET",
        default_value = "autotrainer_rigs",
        requires = "nats"
    )]
    pub bucket: String,

    /// A NATS credentials file (with --nats), when the server asks for one.
    #[arg(long, value_name = "FILE", requires = "nats")]
    pub nats_creds: Option<PathBuf>,

    #[command(subcommand)]
    pub mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Send one command, print the reply and exit (0 SUCCESS or PENDING*,
    /// 1 another result, 3 no reply, 4 refused by the device's signature
    /// check: error 401 unsigned or unknown key, 409 stale or replayed, 403
    /// not allowed to the key's role).
    Send(SendArgs),
    /// Print published messages and exit.
    Listen(ListenArgs),
    /// Print a new key as a `[[key]]` entry of a device's key file (add it
    /// there; its role must be in the file's `[roles]`), and exit. The
    /// console signs with it from that file (--key-file, --key-id) or from
    /// AUTO_TRAINER_KEY=<id>:<secret>. Nothing is sent.
    Keygen(KeygenArgs),
    /// The fleet as a whole (needs --nats).
    #[command(subcommand)]
    Fleet(FleetCommand),
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Print one line per rig from the rig-state bucket: online or offline,
    /// heartbeat age, identifier, version, protocol, gateway; and exit.
    Status,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The new key's id.
    #[arg(long)]
    pub id: String,
    /// Its role in the device's key file (such as operator or viewer).
    #[arg(long, default_value = "operator")]
    pub role: String,
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// An alias (status, config, start, stop, estop, resume, ping; in 0.12
    /// also animals, set-mode, set-training-mode, enable, disable), a
    /// protocol name (GET_STATUS) or a number (400), of the device's
    /// generation.
    pub command: String,
    /// The command's data, as JSON (set-mode and set-training-mode: a mode
    /// name or number; enable and disable: a setting).
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

/// `--protocol`: a fixed generation, or `auto` (detected from heartbeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol(pub Option<Generation>);

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Protocol(None));
        }
        text.parse()
            .map(|generation| Protocol(Some(generation)))
            .map_err(|_| format!("'{text}' is not auto, 0.9 or 0.12"))
    }
}
