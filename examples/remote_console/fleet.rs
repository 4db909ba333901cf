//! One rig of the fleet through NATS, as a gateway bridges it (FLEET.md):
//! commands are requests on `P.<rig>.command` carrying the JSON a device
//! reads on its command socket, replies are the rig's reply bytes, the
//! rig's messages come on `P.<rig>.<topic>` with their bodies unchanged,
//! and its state (online, identifier, version, protocol) is the rig's key
//! in the rig-state bucket. Subjects are spelled here and nowhere else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::client::RequestErrorKind;
use async_nats::jetstream::{self, kv};
use auto_trainer_api::{
    decode_message, ApiCommandRequest, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiCommandRequestServiceResponse, ApiTopic, AwaitedCommand, Command, CommandCall,
    DeviceMessage, Error, Generation,
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::args::Args;
use crate::link::{Answer, SendError};

/// The reply header a gateway sets when it answered for the rig (FLEET.md:
/// `offline`, `timeout`, `unknown-rig`, `malformed`).
const RELAY_ERROR_HEADER: &str = "Autotrainer-Error";

/// How often the bucket is looked for again while it does not exist (no
/// gateway has started yet).
const BUCKET_RETRY: Duration = Duration::from_secs(2);

/// Results of pending commands kept after they arrived, at most.
const RESULTS_KEPT: usize = 256;

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A rig name is one subject token (FLEET.md, Names).
pub fn check_rig_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !token {
        return Err(format!(
            "'{name}' is not a rig name (letters, digits, '-' and '_')"
        ));
    }
    if name == "fleet" || name == "gateway" {
        return Err(format!("'{name}' is a reserved name, not a rig"));
    }
    Ok(())
}

/// The subjects of one rig: `<prefix>.<rig>.…`.
#[derive(Debug, Clone)]
pub struct Subjects {
    base: String,
}

impl Subjects {
    pub fn new(prefix: &str, rig: &str) -> Self {
        Self {
            base: format!("{prefix}.{rig}"),
        }
    }

    /// Where commands are requested.
    pub fn command(&self) -> String {
        format!("{}.command", self.base)
    }

    /// Where the COMMAND_RESULT of the request with `nonce` comes.
    pub fn result(&self, nonce: i64) -> String {
        format!("{}.result.{nonce}", self.base)
    }

    /// Everything about the rig.
    pub fn everything(&self) -> String {
        format!("{}.>", self.base)
    }

    /// The topic number of a rig's message on `subject`; `None` for the
    /// rig's subjects that carry no message of the rig (its command
    /// requests, its link changes) and for other subjects.
    pub fn topic_of(&self, subject: &str) -> Option<u32> {
        let tail = subject.strip_prefix(&self.base)?.strip_prefix('.')?;
        let topic = match tail {
            "heartbeat" => ApiTopic::Heartbeat,
            "emergency" => ApiTopic::Emergency,
            "event" => ApiTopic::Event,
            "property" => ApiTopic::PropertyChange,
            _ if tail.starts_with("result.") => ApiTopic::CommandResult,
            _ => return tail.strip_prefix("topic.")?.parse().ok(),
        };
        Some(topic.value())
    }
}

/// A rig's value in the rig-state bucket (FLEET.md, Rig state). Times are
/// epoch seconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RigState {
    pub rig: String,
    pub online: bool,
    #[serde(default)]
    pub since: Option<f64>,
    #[serde(default)]
    pub last_heartbeat: Option<f64>,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub last_emergency: Option<Value>,
    /// The value as stored, for `--json`.
    #[serde(skip)]
    pub value: Value,
}

impl RigState {
    /// Reads a bucket value.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut state = Self::deserialize(&value).map_err(|e| e.to_string())?;
        state.value = value;
        Ok(state)
    }

    /// The generation its `protocol` names.
    pub fn generation(&self) -> Option<Generation> {
        self.protocol.as_deref()?.parse().ok()
    }

    /// How long ago its last heartbeat came.
    pub fn heartbeat_age(&self) -> Option<Duration> {
        ago(self.last_heartbeat?)
    }

    /// How long it has been online (or offline).
    pub fn state_age(&self) -> Option<Duration> {
        ago(self.since?)
    }

    /// How long ago its last emergency was.
    pub fn emergency_age(&self) -> Option<Duration> {
        ago(self.last_emergency.as_ref()?.get("at")?.as_f64()?)
    }

    /// Whether a line about the rig would say something new: everything
    /// but the heartbeat time, which moves every second.
    fn same_shown(&self, other: &Self) -> bool {
        (
            &self.rig,
            self.online,
            &self.identifier,
            &self.version,
            &self.protocol,
            &self.gateway,
        ) == (
            &other.rig,
            other.online,
            &other.identifier,
            &other.version,
            &other.protocol,
            &other.gateway,
        )
    }

    /// The value with the heartbeat's age, for `--json`.
    pub fn json(&self) -> Value {
        let mut value = json!({"type": "rig"});
        if let (Some(object), Some(stored)) = (value.as_object_mut(), self.value.as_object()) {
            object.extend(stored.clone());
            object.insert(
                "heartbeatAgeSeconds".into(),
                json!(self.heartbeat_age().map(|age| age.as_secs_f64())),
            );
        }
        value
    }
}

/// How long ago `epoch_seconds` was.
fn ago(epoch_seconds: f64) -> Option<Duration> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Some(now.saturating_sub(Duration::try_from_secs_f64(epoch_seconds).ok()?))
}

/// A connection to the fleet's NATS server.
pub struct Fleet {
    client: async_nats::Client,
    url: String,
    prefix: String,
    bucket: String,
}

impl Fleet {
    /// Connects to the server of `--nats`.
    pub async fn connect(args: &Args, url: &str) -> Result<Self, String> {
        let mut options = async_nats::ConnectOptions::new().name("remote_console");
        if let Some(creds) = &args.nats_creds {
            options = options
                .credentials_file(creds)
                .await
                .map_err(|e| format!("cannot read {}: {e}", creds.display()))?;
        }
        let client = options
            .connect(url)
            .await
            .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
        Ok(Self {
            client,
            url: url.to_owned(),
            prefix: args.prefix.clone(),
            bucket: args.bucket.clone(),
        })
    }

    async fn bucket(&self) -> Result<kv::Store, String> {
        jetstream::new(self.client.clone())
            .get_key_value(&self.bucket)
            .await
            .map_err(|e| {
                format!(
                    "no bucket {} on {} (has a gateway run?): {e}",
                    self.bucket, self.url
                )
            })
    }

    /// Every rig in the bucket, by name; a value that cannot be read is an
    /// error line of its own.
    pub async fn rig_states(&self) -> Result<Vec<Result<RigState, String>>, String> {
        let bucket = self.bucket().await?;
        let listing = |e: &dyn std::fmt::Display| format!("cannot list {}: {e}", self.bucket);
        let mut keys: Vec<String> = bucket
            .keys()
            .await
            .map_err(|e| listing(&e))?
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| listing(&e))?;
        keys.sort();
        let mut states = Vec::with_capacity(keys.len());
        for key in keys {
            let state = match bucket.get(&key).await {
                Ok(Some(bytes)) => {
                    RigState::parse(&bytes).map_err(|e| format!("rig {key}: unreadable state: {e}"))
                }
                Ok(None) => continue, // deleted meanwhile
                Err(e) => Err(format!("rig {key}: {e}")),
            };
            states.push(state);
        }
        Ok(states)
    }

    /// One rig, followed from now on.
    pub fn rig(self, name: &str, args: &Args) -> Result<FleetRig, String> {
        check_rig_name(name)?;
        let (state_tx, state) = watch::channel(None);
        tokio::spawn(follow_state(
            jetstream::new(self.client.clone()),
            self.bucket.clone(),
            name.to_owned(),
            state_tx,
        ));
        Ok(FleetRig {
            inner: Arc::new(RigInner {
                subjects: Subjects::new(&self.prefix, name),
                name: name.to_owned(),
                fleet: self,
                timeout: args.timeout.0,
                retries: args.retries,
                fixed: args.protocol.0,
                announced: Mutex::new(None),
                state,
                results: Mutex::new(HashMap::new()),
                next_nonce: AtomicI64::new(first_nonce()),
                counters: Counters::default(),
            }),
        })
    }
}

/// Keeps `state` equal to the rig's value in the bucket, waking watchers
/// only when a line about it would change. Waits for the bucket when it
/// does not exist yet, and watches again when a watch ends.
async fn follow_state(
    jetstream: jetstream::Context,
    bucket: String,
    rig: String,
    state: watch::Sender<Option<RigState>>,
) {
    loop {
        let entries = match jetstream.get_key_value(&bucket).await {
            Ok(store) => store.watch_with_history(&rig).await,
            Err(error) => {
                tracing::debug!(%error, bucket, "the rig-state bucket is not there yet");
                tokio::time::sleep(BUCKET_RETRY).await;
                continue;
            }
        };
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, bucket, rig, "cannot watch the rig's state");
                tokio::time::sleep(BUCKET_RETRY).await;
                continue;
            }
        };
        while let Some(entry) = entries.next().await {
            let new = match entry {
                Ok(entry) if entry.operation == kv::Operation::Put => {
                    match RigState::parse(&entry.value) {
                        Ok(new) => Some(new),
                        Err(error) => {
                            tracing::warn!(%error, rig, "unreadable rig state");
                            continue;
                        }
                    }
                }
                Ok(_) => None, // deleted or purged
                Err(error) => {
                    tracing::warn!(%error, rig, "watching the rig's state");
                    break;
                }
            };
            state.send_if_modified(|old| {
                let shown_changes = match (old.as_ref(), new.as_ref()) {
                    (Some(old), Some(new)) => !old.same_shown(new),
                    (None, None) => false,
                    _ => true,
                };
                *old = new;
                shown_changes
            });
        }
        if state.is_closed() {
            return;
        }
        tokio::time::sleep(BUCKET_RETRY).await;
    }
}

/// A random positive first nonce, as the device client picks one, so two
/// consoles on one rig are unlikely to share nonces.
fn first_nonce() -> i64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    i64::try_from(random & 0x3fff_ffff).unwrap_or(0) + 1
}

#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    requests: AtomicU64,
    replies: AtomicU64,
    no_reply: AtomicU64,
}

/// A pending command of this console and, once it came, its result.
struct Awaited {
    command: AwaitedCommand,
    result: watch::Receiver<Option<ApiCommandRequestResponse>>,
}

/// One rig through the fleet. Cheap to clone.
#[derive(Clone)]
pub struct FleetRig {
    inner: Arc<RigInner>,
}

struct RigInner {
    fleet: Fleet,
    name: String,
    subjects: Subjects,
    timeout: Duration,
    retries: u32,
    /// `--protocol`, when not auto.
    fixed: Option<Generation>,
    /// The generation the rig's last heartbeat announced.
    announced: Mutex<Option<Generation>>,
    state: watch::Receiver<Option<RigState>>,
    results: Mutex<HashMap<i64, Awaited>>,
    next_nonce: AtomicI64,
    counters: Counters,
}

impl FleetRig {
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// `remote console for rig …` (the prompt's first line).
    pub fn describe(&self) -> String {
        format!(
            "rig {} through NATS at {} (subjects {})",
            self.inner.name,
            self.inner.fleet.url,
            self.inner.subjects.everything()
        )
    }

    /// The generation codes are read with: `--protocol`, else the rig's
    /// last heartbeat, else its state in the bucket.
    pub fn generation(&self) -> Option<Generation> {
        let inner = &self.inner;
        inner
            .fixed
            .or(*locked(&inner.announced))
            .or_else(|| inner.state.borrow().as_ref()?.generation())
    }

    /// Waits up to `patience` until the generation is known.
    pub async fn wait_for_generation(&self, patience: Duration) {
        if self.generation().is_some() {
            return;
        }
        let mut state = self.inner.state.clone();
        let known = state.wait_for(|s| s.as_ref().and_then(RigState::generation).is_some());
        let _ = tokio::time::timeout(patience, known).await;
    }

    /// The rig's state, to read or watch.
    pub fn state(&self) -> watch::Receiver<Option<RigState>> {
        self.inner.state.clone()
    }

    /// Sends a command as a request to the rig's command subject and reads
    /// the reply; a pending command's result is awaited from then on.
    pub async fn send(&self, call: CommandCall) -> Result<Answer, SendError> {
        let inner = &self.inner;
        let nonce = inner.next_nonce.fetch_add(1, Ordering::Relaxed);
        let mut request = ApiCommandRequest::new(call.command).with_nonce(nonce);
        request.data = call.data;
        request.custom_command = call.custom_command;
        let body = serde_json::to_vec(&request).map_err(Error::from)?;
        let timeout = call.timeout.unwrap_or(inner.timeout);
        let retries = call.retries.unwrap_or(inner.retries);
        let subject = inner.subjects.command();

        // Subscribed before the request leaves (the server keeps a
        // connection's operations in order), so a result published right
        // after the reply is not missed.
        let result_subject = inner.subjects.result(nonce);
        let results = inner
            .fleet
            .client
            .subscribe(result_subject)
            .await
            .map_err(|e| SendError::Nats(e.to_string()))?;
        let mut attempts = 0;
        let message = loop {
            attempts += 1;
            inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let request = async_nats::Request::new()
                .payload(body.clone().into())
                .timeout(Some(timeout));
            match inner
                .fleet
                .client
                .send_request(subject.clone(), request)
                .await
            {
                Ok(message) => break message,
                Err(error) => {
                    inner.counters.no_reply.fetch_add(1, Ordering::Relaxed);
                    match error.kind() {
                        RequestErrorKind::TimedOut if attempts <= retries => continue,
                        RequestErrorKind::TimedOut => {
                            return Err(SendError::Api(Error::RequestTimeout {
                                command: call.command,
                                nonce,
                                attempts,
                                timeout,
                            }))
                        }
                        RequestErrorKind::NoResponders => {
                            return Err(SendError::NoGateway { subject })
                        }
                        _ => return Err(SendError::Nats(error.to_string())),
                    }
                }
            }
        };
        inner.counters.replies.fetch_add(1, Ordering::Relaxed);
        let relay_error = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(RELAY_ERROR_HEADER))
            .map(|value| value.as_str().to_owned());
        let mut reply = read_reply(&message.payload, nonce, call.command)?;
        let generation = self.generation().or(call.command.generation());
        reply.command = Command::read(generation, reply.command.value());
        if reply.result == ApiCommandRequestResult::PendingWithNotification {
            self.await_result(nonce, reply.command, results);
        }
        Ok(Answer { reply, relay_error })
    }

    /// Keeps the result subscription of a pending command until its result
    /// comes.
    fn await_result(&self, nonce: i64, command: Command, mut results: async_nats::Subscriber) {
        let (found, result) = watch::channel(None);
        let awaited = Awaited {
            command: AwaitedCommand {
                nonce,
                command,
                since: SystemTime::now(),
            },
            result,
        };
        {
            let mut book = locked(&self.inner.results);
            if book.len() >= RESULTS_KEPT {
                book.retain(|_, a| a.result.borrow().is_none());
            }
            book.insert(nonce, awaited);
        }
        let rig = self.clone();
        tokio::spawn(async move {
            while let Some(message) = results.next().await {
                let frames = frames(ApiTopic::CommandResult.value(), &message.payload);
                let generation = rig.generation().or(command.generation());
                if let DeviceMessage::CommandResult(result) = decode_message(frames, generation) {
                    if result.nonce == nonce {
                        found.send_replace(Some(result));
                        return;
                    }
                }
            }
        });
    }

    /// Waits for the result of this console's pending command `nonce`.
    pub async fn wait_for_result(
        &self,
        nonce: i64,
        timeout: Duration,
    ) -> Result<ApiCommandRequestResponse, Error> {
        let mut result = locked(&self.inner.results)
            .get(&nonce)
            .map(|awaited| awaited.result.clone())
            .ok_or(Error::UnknownNonce { nonce })?;
        let arrived = match tokio::time::timeout(timeout, result.wait_for(Option::is_some)).await {
            Ok(Ok(arrived)) => arrived.clone().ok_or(Error::ClientClosed),
            Ok(Err(_)) => Err(Error::ClientClosed),
            Err(_) => Err(Error::ResultTimeout { nonce, timeout }),
        };
        arrived
    }

    /// This console's commands still waiting for their result, oldest first.
    pub fn awaited_commands(&self) -> Vec<AwaitedCommand> {
        let mut awaited: Vec<AwaitedCommand> = locked(&self.inner.results)
            .values()
            .filter(|a| a.result.borrow().is_none())
            .map(|a| a.command.clone())
            .collect();
        awaited.sort_by_key(|a| a.since);
        awaited
    }

    /// The rig's messages from now on.
    pub async fn subscribe(&self) -> Result<RigMessages, SendError> {
        let client = &self.inner.fleet.client;
        let subscriber = client
            .subscribe(self.inner.subjects.everything())
            .await
            .map_err(|e| SendError::Nats(e.to_string()))?;
        // Once the server has the subscription, nothing published is missed.
        client
            .flush()
            .await
            .map_err(|e| SendError::Nats(e.to_string()))?;
        Ok(RigMessages {
            subscriber,
            rig: self.clone(),
        })
    }

    /// The counters, as a line and as JSON.
    pub fn counters(&self) -> (String, Value) {
        let counters = &self.inner.counters;
        let [messages, requests, replies, no_reply] = [
            &counters.messages,
            &counters.requests,
            &counters.replies,
            &counters.no_reply,
        ]
        .map(|c| c.load(Ordering::Relaxed));
        (
            format!(
                "messages {messages}, requests {requests}, replies {replies}, \
                 requests without reply {no_reply}"
            ),
            json!({"type": "stats", "messagesReceived": messages, "requestsSent": requests,
                   "repliesReceived": replies, "requestTimeouts": no_reply}),
        )
    }
}

/// A published message's frames as a device sends them: the topic, then
/// the body.
fn frames(topic: u32, body: &[u8]) -> Vec<Vec<u8>> {
    vec![topic.to_le_bytes().to_vec(), body.to_vec()]
}

/// Reads a reply and checks it answers `nonce` (a 0.12 device answers NONE
/// with nonce 0, which is accepted for NONE only).
fn read_reply(
    body: &[u8],
    nonce: i64,
    command: Command,
) -> Result<ApiCommandRequestServiceResponse, Error> {
    let reply: ApiCommandRequestServiceResponse =
        serde_json::from_slice(body).map_err(|e| Error::InvalidReply(e.to_string()))?;
    let ping_answered_by_0_12 =
        command.value() == 0 && reply.nonce == 0 && reply.command.value() == 0;
    if reply.nonce != nonce && !ping_answered_by_0_12 {
        return Err(Error::InvalidReply(format!(
            "the reply is for nonce {}, not {nonce}",
            reply.nonce
        )));
    }
    Ok(reply)
}

/// The rig's messages through the fleet, decoded as the device client
/// decodes them.
pub struct RigMessages {
    subscriber: async_nats::Subscriber,
    rig: FleetRig,
}

impl RigMessages {
    /// The next message; `None` when the connection is gone.
    pub async fn recv(&mut self) -> Option<DeviceMessage> {
        let inner = &self.rig.inner;
        while let Some(message) = self.subscriber.next().await {
            let Some(topic) = inner.subjects.topic_of(&message.subject) else {
                continue;
            };
            inner.counters.messages.fetch_add(1, Ordering::Relaxed);
            let decoded = decode_message(frames(topic, &message.payload), self.rig.generation());
            if let DeviceMessage::Heartbeat(heartbeat) = &decoded {
                if let Some(announced) = Generation::from_version(&heartbeat.version) {
                    *locked(&inner.announced) = Some(announced);
                }
            }
            return Some(decoded);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_map_to_topics() {
        let subjects = Subjects::new("autotrainer", "rig-7");
        assert_eq!(subjects.command(), "autotrainer.rig-7.command");
        assert_eq!(subjects.result(42), "autotrainer.rig-7.result.42");
        assert_eq!(subjects.everything(), "autotrainer.rig-7.>");
        let topic = |tail: &str| subjects.topic_of(&format!("autotrainer.rig-7.{tail}"));
        assert_eq!(topic("heartbeat"), Some(1001));
        assert_eq!(topic("emergency"), Some(2001));
        assert_eq!(topic("event"), Some(4001));
        assert_eq!(topic("property"), Some(5001));
        assert_eq!(topic("result.42"), Some(6001));
        assert_eq!(topic("topic.7777"), Some(7777));
        assert_eq!(topic("command"), None);
        assert_eq!(topic("link"), None);
        assert_eq!(subjects.topic_of("autotrainer.rig-70.event"), None);
    }

    #[test]
    fn rig_names_are_one_token() {
        assert!(check_rig_name("rig_7-b").is_ok());
        for bad in ["", "rig.7", "rig 7", "rig*", ">", "fleet", "gateway"] {
            assert!(check_rig_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_a_bucket_value() {
        let state = RigState::parse(
            br#"{"rig": "rig-7", "online": true, "since": 1.5, "lastHeartbeat": 2.5,
                 "identifier": "app-7", "version": "0.12.0", "protocol": "0.12",
                 "gateway": "site-a", "lastEmergency": null}"#,
        )
        .unwrap();
        assert_eq!(state.generation(), Some(Generation::V0_12));
        assert!(state.heartbeat_age().unwrap() > Duration::from_secs(1000));
        assert_eq!(state.json()["gateway"], "site-a");
        assert!(RigState::parse(b"[]").is_err());
    }
}
