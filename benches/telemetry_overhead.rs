//! What telemetry costs (issue 6): command round trips and publish calls,
//! built without and with the `telemetry` feature.
//!
//! ```text
//! cargo bench --bench telemetry_overhead                       # telemetry off
//! cargo bench --bench telemetry_overhead --features telemetry  # on
//! ```
//!
//! With the feature, the same measurement runs twice: first with the global
//! providers left unset (instrumented, nothing recorded), then after
//! `configure_telemetry` exports to an OTLP/HTTP receiver this binary runs on
//! 127.0.0.1 (the full SDK pipeline: spans batched and sent, metrics
//! aggregated). Compare the lines across the two builds; runs on a shared
//! machine are noisy, so run each build more than once.

use std::time::{Duration, Instant};

use auto_trainer_api::{
    ApiCommandRequest, ApiCommandRequestResponse, ApiEvent, ApiEventKind, RequestContext,
    RpcOptions, RpcService, ZeroMqRpcService,
};

const REQUEST: &[u8] = br#"{"command": 400, "nonce": 7, "data": null, "customCommand": -1}"#;
const ROUNDS: usize = 5;
const TRIPS_PER_ROUND: usize = 2_000;
const WARMUP_TRIPS: usize = 300;
const PUBLISH_BATCH: usize = 64;
const PUBLISH_BATCHES: usize = 300;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` support
    }
    let feature = if cfg!(feature = "telemetry") {
        "on "
    } else {
        "off"
    };
    println!("telemetry {feature}: mode                          rtt p50 (us)  rtt mean (us)  publish p50 (ns)");
    #[cfg(not(feature = "telemetry"))]
    measure("not compiled in");
    #[cfg(feature = "telemetry")]
    {
        measure("compiled in, no providers");
        let port = sink::start();
        let mut options = auto_trainer_api::TelemetryOptions::default();
        options.enable = true;
        options.endpoint = Some(format!("http://127.0.0.1:{port}"));
        options.api_key = "bench".into();
        let guard = auto_trainer_api::configure_telemetry(&options).expect("configured");
        measure("OTLP/HTTP export, local");
        drop(guard);
    }
}

fn measure(mode: &str) {
    let mut options = RpcOptions::loopback();
    options.queue_capacity = PUBLISH_BATCH * PUBLISH_BATCHES * 2;
    let service = ZeroMqRpcService::new(options);
    service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
        ApiCommandRequestResponse::success()
    });
    service.start().expect("start");

    let context = zmq::Context::new();
    let socket = context.socket(zmq::REQ).unwrap();
    socket
        .connect(&format!("tcp://127.0.0.1:{}", service.command_port()))
        .unwrap();
    let mut reply = zmq::Message::new();
    let mut trip = || {
        socket.send(REQUEST, 0).unwrap();
        socket.recv(&mut reply, 0).unwrap();
    };
    for _ in 0..WARMUP_TRIPS {
        trip();
    }
    let mut trips = Vec::with_capacity(ROUNDS * TRIPS_PER_ROUND);
    let mut total = Duration::ZERO;
    for _ in 0..ROUNDS {
        for _ in 0..TRIPS_PER_ROUND {
            let started = Instant::now();
            trip();
            let took = started.elapsed();
            total += took;
            trips.push(took);
        }
    }
    trips.sort();
    let rtt_p50 = trips[trips.len() / 2].as_secs_f64() * 1e6;
    let rtt_mean = total.as_secs_f64() * 1e6 / trips.len() as f64;

    let event = || ApiEvent::new(ApiEventKind::ApplicationLaunched, None);
    let mut calls = Vec::with_capacity(PUBLISH_BATCHES);
    for _ in 0..PUBLISH_BATCHES {
        let events: Vec<ApiEvent> = (0..PUBLISH_BATCH).map(|_| event()).collect();
        let started = Instant::now();
        for event in events {
            service.publish_event(event).unwrap();
        }
        calls.push(started.elapsed().as_secs_f64() * 1e9 / PUBLISH_BATCH as f64);
        // Let the publisher drain so every batch meets the same queue.
        while service.stats().queue_depth > 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    calls.sort_by(f64::total_cmp);
    let publish_p50 = calls[calls.len() / 2];
    service.stop();
    println!("              {mode:<30} {rtt_p50:>12.1}  {rtt_mean:>13.1}  {publish_p50:>16.0}");
}

#[cfg(feature = "telemetry")]
mod sink {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// An OTLP/HTTP receiver that answers 200 and discards what it gets.
    pub fn start() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || sink(stream));
            }
        });
        port
    }

    fn sink(stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut length = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err()
                || writer
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .is_err()
            {
                return;
            }
        }
    }
}
