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
//! came in time, **4** when the device refused it at its signature check
//! (below). `listen --count N` exits 0 after N messages, 3 if
//! `--max-wait` passes first. `--json` prints one JSON object per line.
//!
//! ## Signed commands
//!
//! A device with keys (PROTOCOL.md, "Signed commands"; `client_application
//! --keys <file>`) answers only signed commands. `--key-file <file>` signs
//! with a key of a key file (`--key-id <id>` chooses one when it holds
//! several); without `--key-file`, the key in the environment variable
//! `AUTO_TRAINER_KEY=<id>:<base64 secret>` signs when it is set. A refusal
//! prints as `refused by the device: error <code>: <message>` (401: unsigned,
//! unknown key or bad signature; 409: stale or replayed; 403: the key's role
//! does not allow the command; EMERGENCY_STOP is allowed to every key) and
//! `send` exits 4. `remote_console keygen --id ops-1 --role operator`
//! prints a new key as a `[[key]]` entry to add to the device's key file.

#[path = "../common/mod.rs"]
mod common;

mod args;
mod fleet;
mod format;
mod interactive;
mod link;
mod one_shot;
mod vocabulary;

use std::process::ExitCode;

use auto_trainer_api::{SigningKey, KEY_ENV};
use clap::Parser;
use tokio::sync::watch;

use crate::args::{Args, FleetCommand, KeygenArgs, Mode};
use crate::common::logging::init_logging;
use crate::common::output::Output;
use crate::common::text::error_chain;
use crate::format::Report;
use crate::link::Link;

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NO_ANSWER: u8 = 3;
/// Refused by the device's signature check (401, 409, 403).
const EXIT_DENIED: u8 = 4;

/// `keygen`: a new key's entry for a device's key file, on stdout.
fn keygen(args: &KeygenArgs) -> ExitCode {
    match SigningKey::generate(args.id.clone()) {
        Ok(key) => {
            print!("{}", key.key_file_entry(&args.role));
            eprintln!(
                "remote_console: add this entry to the device's key file (role '{}' must be in \
                 its [roles]); sign with --key-file <a file holding it> --key-id {}, or with \
                 {KEY_ENV}={}:<the secret above>",
                args.role,
                key.id(),
                key.id()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("remote_console: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The key commands are signed with: --key-file's, else AUTO_TRAINER_KEY's,
/// else none.
fn signing_key(args: &Args) -> Result<Option<SigningKey>, auto_trainer_api::Error> {
    match &args.key_file {
        Some(path) => SigningKey::from_key_file(path, args.key_id.as_deref()).map(Some),
        None => SigningKey::from_env(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Mode::Keygen(keygen_args)) = &args.mode {
        return keygen(keygen_args);
    }
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

    if let Some(Mode::Fleet(FleetCommand::Status)) = &args.mode {
        let Some(url) = &args.nats else {
            eprintln!("remote_console: fleet status needs --nats <url>");
            return ExitCode::from(EXIT_USAGE);
        };
        return ExitCode::from(runtime.block_on(one_shot::fleet_status(&args, url, &report)));
    }
    let link = match runtime.block_on(Link::connect(&args)) {
        Ok(link) => link,
        Err((code, message)) => {
            eprintln!("remote_console: {message}");
            return ExitCode::from(code);
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
        None => interactive::run(&args, &runtime, link.clone(), report, interrupted),
        Some(Mode::Send(send)) => runtime.block_on(one_shot::send(&link, &report, send)),
        Some(Mode::Listen(listen)) => {
            runtime.block_on(one_shot::listen(&link, &report, listen, interrupted))
        }
        Some(Mode::Keygen(_) | Mode::Fleet(_)) => unreachable!("returned before connecting"),
    };
    // Stop the printing tasks first, so closing does not announce "offline".
    drop(runtime);
    link.close();
    ExitCode::from(code)
}
