//! A SUB on its own thread that counts what arrives: the benchmarks' direct
//! ZeroMQ subscriber (`benches/rpc.rs`, `gateway/benches/fleet.rs`).

#![allow(dead_code)] // each benchmark uses part of it

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use auto_trainer_api::ApiTopic;

/// A SUB on its own thread counting complete messages on one topic, with no
/// high-water mark so every message sent is counted.
pub struct CountingSubscriber {
    received: Arc<AtomicU64>,
    /// When the latest message arrived, in ns since `origin`.
    last_at: Arc<AtomicU64>,
    origin: Instant,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl CountingSubscriber {
    pub fn spawn(endpoint: &str, topic: ApiTopic) -> Self {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::SUB).expect("SUB socket");
        socket.set_rcvhwm(0).expect("rcvhwm");
        socket.set_rcvtimeo(50).expect("rcvtimeo");
        socket.set_linger(0).expect("linger");
        socket.set_subscribe(&topic.to_frame()).expect("subscribe");
        socket.connect(endpoint).expect("connect SUB");
        let received = Arc::new(AtomicU64::new(0));
        let last_at = Arc::new(AtomicU64::new(0));
        let origin = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let (counter, last, stopping) = (received.clone(), last_at.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("bench-sub".into())
            .spawn(move || {
                let mut frame = zmq::Message::new();
                while !stopping.load(Ordering::Relaxed) {
                    match socket.recv(&mut frame, 0) {
                        Ok(()) if !frame.get_more() => {
                            let at = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
                            last.store(at, Ordering::Relaxed);
                            counter.fetch_add(1, Ordering::Release);
                        }
                        Ok(()) | Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {}
                        Err(error) => panic!("SUB failed: {error}"),
                    }
                }
            });
        let thread = spawned.expect("spawn the SUB thread");
        Self {
            received,
            last_at,
            origin,
            stop,
            thread,
        }
    }

    pub fn count(&self) -> u64 {
        self.received.load(Ordering::Acquire)
    }

    /// When the latest message arrived.
    pub fn last_arrival(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last_at.load(Ordering::Relaxed))
    }

    /// Sends `probe` every millisecond until the subscription has reached the
    /// publisher (a message arrives), at most 5 s; then lets stragglers land.
    pub fn wait_connected(&self, mut probe: impl FnMut()) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.count() == 0 && Instant::now() < deadline {
            probe();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(self.count() > 0, "the subscriber never received a message");
        std::thread::sleep(Duration::from_millis(20));
    }

    /// Waits until `target` messages have arrived (or none arrive for 2 s);
    /// returns how many arrived and when the last one did.
    pub fn wait_for(&self, target: u64) -> (u64, Instant) {
        let mut seen = self.count();
        let mut progress = Instant::now();
        while seen < target && progress.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
            let now = self.count();
            if now != seen {
                (seen, progress) = (now, Instant::now());
            }
        }
        (seen, self.last_arrival())
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("SUB thread");
    }
}
