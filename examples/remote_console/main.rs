//! An operator console for a device running the auto-trainer API: send it
//! commands, watch what it publishes, see whether it is alive.
//!
//! Start a device in one terminal (the stand-in app of this crate):
//!
//! ```text
//! cargo run --example client_application -- --heartbeat-interval 1
//! ```
//!
//! and the console in another:
//!
//! ```text
//! cargo run --example remote_console
//! cargo run --example remote_console -- --host rig-7.lab --pub-port 5556 --cmd-port 5557
//! ```
//!
//! ## Interactive mode
//!
//! Without a subcommand it opens a prompt with line editing, history (`↑`)
//! and tab completion. Commands go by alias, protocol name or number, with
//! optional JSON data: `status`, `config`, `start [json]`, `stop [json]`,
//! `estop [reason]`, `resume`, `ping`, `send <command> [json]` (e.g.
//! `send GET_STATUS`, `send 400`), `custom <n> [json]` (USER_DEFINED with
//! `customCommand` n). Published messages appear as readable lines above the
//! prompt; `watch <topics>` chooses which (`event emergency property result
//! heartbeat raw`, or `all` / `none`; heartbeats are hidden at first).
//! Commands answered `PENDING_WITH_NOTIFICATION` are listed by `pending`, and
//! their result is shown when it arrives. `device` shows whether the device
//! is online, its identifier and the client's counters. `help`, `quit`
//! (also Ctrl-D or Ctrl-C).
//!
//! ## Protocol generations
//!
//! `--protocol auto|0.9|0.12` (default auto: detected from the device's
//! heartbeats; the HEARTBEAT and online lines show it). Command names,
//! numbers and aliases are those of the generation in effect; with auto and
//! no heartbeat yet, a command waits up to `--timeout` for one, then is
//! named as in 0.9 with a warning. In 0.12: `animals` (GET_ANIMALS),
//! `set-mode <mode>` (SET_APPLICATION_MODE: `idle`, `running`, `in-device`,
//! `in-training`, `calibration-dcs`, `calibration-3d` or a number; a run is
//! `set-mode running` ... `set-mode idle`), `set-training-mode <mode>`
//! (`manual`, `automatic`, ...), `enable <setting>` / `disable <setting>`
//! (SET_<SETTING>_ENABLED, e.g. `enable live-analysis`, `disable
//! pellet-delivery`); `start` and `stop` send the obsolete
//! START/STOP_ACQUISITION (50, 55) with a warning. Events print with the
//! generation's kind names.
//!
//! ## One-shot mode, for scripts
//!
//! ```text
//! remote_console send status                 # prints the reply
//! remote_console send start '{"animal_id": "m-001"}' --wait
//! remote_console send set-mode running --wait  # a 0.12 device
//! remote_console --json listen --count 2     # prints two messages
//! ```
//!
//! `send` exits with **0** when the result is SUCCESS, PENDING or
//! PENDING_WITH_NOTIFICATION (with `--wait`: when the final COMMAND_RESULT is
//! SUCCESS), **1** for any other result (FAILED, EXCEPTION, UNRECOGNIZED,
//! UNAVAILABLE), **2** for a usage error, **3** when no reply (or result)
//! came in time. `listen --count N` exits 0 after N messages, 3 if
//! `--max-wait` passes first. `--json` prints one JSON object per line.

#[path = "../common/mod.rs"]
mod common;

mod args;
mod format;
mod interactive;
mod one_shot;
mod vocabulary;

use std::process::ExitCode;

use std::time::Duration;

use auto_trainer_api::{ClientOptions, DeviceClient, Generation};
use clap::Parser;
use tokio::sync::watch;

use crate::args::{Args, Mode};
use crate::common::logging::init_logging;
use crate::common::output::Output;
use crate::common::text::error_chain;
use crate::format::Report;

const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NO_ANSWER: u8 = 3;

/// The generation commands are named in: the one fixed by `--protocol`,
/// else the one the device's heartbeats announce. When none has come yet,
/// waits up to `patience` for one, then falls back to 0.9 with a warning
/// (returned for the caller to show).
pub async fn command_generation(
    client: &DeviceClient,
    patience: Duration,
) -> (Generation, Option<String>) {
    if let Some(generation) = client.generation() {
        return (generation, None);
    }
    let mut liveness = client.liveness();
    let _ = tokio::time::timeout(patience, liveness.wait_for(|l| l.generation.is_some())).await;
    match client.generation() {
        Some(generation) => (generation, None),
        None => (
            Generation::V0_9,
            Some(format!(
                "no heartbeat within {:.1} s told the device's protocol; naming commands as in 0.9 \
                 (choose with --protocol)",
                patience.as_secs_f64()
            )),
        ),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let report = Report {
        output: Output::default(),
        json: args.json,
    };
    // Kept to the end of main: it writes the last lines.
    let _logging = match init_logging(&args.log_level, report.output.clone(), false) {
        Ok(logging) => logging,
        Err(message) => {
            eprintln!("remote_console: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let mut options =
        ClientOptions::new(args.host.clone()).with_ports(args.pub_port, args.cmd_port);
    options.request_timeout = args.timeout.0;
    options.retries = args.retries;
    options.protocol = args.protocol.0;
    // Invalid options (such as a zero --timeout) are a usage error too.
    let client = match DeviceClient::connect(options) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("remote_console: {}", error_chain(&error));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("remote_console: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };

    // Ctrl-C outside the prompt (and SIGTERM) ends the console cleanly.
    let (interrupt, interrupted) = watch::channel(false);
    if let Err(error) = ctrlc::set_handler(move || {
        interrupt.send_replace(true);
    }) {
        eprintln!("remote_console: cannot handle SIGINT/SIGTERM: {error}");
        return ExitCode::FAILURE;
    }

    let code = match &args.mode {
        None => interactive::run(&args, &runtime, client.clone(), report, interrupted),
        Some(Mode::Send(send)) => runtime.block_on(one_shot::send(&client, &report, send)),
        Some(Mode::Listen(listen)) => {
            runtime.block_on(one_shot::listen(&client, &report, listen, interrupted))
        }
    };
    // Stop the printing tasks first, so closing does not announce "offline".
    drop(runtime);
    client.close();
    ExitCode::from(code)
}
