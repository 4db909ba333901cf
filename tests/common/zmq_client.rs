//! Raw ZeroMQ peers for the integration tests, written directly against the
//! `zmq` crate so the tests of the device side do not depend on this crate's
//! own client library: a REQ client whose every wait has a timeout, and a SUB
//! collector that joins a publisher by probing instead of sleeping.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use auto_trainer_api::{ApiTopic, RpcService, ZeroMqRpcService};
use serde_json::{json, Value};

/// How long a request or a receive waits unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The PROPERTY_CHANGE topic, used for join probes (`{"probe": n}`).
pub const PROBE_TOPIC: u32 = 5001;

fn endpoint(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

fn millis(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)
}

/// A REQ client. A request whose reply does not come within the timeout
/// leaves a REQ socket stuck, so the socket is then thrown away and reopened
/// for the next request (the "Lazy Pirate" pattern).
pub struct ReqClient {
    context: zmq::Context,
    socket: Option<zmq::Socket>,
    endpoint: String,
    timeout: Duration,
}

impl ReqClient {
    /// A client of the REP socket on 127.0.0.1:`port`, waiting
    /// [`DEFAULT_TIMEOUT`] for each reply.
    pub fn connect(port: u16) -> Self {
        Self::with_timeout(port, DEFAULT_TIMEOUT)
    }

    /// A client waiting `timeout` for each reply.
    pub fn with_timeout(port: u16, timeout: Duration) -> Self {
        let mut client = Self {
            context: zmq::Context::new(),
            socket: None,
            endpoint: endpoint(port),
            timeout,
        };
        client.open();
        client
    }

    fn open(&mut self) -> &zmq::Socket {
        if self.socket.is_none() {
            let socket = self.context.socket(zmq::REQ).expect("REQ socket");
            socket.set_linger(0).expect("linger");
            socket.connect(&self.endpoint).expect("connect REQ");
            self.socket = Some(socket);
        }
        self.socket.as_ref().expect("socket just opened")
    }

    /// Sends one request of `frames` and returns the reply's frames, or `None`
    /// when no reply comes within the timeout.
    pub fn try_request_frames(&mut self, frames: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
        let timeout = self.timeout;
        let socket = self.open();
        socket
            .send_multipart(frames.iter().copied(), 0)
            .expect("send request");
        let readable = socket
            .poll(zmq::POLLIN, millis(timeout))
            .expect("poll for the reply");
        if readable > 0 {
            Some(socket.recv_multipart(0).expect("receive the reply"))
        } else {
            self.socket = None;
            None
        }
    }

    /// Sends `body` as a one-frame request; `None` on timeout.
    pub fn try_request(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        self.try_request_frames(&[body]).map(|frames| {
            assert_eq!(frames.len(), 1, "a reply must be one frame");
            frames.into_iter().next().expect("one frame")
        })
    }

    /// Sends `body`; panics when no reply comes in time.
    pub fn request(&mut self, body: &[u8]) -> Vec<u8> {
        let shown = String::from_utf8_lossy(body).into_owned();
        self.try_request(body)
            .unwrap_or_else(|| panic!("no reply within {:?} to {shown:?}", self.timeout))
    }

    /// Sends `text` and parses the reply as JSON.
    pub fn request_text(&mut self, text: &str) -> Value {
        parse_json(&self.request(text.as_bytes()))
    }

    /// Sends `request` as JSON and parses the reply.
    pub fn request_json(&mut self, request: &Value) -> Value {
        self.request_text(&request.to_string())
    }
}

/// Parses `bytes` as JSON, panicking with the text when it is not.
pub fn parse_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes).into_owned()
        )
    })
}

/// One message received by a [`SubCollector`], with all its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Every frame, as received.
    pub frames: Vec<Vec<u8>>,
}

impl Published {
    /// The topic, when the first frame is exactly 4 bytes.
    pub fn topic(&self) -> Option<u32> {
        let bytes: [u8; 4] = self.frames.first()?.as_slice().try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }

    /// The second frame (empty when there is none).
    pub fn body(&self) -> &[u8] {
        self.frames.get(1).map(Vec::as_slice).unwrap_or_default()
    }

    /// The body as UTF-8 text.
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(self.body()).expect("body is UTF-8")
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        parse_json(self.body())
    }

    /// The serial number of a join probe (`{"probe": n}` on [`PROBE_TOPIC`]).
    pub fn probe_serial(&self) -> Option<u64> {
        if self.topic() != Some(PROBE_TOPIC) {
            return None;
        }
        serde_json::from_slice::<Value>(self.body())
            .ok()?
            .get("probe")?
            .as_u64()
    }
}

/// A SUB socket connected to 127.0.0.1:`port`, with no receive high-water
/// mark so that it never drops what reaches it.
pub struct SubCollector {
    _context: zmq::Context,
    socket: zmq::Socket,
    topics: Vec<u32>,
}

impl SubCollector {
    /// Subscribes to `topics` (all messages when empty) and connects.
    pub fn connect(port: u16, topics: &[u32]) -> Self {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::SUB).expect("SUB socket");
        socket.set_linger(0).expect("linger");
        socket.set_rcvhwm(0).expect("rcvhwm");
        if topics.is_empty() {
            socket.set_subscribe(b"").expect("subscribe all");
        }
        for topic in topics {
            socket
                .set_subscribe(&topic.to_le_bytes())
                .expect("subscribe");
        }
        socket.connect(&endpoint(port)).expect("connect SUB");
        Self {
            _context: context,
            socket,
            topics: topics.to_vec(),
        }
    }

    /// The next message, or `None` when none arrives within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Published> {
        let readable = self
            .socket
            .poll(zmq::POLLIN, millis(timeout))
            .expect("poll SUB");
        (readable > 0).then(|| Published {
            frames: self.socket.recv_multipart(0).expect("receive"),
        })
    }

    /// The next message satisfying `predicate` within `timeout`; others are
    /// discarded.
    pub fn recv_matching(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&Published) -> bool,
    ) -> Option<Published> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let message = self.recv(left)?;
            if predicate(&message) {
                return Some(message);
            }
        }
    }

    /// The next message on `topic` within `timeout`, discarding others.
    pub fn recv_topic(&self, topic: u32, timeout: Duration) -> Option<Published> {
        self.recv_matching(timeout, |m| m.topic() == Some(topic))
    }

    /// Like [`Self::recv_topic`] with [`DEFAULT_TIMEOUT`], panicking on timeout.
    pub fn expect_topic(&self, topic: u32) -> Published {
        self.recv_topic(topic, DEFAULT_TIMEOUT)
            .unwrap_or_else(|| panic!("no message on topic {topic} within {DEFAULT_TIMEOUT:?}"))
    }

    /// Asserts that nothing else is on its way, without waiting out a quiet
    /// window: publishes a fence through `publish(topic, body)` (on
    /// [`PROBE_TOPIC`] when subscribed, else on the first subscribed topic)
    /// and requires it to be the very next message. One publisher sends in
    /// order, so anything it published before the fence (a stray, a second
    /// copy) arrives first and fails this.
    #[allow(dead_code)] // not every test binary uses it
    pub fn expect_fence_next(&self, publish: impl FnOnce(u32, Value)) {
        let topic = if self.topics.is_empty() || self.topics.contains(&PROBE_TOPIC) {
            PROBE_TOPIC
        } else {
            self.topics[0]
        };
        let fence = serde_json::json!({ "fence": uuid::Uuid::new_v4().to_string() });
        publish(topic, fence.clone());
        let next = self
            .recv(DEFAULT_TIMEOUT)
            .unwrap_or_else(|| panic!("the fence did not arrive within {DEFAULT_TIMEOUT:?}"));
        assert!(
            next.topic() == Some(topic)
                && serde_json::from_slice::<Value>(next.body()).ok() == Some(fence),
            "a message came before the fence: topic {:?}, {:?}",
            next.topic(),
            String::from_utf8_lossy(next.body())
        );
    }

    /// Every message arriving within `window`.
    pub fn drain_for(&self, window: Duration) -> Vec<Published> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.recv(left) {
                Some(message) => out.push(message),
                None => return out,
            }
        }
    }

    /// Waits until the subscription has reached the publisher (PUB/SUB joins
    /// are asynchronous: what is published before is lost). `publish_probe(n)`
    /// must publish `{"probe": n}` on [`PROBE_TOPIC`]; it is called repeatedly
    /// until a probe arrives, then once more with a fence that is read back,
    /// so no probe is left in flight when this returns. Messages received
    /// meanwhile are discarded.
    pub fn join(&self, mut publish_probe: impl FnMut(u64)) {
        let temporary = !self.topics.is_empty() && !self.topics.contains(&PROBE_TOPIC);
        if temporary {
            self.socket
                .set_subscribe(&PROBE_TOPIC.to_le_bytes())
                .expect("subscribe probe topic");
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut serial = 0;
        'probing: loop {
            assert!(
                Instant::now() < deadline,
                "the subscriber did not join within 15 s"
            );
            publish_probe(serial);
            serial += 1;
            let slot = Instant::now() + Duration::from_millis(50);
            while let Some(message) = self.recv(slot.saturating_duration_since(Instant::now())) {
                if message.probe_serial().is_some() {
                    break 'probing;
                }
            }
        }
        let fence = serial;
        publish_probe(fence);
        self.recv_matching(DEFAULT_TIMEOUT, |m| m.probe_serial() == Some(fence))
            .expect("the join fence did not arrive");
        if temporary {
            self.socket
                .set_unsubscribe(&PROBE_TOPIC.to_le_bytes())
                .expect("unsubscribe probe topic");
        }
    }
}

/// Receives `count` messages from each subscriber and requires ours to be
/// byte for byte the reference's, frame for frame, in order (each may take
/// up to `wait`). Returns ours.
pub fn expect_identical(
    theirs: &SubCollector,
    ours: &SubCollector,
    count: usize,
    wait: Duration,
) -> Vec<Published> {
    let collect = |sub: &SubCollector| -> Vec<Published> {
        (0..count)
            .map(|i| {
                sub.recv(wait)
                    .unwrap_or_else(|| panic!("message {i} of {count} missing"))
            })
            .collect()
    };
    let (theirs_got, ours_got) = (collect(theirs), collect(ours));
    for (t, o) in theirs_got.iter().zip(&ours_got) {
        assert_eq!(
            o.frames,
            t.frames,
            "\nreference: {:?}\n     ours: {:?}",
            String::from_utf8_lossy(t.body()),
            String::from_utf8_lossy(o.body())
        );
    }
    ours_got
}

/// A subscriber to `topics` (all when empty) that has joined `service`:
/// probes published on PROPERTY_CHANGE until one arrives.
pub fn joined(service: &ZeroMqRpcService, topics: &[u32]) -> SubCollector {
    let sub = SubCollector::connect(service.subscriber_port(), topics);
    sub.join(|n| {
        service
            .publish_json(ApiTopic::PropertyChange, json!({ "probe": n }))
            .expect("publish a probe");
    });
    sub
}

/// The body with the version and timestamp values replaced by placeholders.
pub fn heartbeat_template(message: &Published) -> String {
    assert_eq!(message.frames.len(), 2);
    let text = message.body_str();
    let body = message.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["identifier", "version", "timestamp"], "{text}");
    let version = body["version"].as_str().unwrap();
    let (head, timestamp) = text
        .rsplit_once(r#""timestamp": "#)
        .unwrap_or_else(|| panic!("{text}"));
    let timestamp = timestamp
        .strip_suffix('}')
        .unwrap_or_else(|| panic!("{text}"));
    let value: f64 = timestamp.parse().unwrap_or_else(|_| panic!("{text}"));
    assert!(value > 1.6e9, "{text}");
    assert!(timestamp.contains('.'), "a Python float: {text}");
    format!(
        r#"{}"timestamp": T}}"#,
        head.replace(&format!(r#""version": "{version}""#), r#""version": "V""#)
    )
}

/// The first heartbeat of the reference publishing on `reference_pub_port`
/// and of our `service`: the same topic frame and the same body but for the
/// version and timestamp values ([`heartbeat_template`]).
pub fn first_heartbeats(
    reference_pub_port: u16,
    service: &ZeroMqRpcService,
    wait: Duration,
) -> (Published, Published) {
    let heartbeat = ApiTopic::Heartbeat.value();
    let theirs = SubCollector::connect(reference_pub_port, &[heartbeat]);
    let ours = SubCollector::connect(service.subscriber_port(), &[heartbeat]);
    let theirs_beat = theirs
        .recv_topic(heartbeat, wait)
        .expect("a reference heartbeat");
    let ours_beat = ours.recv_topic(heartbeat, wait).expect("our heartbeat");
    assert_eq!(theirs_beat.frames[0], ours_beat.frames[0]);
    assert_eq!(
        heartbeat_template(&theirs_beat),
        heartbeat_template(&ours_beat)
    );
    (theirs_beat, ours_beat)
}
