//! A stand-in acquisition app that embeds the auto-trainer API service.
//!
//! It plays the device: answers the protocol's commands with a small state
//! machine (idle, acquiring, emergency-stopped), publishes events, results
//! and heartbeats, and gives the operator a prompt to publish events by hand.
//! Start it in one terminal:
//!
//! ```text
//! cargo run --example client_application
//! cargo run --example client_application -- --bind 127.0.0.1 --heartbeat-interval 0.5
//! ```
//!
//! and command it from another, with the operator console:
//!
//! ```text
//! cargo run --example remote_console
//! ```
//!
//! Flags (`--help` lists them): `--identifier`, `--pub-port`, `--cmd-port`,
//! `--bind` (repeatable, or a comma list; default every IPv4 interface),
//! `--heartbeat-interval` and `--start-delay` (seconds
//! such as `0.5`, or texts such as `1m 30s`) and `--log-level` (a level or a tracing filter such as
//! `info,auto_trainer_api=debug`) and `--protocol 0.9|0.12` (the protocol
//! generation it serves; default 0.9), `--keys <file>` (signed commands,
//! below). Defaults are the protocol's.
//!
//! ## Signed commands
//!
//! With `--keys <file>` (a key file of PROTOCOL.md, "Signed commands") it
//! answers only commands signed with one of its keys and allowed by the
//! key's role; the others are refused (401, 409, 403) before the device sees
//! them. SIGHUP reads the file again (add a new key, remove an old one): it
//! logs `SIGHUP: keys reloaded, N key(s) in use`, or why the file was not
//! taken (the keys in use then stay). Bound beyond loopback without
//! `--keys`, it warns at start that anyone who reaches the command port can
//! command it.
//!
//! ## Commands (`--protocol 0.9`, the default)
//!
//! | command | answer |
//! |---|---|
//! | `NONE` | SUCCESS |
//! | `GET_STATUS` | SUCCESS, a `StatusResponse` (app status, training mode, animal) |
//! | `GET_CONFIGURATION` | SUCCESS, a `ConfigurationResponse` |
//! | `START_ACQUISITION` | PENDING_WITH_NOTIFICATION; after `--start-delay` a COMMAND_RESULT SUCCESS with `{"acquisitionId", "animalId", "startedAt"}` and an `acquisitionStarted` event. FAILED when acquiring, starting, stopping or emergency-stopped |
//! | `STOP_ACQUISITION` | the same with `acquisitionEnded`; FAILED when not acquiring |
//! | `EMERGENCY_STOP` | SUCCESS and an `emergencyStop` event with `{"reason"}` (data `{"reason": ...}` is optional) |
//! | `EMERGENCY_RESUME` | SUCCESS and an `emergencyResume` event with `{"reason", "stoppedForSeconds"}` when emergency-stopped; FAILED otherwise |
//! | anything else | UNRECOGNIZED |
//!
//! An emergency stop wins over everything: a start or stop in progress gets a
//! FAILED result ("interrupted by an emergency stop"), a running acquisition
//! ends with an `acquisitionEnded` event whose reason is the emergency stop,
//! and nothing starts again until `EMERGENCY_RESUME`.
//!
//! Error codes of FAILED results (the `Refusal` enum): 1 already acquiring,
//! 2 a start is in progress, 3 a stop is in progress, 4 not acquiring,
//! 5 emergency-stopped, 6 not emergency-stopped, 7 interrupted by an
//! emergency stop; -1 (the library's) when the service stopped first.
//!
//! ## Commands with `--protocol 0.12`
//!
//! The same state machine, answered as a 0.12 app (`device_v0_12.rs`);
//! every event is built with `v0_12::build_event` and its typed context.
//!
//! | command | answer |
//! |---|---|
//! | `NONE` | SUCCESS (answered by the service itself in 0.12) |
//! | `GET_STATUS` | SUCCESS, an `ApiSystemStatus` (modes, animal, project, alarms, detectors, pellet and tunnel devices, behaviour with the `is_*_enabled` settings) |
//! | `GET_CONFIGURATION` | SUCCESS, an `ApiSystemConfiguration` |
//! | `GET_ANIMALS` | SUCCESS, two stand-in `ApiAnimalStatus` |
//! | `SET_APPLICATION_MODE {"mode"}` | **RUNNING from IDLE starts a run**: PENDING_WITH_NOTIFICATION, then after `--start-delay` a COMMAND_RESULT SUCCESS `{"mode": 100}` and `applicationModeChanged` (data `{"animal_id"}` is optional). IDLE while running ends it the same way. Other modes are set at once (SUCCESS `{"mode"}`, `applicationModeChanged` only when it changes). FAILED (8) for an invalid mode; UNAVAILABLE when the state does not allow it (RUNNING only from IDLE and back, 10; a transition in progress, 2/3; emergency-stopped, 5); every reply carries the mode in effect |
//! | `SET_TRAINING_MODE {"mode"}` | SUCCESS `{"mode"}`, `trainingModeChanged` when it changes; FAILED (8) for an invalid mode |
//! | `SET_*_ENABLED {"enabled"}` (1000-1090) | SUCCESS `{"enabled"}`, reflected in GET_STATUS; FAILED (9) when missing or not a boolean; SET_AUTO_CLAMP_ENABLED publishes `autoClampEnabledChanged` when it changes |
//! | `EMERGENCY_STOP` | SUCCESS and `emergencyStop` `{reason, reasonCode: 401 (rpc_service), activeAlarms: []}`; a run ends (`applicationModeChanged` IDLE) |
//! | `EMERGENCY_RESUME` | SUCCESS and `emergencyResume` `{reason, reasonCode: 401, resumedAlarms: []}`; FAILED (6) when not stopped |
//! | `START_ACQUISITION`, `STOP_ACQUISITION` (50, 55) | UNRECOGNIZED: obsolete, as the reference documents |
//! | anything else | UNRECOGNIZED |
//!
//! `applicationLaunched` carries `{version}`, `applicationTerminating`
//! `{reason}`. The prompt's `estop`/`resume` use reason code `user_button`.
//!
//! ## The prompt
//!
//! With a terminal it offers a prompt with history and tab completion:
//! `help`, `event <kind name or number> [json context]` (a kind of the
//! generation served; the context is published as typed, unchecked),
//! `property <json>`,
//! `estop [reason]`, `resume [reason]`, `state`, `pending`, `stats`, `quit`.
//! Every command received and every message published is logged on one
//! line, above the prompt; JSON is shown as the app sees it (snake_case
//! keys), while on the wire keys are camelCase.
//!
//! ## Running without a terminal
//!
//! When stdin is not a terminal (a service manager, a pipe, `< /dev/null`)
//! there is no prompt: it serves until SIGINT or SIGTERM (not SIGHUP, which
//! reloads the keys). Either signal, Ctrl-C
//! or Ctrl-D at the prompt, or `quit`, stops the service cleanly (commands
//! still pending get their FAILED result, queued messages are flushed) and
//! exits 0. A port already in use ends it at once with exit code 1.

#[path = "../common/mod.rs"]
mod common;

mod args;
mod device;
mod device_v0_12;
mod prompt;
mod state;
mod timer;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{mpsc, Arc};

use auto_trainer_api::{
    v0_12, ApiCommandRequest, Error, Generation, RequestContext, RpcService, ZeroMqRpcService,
};
use clap::Parser;
use tracing::{info, warn};

use crate::args::Args;
use crate::common::logging::init_logging;
use crate::common::output::Output;
use crate::common::text::error_chain;
use crate::device::{Announcement, Device};
use crate::prompt::{run_prompt, TerminalSettings};

/// What ended the program.
enum Shutdown {
    Signal,
    Prompt,
}

/// Starts the service with `args`' options, its commands answered by a
/// device that publishes through the service's publisher.
fn start(args: &Args) -> Result<(ZeroMqRpcService, Arc<Device>), Error> {
    let service = ZeroMqRpcService::new(args.rpc_options());
    let device = Device::new(
        service.publisher().clone(),
        args.identifier.clone(),
        args.protocol,
        args.start_delay.0,
    )
    .map_err(|source| Error::Spawn {
        thread: "timer",
        source,
    })?;
    let device = Arc::new(device);
    let handler = device.clone();
    // The delegate reads commands with the catalog of the generation served.
    match args.protocol {
        Generation::V0_9 => service.set_delegate(
            move |request: ApiCommandRequest, context: &RequestContext| {
                handler.answer(&request, context)
            },
        ),
        Generation::V0_12 => service.set_delegate(
            move |request: v0_12::ApiCommandRequest, context: &RequestContext| {
                handler.answer_v0_12(&request, context)
            },
        ),
    }
    service.start()?;
    device.announce(Announcement::Launched);
    Ok((service, device))
}

/// SIGHUP re-reads the key file (`--keys`). The signal is blocked in every
/// thread (this one first, before any other starts, so all inherit the
/// mask), and one thread takes it with `sigwait`: ctrlc's handler, which
/// would end the program on SIGHUP, never runs for it.
#[cfg(unix)]
mod hangup {
    use std::sync::Arc;

    use auto_trainer_api::ZeroMqRpcService;
    use nix::sys::signal::{SigSet, Signal};
    use tracing::{info, warn};

    /// Blocks SIGHUP in this thread and the threads it will start.
    pub fn block() -> nix::Result<SigSet> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGHUP);
        set.thread_block()?;
        Ok(set)
    }

    /// Reloads `service`'s keys at each SIGHUP, logging the outcome.
    pub fn reload_on_sighup(set: SigSet, service: Arc<ZeroMqRpcService>) {
        std::thread::spawn(move || {
            while set.wait().is_ok() {
                match service.reload_keys() {
                    Ok(count) => info!("SIGHUP: keys reloaded, {count} key(s) in use"),
                    Err(error) => warn!(
                        "SIGHUP: keys not reloaded ({}); the keys in use stay",
                        crate::common::text::error_chain(&error)
                    ),
                }
            }
        });
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    let hangups = match hangup::block() {
        Ok(set) => set,
        Err(error) => {
            eprintln!("client_application: cannot handle SIGHUP: {error}");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse();
    let output = Output::default();
    let ansi = std::io::stderr().is_terminal();
    // Kept to the end of main: it writes the last lines.
    let _logging = match init_logging(&args.log_level, output.clone(), ansi) {
        Ok(logging) => logging,
        Err(message) => {
            eprintln!("client_application: {message}");
            return ExitCode::from(2);
        }
    };

    // Installed before the service starts, so a signal always stops it cleanly.
    let (shutdown, shutdown_requested) = mpsc::channel();
    let on_signal = shutdown.clone();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = on_signal.send(Shutdown::Signal);
    }) {
        eprintln!("client_application: cannot handle SIGINT/SIGTERM: {error}");
        return ExitCode::FAILURE;
    }

    let (service, device) = match start(&args) {
        Ok(started) => started,
        Err(error) => {
            let hint = if matches!(error, Error::Bind { .. }) {
                " (is another instance running? choose ports with --pub-port and --cmd-port)"
            } else {
                ""
            };
            eprintln!(
                "client_application: cannot start the API service: {}{hint}",
                error_chain(&error)
            );
            return ExitCode::FAILURE;
        }
    };

    let service = Arc::new(service);
    #[cfg(unix)]
    hangup::reload_on_sighup(hangups, service.clone());

    let interactive = std::io::stdin().is_terminal();
    let terminal = TerminalSettings::save();
    if interactive {
        let device = device.clone();
        let output = output.clone();
        let ports = (service.subscriber_port(), service.command_port());
        std::thread::spawn(move || {
            if let Err(error) = run_prompt(&device, &output, ports) {
                warn!("the prompt failed: {error}; stopping");
            }
            let _ = shutdown.send(Shutdown::Prompt);
        });
    } else {
        info!("no terminal on stdin: serving until SIGINT or SIGTERM");
    }

    let reason = shutdown_requested.recv().unwrap_or(Shutdown::Signal);
    if interactive && matches!(reason, Shutdown::Signal) {
        output.detach();
        terminal.restore();
    }
    info!("stopping");
    device.announce(Announcement::Terminating(match reason {
        Shutdown::Signal => "stopped by a signal",
        Shutdown::Prompt => "stopped at the prompt",
    }));
    // Pending commands get their FAILED result, queued messages are flushed.
    service.stop();
    ExitCode::SUCCESS
}
