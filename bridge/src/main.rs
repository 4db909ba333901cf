//! `auto-trainer-bridge`: a web app connected over Socket.IO is the device
//! behind an auto-trainer service, until SIGINT or SIGTERM; SIGHUP re-reads
//! the `--keys` file.
//!
//! Once serving it prints one line on stdout, for scripts and tests:
//! `{"ready": true, "http_port": 8000, "pub_port": 5556, "cmd_port": 5557,
//! "protocol": "0.12", "identifier": "autotrainer-device"}`. Its log goes to
//! stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use auto_trainer_api::{
    Generation, DEFAULT_COMMAND_PORT, DEFAULT_IDENTIFIER, DEFAULT_SUBSCRIBER_PORT,
};
use auto_trainer_bridge::{Bridge, BridgeError, BridgeOptions, DEFAULT_HTTP_PORT};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

#[path = "../../examples/common/duration.rs"]
mod duration;
use duration::DurationArg;

/// The Socket.IO device bridge: an app connected over Socket.IO (a web page)
/// answers the commands of the device's ZeroMQ service and publishes its
/// events (see the README, "The Socket.IO bridge").
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The address the HTTP (Socket.IO) server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    /// The HTTP (Socket.IO) port; 0 lets the OS pick one.
    #[arg(long, default_value_t = DEFAULT_HTTP_PORT)]
    port: u16,
    /// The ZeroMQ PUB (events) port; 0 lets the OS pick one.
    #[arg(long, default_value_t = DEFAULT_SUBSCRIBER_PORT)]
    pub_port: u16,
    /// The ZeroMQ command port; 0 lets the OS pick one.
    #[arg(long, default_value_t = DEFAULT_COMMAND_PORT)]
    cmd_port: u16,
    /// The interfaces the ZeroMQ sockets bind (repeat it, or a comma list);
    /// default every IPv4 interface.
    #[arg(long, value_delimiter = ',', default_value = "0.0.0.0")]
    bind: Vec<String>,
    /// The device's identifier, in its heartbeats.
    #[arg(long, default_value = DEFAULT_IDENTIFIER)]
    identifier: String,
    /// Time between heartbeats (seconds, or a text such as 500ms).
    #[arg(long, default_value = "5")]
    heartbeat_interval: DurationArg,
    /// How long a command waits for the Socket.IO client's answer before
    /// its peer gets a FAILED reply (seconds, or a text such as 1m).
    #[arg(long, default_value = "1")]
    command_timeout: DurationArg,
    /// A browser origin allowed to connect (scheme://host[:port]); repeat it
    /// for more. A request with any other Origin is refused.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// The protocol generation the device speaks: 0.9 or 0.12.
    #[arg(long, default_value = "0.12")]
    protocol: Generation,
    /// A key file: accept only commands signed with one of its keys.
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// The log filter (RUST_LOG syntax), e.g. debug or auto_trainer_bridge=debug.
    #[arg(long, default_value = "info")]
    log_level: String,
}

impl Args {
    fn options(&self) -> BridgeOptions {
        let mut options = BridgeOptions::default();
        options.host = self.host.clone();
        options.http_port = self.port;
        options.command_timeout = self.command_timeout.0;
        options.allowed_origins = self.allowed_origins.clone();
        let rpc = &mut options.rpc;
        rpc.subscriber_port = self.pub_port;
        rpc.command_port = self.cmd_port;
        rpc.bind_addresses = self.bind.clone();
        rpc.identifier = self.identifier.clone();
        rpc.heartbeat_interval = self.heartbeat_interval.0;
        rpc.protocol = self.protocol;
        rpc.key_file = self.keys.clone();
        options
    }
}

/// Exit code of options that cannot be used (as clap's own).
const BAD_OPTIONS: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level);
    let filter = match filter {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "auto-trainer-bridge: --log-level '{}': {error}",
                args.log_level
            );
            return ExitCode::from(BAD_OPTIONS);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
    // Two workers: the bridge waits on sockets, it does not compute.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("auto-trainer-bridge: cannot start its runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.options())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ BridgeError::Options(_)) => {
            eprintln!("auto-trainer-bridge: {error}");
            ExitCode::from(BAD_OPTIONS)
        }
        Err(error) => {
            eprintln!("auto-trainer-bridge: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: BridgeOptions) -> Result<(), BridgeError> {
    let watch = |kind| {
        signal(kind).map_err(|e| {
            BridgeError::Serve(std::io::Error::other(format!("cannot watch signals: {e}")))
        })
    };
    let mut hangups = watch(SignalKind::hangup())?;
    let mut interrupts = watch(SignalKind::interrupt())?;
    let mut terminations = watch(SignalKind::terminate())?;

    let bridge = Bridge::start(options.clone()).await?;
    let ready = serde_json::json!({
        "ready": true,
        "http_port": bridge.http_address().port(),
        "pub_port": bridge.subscriber_port(),
        "cmd_port": bridge.command_port(),
        "protocol": bridge.generation(),
        "identifier": options.rpc.identifier,
    });
    let mut stdout = std::io::stdout().lock();
    // Nobody reading stdout is no reason to stop serving.
    let _ = writeln!(stdout, "{ready}").and_then(|()| stdout.flush());
    drop(stdout);

    let service = bridge.service();
    let reloads = options.rpc.key_file.is_some();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if !reloads {
                tracing::info!("SIGHUP: no --keys file to read again");
                continue;
            }
            let service = std::sync::Arc::clone(&service);
            match tokio::task::spawn_blocking(move || service.reload_keys()).await {
                Ok(Ok(count)) => tracing::info!("SIGHUP: keys reloaded, {count} key(s) in use"),
                Ok(Err(error)) => tracing::warn!("SIGHUP: kept the keys in use: {error}"),
                Err(error) => tracing::warn!("SIGHUP: the reload failed: {error}"),
            }
        }
    });
    bridge
        .serve(async move {
            tokio::select! {
                _ = interrupts.recv() => tracing::info!("SIGINT"),
                _ = terminations.recv() => tracing::info!("SIGTERM"),
            }
        })
        .await
}
