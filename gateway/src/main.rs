//! `auto-trainer-gateway --config <file>`: bridges the rigs of the file to
//! NATS until SIGINT or SIGTERM; SIGHUP re-reads the file's rigs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use auto_trainer_gateway::{run, Config, GatewayError};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

/// The fleet gateway: every rig of the configuration on NATS (FLEET.md).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The configuration file (TOML; see FLEET.md).
    #[arg(long)]
    config: PathBuf,
}

/// Exit code of a configuration that cannot be used.
const BAD_CONFIG: u8 = 2;

/// See Cargo.toml: the allocator is on every event's path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // No colour codes in a log file or a service manager's journal.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("auto-trainer-gateway: {error}");
            return ExitCode::from(BAD_CONFIG);
        }
    };
    let outcome = {
        // Set up before the runtime (the exporter's HTTP client has a runtime
        // of its own) and dropped after it, exporting the last figures.
        let _telemetry = auto_trainer_api::configure_telemetry(&config.telemetry.options());
        // Two workers: the gateway waits on sockets, it does not compute.
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("auto-trainer-gateway: cannot start its runtime: {error}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(serve(config, args.config))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ GatewayError::Config(_)) => {
            eprintln!("auto-trainer-gateway: {error}");
            ExitCode::from(BAD_CONFIG)
        }
        Err(error) => {
            eprintln!("auto-trainer-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, path: PathBuf) -> Result<(), GatewayError> {
    let signals =
        |kind| signal(kind).map_err(|e| GatewayError::Nats(format!("cannot watch signals: {e}")));
    let mut hangups = signals(SignalKind::hangup())?;
    let mut interrupts = signals(SignalKind::interrupt())?;
    let mut terminations = signals(SignalKind::terminate())?;
    let (reload, reloads) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let _ = reload.try_send(());
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = interrupts.recv() => {}
            _ = terminations.recv() => {}
        }
    };
    run(config, Some(path), reloads, shutdown).await
}
