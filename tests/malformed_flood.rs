//! A flood of malformed requests mixed with well-formed ones, pipelined into
//! the REP socket of a real service on 127.0.0.1 through one DEALER socket.
//! Unlike a REQ socket, a DEALER would see a missing or a second reply. The
//! service answers one request at a time, in order, except that an
//! emergency (EMERGENCY_STOP, EMERGENCY_RESUME) read ahead is answered
//! before the requests that came before it: so each reply belongs to the
//! oldest request in flight, or to an emergency sent later that overtook it.
//!
//! The requests come from a seeded xorshift generator; the seed is printed
//! and `MALFORMED_FLOOD_SEED=<seed>` replays a failing run.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auto_trainer_api::{
    ApiCommandRequest, ApiCommandRequestResponse, RequestContext, RpcOptions, RpcService,
    ZeroMqRpcService,
};
use common::zmq_client::parse_json;
use serde_json::Value;

const REQUESTS: usize = 100_000;
/// Requests sent ahead of their replies.
const IN_FLIGHT: usize = 100;
const REPLY_WAIT: Duration = Duration::from_secs(10);
const DEFAULT_SEED: u64 = 0x5eed_f100_d0c0_ffee;
const REPLY_KEYS: [&str; 7] = [
    "command",
    "data",
    "errorCode",
    "errorKind",
    "errorMessage",
    "nonce",
    "result",
];
const SUCCESS: i64 = 100;
/// EMERGENCY_STOP and EMERGENCY_RESUME: answered ahead of other requests.
const EMERGENCY_COMMANDS: [i64; 2] = [200, 210];
const UNRECOGNIZED: i64 = 0;
const SYSTEM_ERROR: i64 = 1;

/// Marsaglia's xorshift64: small, and the same sequence on every machine.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    WellFormed,
    RandomBytes,
    Truncated,
    InvalidUtf8,
    LoneSurrogate,
    NulByte,
    HugeExponent,
    TwoToThe64,
    NotANumber,
    DeepNesting,
    DuplicateKeys,
    TypeSwap,
    EmptyFrame,
    MultiFrame,
    JsonArray,
    EmptyObject,
}

/// Malformed classes are drawn as often as each other; a third of all
/// requests are well-formed.
const MALFORMED: [Class; 15] = [
    Class::RandomBytes,
    Class::Truncated,
    Class::InvalidUtf8,
    Class::LoneSurrogate,
    Class::NulByte,
    Class::HugeExponent,
    Class::TwoToThe64,
    Class::NotANumber,
    Class::DeepNesting,
    Class::DuplicateKeys,
    Class::TypeSwap,
    Class::EmptyFrame,
    Class::MultiFrame,
    Class::JsonArray,
    Class::EmptyObject,
];

/// Byte sequences that are invalid UTF-8 wherever a character may start.
const INVALID_UTF8: [&[u8]; 6] = [
    &[0xff],
    &[0x80],
    &[0xc0, 0xaf],
    &[0xed, 0xa0, 0x80],
    &[0xe2, 0x82],
    &[0xf4, 0x90, 0x80, 0x80],
];

/// What one request must be answered with.
#[derive(Debug)]
struct Expected {
    index: usize,
    class: Class,
    /// The reply's nonce: the request's own when it could be read, else 0.
    nonce: i64,
    /// `Some(command)` for a request the delegate must see.
    accepted: Option<i64>,
    /// One frame whose top-level `command` reads EMERGENCY_STOP or
    /// EMERGENCY_RESUME, malformed elsewhere or not.
    claims_emergency: bool,
    preview: String,
}

struct Request {
    frames: Vec<Vec<u8>>,
    expected: Expected,
}

/// Builds request `index`; its nonce is `index + 1`, so never 0.
struct Generator {
    rng: XorShift,
}

impl Generator {
    fn request(&mut self, index: usize) -> Request {
        let nonce = index as i64 + 1;
        let class = if self.rng.below(3) == 0 {
            Class::WellFormed
        } else {
            *self.rng.pick(&MALFORMED)
        };
        let (frames, reply_nonce, accepted) = self.body(class, nonce);
        let preview = frames
            .iter()
            .map(|frame| {
                let text = String::from_utf8_lossy(frame);
                text.chars().take(120).collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" | ");
        // The request is the last frame of one, or of two (a signed request's shape).
        let claims_emergency = matches!(&frames[..], [frame] | [_, frame] if EMERGENCY_COMMANDS.iter().any(|command| {
            let claim = format!(r#""command": {command}"#);
            frame.windows(claim.len()).any(|window| window == claim.as_bytes())
        }));
        Request {
            frames,
            expected: Expected {
                index,
                class,
                nonce: reply_nonce,
                accepted,
                claims_emergency,
                preview,
            },
        }
    }

    /// The frames, the nonce the reply must carry, and the command when the
    /// request is well-formed.
    fn body(&mut self, class: Class, nonce: i64) -> (Vec<Vec<u8>>, i64, Option<i64>) {
        let one = |text: String| vec![text.into_bytes()];
        match class {
            Class::WellFormed => {
                let (text, command) = self.well_formed(nonce);
                (one(text), nonce, Some(command))
            }
            Class::RandomBytes => {
                // Never an object, so never a request, whatever follows.
                let mut bytes = vec![loop {
                    let b = self.rng.next() as u8;
                    if !matches!(b, b'{' | b' ' | b'\t' | b'\n' | b'\r') {
                        break b;
                    }
                }];
                bytes.extend((0..self.rng.below(64)).map(|_| self.rng.next() as u8));
                (vec![bytes], 0, None)
            }
            Class::Truncated => {
                // Any proper prefix of an object lacks its closing brace.
                let (text, _) = self.well_formed(nonce);
                let cut = self.rng.below(text.len());
                (vec![text.as_bytes()[..cut].to_vec()], 0, None)
            }
            Class::InvalidUtf8 => {
                let (text, _) = self.well_formed(nonce);
                let boundaries: Vec<usize> = text
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([text.len()])
                    .collect();
                let at = *self.rng.pick(&boundaries);
                let bad = *self.rng.pick(&INVALID_UTF8);
                let mut bytes = text.into_bytes();
                bytes.splice(at..at, bad.iter().copied());
                (vec![bytes], 0, None)
            }
            Class::LoneSurrogate => {
                let text = match self.rng.below(4) {
                    0 => format!(r#"{{"command": 400, "nonce": {nonce}, "data": "\ud800"}}"#),
                    1 => format!(r#"{{"command": 400, "nonce": {nonce}, "data": "a\udc00b"}}"#),
                    2 => format!(r#"{{"command": 400, "nonce": {nonce}, "data": "\ud83d\u0041"}}"#),
                    _ => format!(r#"{{"command": 400, "nonce": {nonce}, "\udbff": 1}}"#),
                };
                (one(text), 0, None)
            }
            Class::NulByte => {
                let text = match self.rng.below(3) {
                    0 => format!("{{\"command\": 400, \"nonce\": {nonce}, \"data\": \"a\0b\"}}"),
                    1 => format!("\0{{\"command\": 400, \"nonce\": {nonce}}}"),
                    _ => format!("{{\"command\": 400, \"nonce\": {nonce}}}\0"),
                };
                (one(text), 0, None)
            }
            Class::HugeExponent => {
                let number = self.rng.pick(&["1e400", "-1e400", "1.5E+999"]);
                let text = match self.rng.below(3) {
                    0 => format!(r#"{{"command": 400, "nonce": {nonce}, "data": {number}}}"#),
                    1 => format!(r#"{{"command": {number}, "nonce": {nonce}}}"#),
                    _ => format!(r#"{{"command": 400, "nonce": {number}}}"#),
                };
                (one(text), 0, None)
            }
            Class::TwoToThe64 => {
                // Valid JSON; too large for the integer fields.
                let number = self.rng.pick(&[
                    "18446744073709551616",
                    "9223372036854775808",
                    "-9223372036854775809",
                ]);
                match self.rng.below(3) {
                    0 => (
                        one(format!(r#"{{"command": 400, "nonce": {number}}}"#)),
                        0,
                        None,
                    ),
                    1 => (
                        one(format!(r#"{{"command": {number}, "nonce": {nonce}}}"#)),
                        nonce,
                        None,
                    ),
                    _ => (
                        one(format!(
                            r#"{{"command": 99999, "nonce": {nonce}, "customCommand": {number}}}"#
                        )),
                        nonce,
                        None,
                    ),
                }
            }
            Class::NotANumber => {
                let number = self.rng.pick(&["NaN", "Infinity", "-Infinity", "nan"]);
                let text = if self.rng.chance(2) {
                    format!(r#"{{"command": 400, "nonce": {nonce}, "data": {number}}}"#)
                } else {
                    format!(r#"{{"command": 400, "nonce": {number}}}"#)
                };
                (one(text), 0, None)
            }
            Class::DeepNesting => {
                // serde_json stops at 128 levels; the occasional 100 000 is
                // the frame a naive recursive parser would overflow on.
                let depth = if self.rng.chance(50) {
                    100_000
                } else {
                    129 + self.rng.below(2000)
                };
                let mut text = String::with_capacity(2 * depth + 64);
                if self.rng.chance(2) {
                    text.push_str(&format!(r#"{{"command": 400, "nonce": {nonce}, "data": "#));
                    text.push_str(&"[".repeat(depth));
                    text.push_str(&"]".repeat(depth));
                    text.push('}');
                } else {
                    text.push_str(&"[".repeat(depth));
                }
                (one(text), 0, None)
            }
            Class::DuplicateKeys => {
                // JSON leaves duplicates to the reader; like Python's
                // json.loads, the last one wins. Only a bad last one is malformed.
                if self.rng.chance(2) {
                    let text = format!(r#"{{"command": 400, "nonce": {nonce}, "command": "400"}}"#);
                    (one(text), nonce, None)
                } else {
                    let text = format!(
                        r#"{{"nonce": "x", "command": "400", "command": 300, "nonce": {nonce}}}"#
                    );
                    (one(text), nonce, Some(300))
                }
            }
            Class::TypeSwap => match self.rng.below(6) {
                0 => (
                    one(format!(r#"{{"command": "400", "nonce": {nonce}}}"#)),
                    nonce,
                    None,
                ),
                1 => (
                    one(format!(r#"{{"command": 400.0, "nonce": {nonce}}}"#)),
                    nonce,
                    None,
                ),
                2 => (
                    one(format!(r#"{{"command": [400], "nonce": {nonce}}}"#)),
                    nonce,
                    None,
                ),
                3 => (
                    one(format!(
                        r#"{{"command": 99999, "nonce": {nonce}, "customCommand": "7"}}"#
                    )),
                    nonce,
                    None,
                ),
                4 => (one(r#"{"command": 400, "nonce": 1.5}"#.into()), 0, None),
                _ => (
                    one(format!(r#"{{"command": 400, "nonce": "{nonce}"}}"#)),
                    0,
                    None,
                ),
            },
            Class::EmptyFrame => (vec![Vec::new()], 0, None),
            Class::MultiFrame => {
                let count = 2 + self.rng.below(4);
                let mut last_is_request = false;
                let frames: Vec<Vec<u8>> = (0..count)
                    .map(|_| {
                        let kind = self.rng.below(3);
                        last_is_request = kind == 0;
                        match kind {
                            0 => self.well_formed(nonce).0.into_bytes(),
                            1 => Vec::new(),
                            _ => b"{}".to_vec(),
                        }
                    })
                    .collect();
                // Two frames are a signed request's shape: a device without
                // keys refuses it but echoes the nonce of its request frame.
                let reply_nonce = if count == 2 && last_is_request {
                    nonce
                } else {
                    0
                };
                (frames, reply_nonce, None)
            }
            Class::JsonArray => {
                let text = if self.rng.chance(2) {
                    format!("[400, {nonce}]")
                } else {
                    format!(r#"[{{"command": 400, "nonce": {nonce}}}]"#)
                };
                (one(text), 0, None)
            }
            Class::EmptyObject => match self.rng.below(3) {
                0 => (one("{}".into()), 0, None),
                1 => (one(" { \n } ".into()), 0, None),
                _ => (
                    one(format!(r#"{{"nonce": {nonce}, "data": {{}}}}"#)),
                    nonce,
                    None,
                ),
            },
        }
    }

    /// A valid request text carrying `nonce`, ending in its closing brace,
    /// and its command.
    fn well_formed(&mut self, nonce: i64) -> (String, i64) {
        let command = *self
            .rng
            .pick(&[0, 100, 110, 200, 210, 300, 400, 99999, 12345, -7]);
        let data = self.rng.pick(&[
            "null",
            "1e308",
            "-0.0",
            "18446744073709551616",
            r#""not acquiring""#,
            r#""\u0000 \ud83d\ude00 \"quoted\" \\ caf\u00e9""#,
            "\"caf\u{e9} \u{1f600}\"",
            r#"{"animalId": "m-001", "cage_name": "A", "ID": [1, 2.5, true, null]}"#,
            r#"[{"deepKey": {"deeperKey": {}}}, []]"#,
        ]);
        let mut fields = vec![
            format!(r#""command": {command}"#),
            format!(r#""nonce": {nonce}"#),
        ];
        if !self.rng.chance(4) {
            fields.push(format!(r#""data": {data}"#));
        }
        match self.rng.below(3) {
            0 => {}
            1 => fields.push(r#""customCommand": null"#.into()),
            _ => fields.push(format!(r#""customCommand": {}"#, self.rng.below(1000))),
        }
        // Field order and spacing vary as they do between clients.
        let first = self.rng.below(fields.len());
        fields.rotate_left(first);
        let separator = if self.rng.chance(2) { ", " } else { ",\n  " };
        let text = format!("{{{}}}", fields.join(separator));
        (text, command)
    }
}

fn seed() -> u64 {
    match std::env::var("MALFORMED_FLOOD_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("MALFORMED_FLOOD_SEED={text:?} is not a u64")),
        Err(_) => DEFAULT_SEED,
    }
}

/// The request in flight that `reply` answers: the oldest, unless a later
/// request that claims to be an emergency carries the reply's nonce (the
/// service answers those first, malformed or not). Nonces are unique but
/// for 0, the nonce of every unreadable request, whose replies are alike.
/// Returns it, and whether it overtook older requests.
fn take_answered(in_flight: &mut VecDeque<Expected>, reply: &Value) -> (Expected, bool) {
    let oldest = in_flight.front().expect("a request in flight");
    if reply["nonce"] != oldest.nonce {
        let overtaking = in_flight
            .iter()
            .position(|expected| expected.claims_emergency && reply["nonce"] == expected.nonce);
        if let Some(later) = overtaking {
            return (in_flight.remove(later).expect("in flight"), true);
        }
    }
    (in_flight.pop_front().expect("in flight"), false)
}

/// Checks `reply` against what its request expects.
fn check_reply(reply: &Value, expected: &Expected, seed: u64) {
    let context = || {
        format!(
            "request #{} ({:?}, seed {seed}): {:?}\nreply: {reply}",
            expected.index, expected.class, expected.preview
        )
    };
    let object = reply
        .as_object()
        .unwrap_or_else(|| panic!("the reply is not an object: {}", context()));
    let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(REPLY_KEYS), "{}", context());
    assert_eq!(reply["nonce"], expected.nonce, "{}", context());
    assert_eq!(reply["data"], Value::Null, "{}", context());
    assert_eq!(reply["errorCode"], 0, "{}", context());
    match expected.accepted {
        Some(command) => {
            assert_eq!(reply["result"], SUCCESS, "{}", context());
            assert_eq!(reply["errorKind"], 0, "{}", context());
            assert_eq!(reply["command"], command, "{}", context());
            assert_eq!(reply["errorMessage"], Value::Null, "{}", context());
        }
        None => {
            assert_eq!(reply["result"], UNRECOGNIZED, "{}", context());
            assert_eq!(reply["errorKind"], SYSTEM_ERROR, "{}", context());
            let message = reply["errorMessage"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "no errorMessage: {}", context());
        }
    }
}

fn send(socket: &zmq::Socket, frames: &[Vec<u8>]) {
    // A DEALER writes the empty delimiter a REQ socket would.
    let parts = std::iter::once(&[][..]).chain(frames.iter().map(Vec::as_slice));
    socket.send_multipart(parts, 0).expect("send a request");
}

/// The next reply's body, or `None` when nothing arrives within `wait`.
fn receive(socket: &zmq::Socket, wait: Duration) -> Option<Vec<u8>> {
    let millis = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    if socket.poll(zmq::POLLIN, millis).expect("poll") == 0 {
        return None;
    }
    let mut frames = socket.recv_multipart(0).expect("receive a reply");
    assert_eq!(frames.len(), 2, "a reply is [delimiter, body]: {frames:?}");
    assert!(frames[0].is_empty(), "the first frame is the delimiter");
    frames.pop()
}

#[test]
fn a_flood_of_malformed_requests_gets_one_error_reply_each_and_the_service_keeps_serving() {
    let seed = seed();
    println!("malformed_flood: seed {seed} (replay with MALFORMED_FLOOD_SEED={seed})");

    let service = ZeroMqRpcService::new(RpcOptions::loopback());
    let delegate_calls = Arc::new(AtomicU64::new(0));
    let calls = delegate_calls.clone();
    service.set_delegate(move |_: ApiCommandRequest, _: &RequestContext| {
        calls.fetch_add(1, Ordering::Relaxed);
        ApiCommandRequestResponse::success()
    });
    service.start().expect("start the service");

    let context = zmq::Context::new();
    let dealer = context.socket(zmq::DEALER).expect("DEALER socket");
    dealer.set_linger(0).expect("linger");
    dealer
        .connect(&format!("tcp://127.0.0.1:{}", service.command_port()))
        .expect("connect");

    let mut generator = Generator {
        rng: XorShift(seed.max(1)),
    };
    let mut in_flight: VecDeque<Expected> = VecDeque::with_capacity(IN_FLIGHT);
    let (mut sent, mut answered, mut malformed, mut accepted) = (0, 0, 0_u64, 0_u64);
    let mut overtaken = 0_usize;
    let mut per_class = BTreeMap::<Class, usize>::new();
    let started = Instant::now();
    while answered < REQUESTS {
        while sent < REQUESTS && in_flight.len() < IN_FLIGHT {
            let request = generator.request(sent);
            send(&dealer, &request.frames);
            *per_class.entry(request.expected.class).or_default() += 1;
            match request.expected.accepted {
                Some(_) => accepted += 1,
                None => malformed += 1,
            }
            in_flight.push_back(request.expected);
            sent += 1;
        }
        let body = receive(&dealer, REPLY_WAIT).unwrap_or_else(|| {
            let oldest = in_flight.front().expect("a request in flight");
            panic!(
                "no reply within {REPLY_WAIT:?} to request #{} ({:?}, seed {seed}): {:?}",
                oldest.index, oldest.class, oldest.preview
            )
        });
        let reply = parse_json(&body);
        let (expected, overtook) = take_answered(&mut in_flight, &reply);
        overtaken += usize::from(overtook);
        check_reply(&reply, &expected, seed);
        answered += 1;
    }
    println!(
        "malformed_flood: {REQUESTS} requests ({malformed} malformed, {accepted} well-formed) \
         answered in {:.1?} ({overtaken} emergencies answered ahead of earlier requests); \
         per class: {per_class:?}",
        started.elapsed()
    );

    let last = REQUESTS as i64 + 1;
    send(
        &dealer,
        &[format!(r#"{{"command": 400, "nonce": {last}}}"#).into_bytes()],
    );
    // The next reply is this one's: no second reply to any earlier request
    // was on its way (the service answers in order but for emergencies,
    // and this is none).
    let reply = parse_json(&receive(&dealer, REPLY_WAIT).expect("the service still answers"));
    assert_eq!(
        reply["nonce"], last,
        "a reply no request asked for came first: {reply}"
    );
    assert_eq!(reply["result"], SUCCESS, "{reply}");

    let stats = service.stats();
    assert_eq!(stats.requests, REQUESTS as u64 + 1);
    assert_eq!(stats.malformed_requests, malformed);
    assert_eq!(delegate_calls.load(Ordering::Relaxed), accepted + 1);
    service.stop();
}
