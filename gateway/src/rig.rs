//! The rig side: one operator client per rig (its SUB and its REQ, each
//! owned by one thread of the library's client), and the tasks that turn
//! what the rig publishes into NATS messages and its liveness into the
//! rig's record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use auto_trainer_api::{ApiTopic, DeviceClient, Generation, LinkState, Liveness, ReceivedFrames};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::RigConfig;
use crate::subjects::{
    RepeatedIds, Subjects, GATEWAY_HEADER, MSG_ID_HEADER, RECEIVED_HEADER, RIG_HEADER, TOPIC_HEADER,
};

/// A message on its way to NATS.
#[derive(Debug)]
pub struct Outbound {
    /// Its subject.
    pub subject: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub payload: Bytes,
    /// Whether the stream stores it (published through JetStream, until
    /// acknowledged) or not (heartbeats).
    pub stored: bool,
}

/// Heartbeat ages are written to the bucket at most this often per rig.
const RECORD_REFRESH: Duration = Duration::from_secs(1);

/// A rig's counters, reported by the gateway's status request.
#[derive(Debug, Default)]
pub struct RigCounters {
    /// Messages handed on towards NATS.
    pub bridged: AtomicU64,
    /// Messages dropped: the buffer towards NATS was full.
    pub dropped: AtomicU64,
    /// Messages that broke the protocol (counted; forwarded to
    /// `P.<rig>.topic.<n>` when their topic could be read, else dropped).
    pub malformed: AtomicU64,
    /// Command requests handled.
    pub commands: AtomicU64,
    /// Commands whose rig did not answer in time.
    pub timeouts: AtomicU64,
}

impl RigCounters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The rig's record in the bucket (FLEET.md, "Rig state"); times in epoch
/// seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RigRecord {
    /// The rig's name.
    pub rig: String,
    /// Heartbeats arrive.
    pub online: bool,
    /// When `online` last changed (or the gateway started watching).
    pub since: f64,
    /// When the last heartbeat arrived; `None` before the first.
    pub last_heartbeat: Option<f64>,
    /// The rig's identifier, from its heartbeats.
    pub identifier: Option<String>,
    /// Its library version, from its heartbeats.
    pub version: Option<String>,
    /// Its protocol generation, `0.9` or `0.12` (configured or detected).
    pub protocol: Option<&'static str>,
    /// The gateway that wrote the record.
    pub gateway: String,
    /// The last EMERGENCY message: `{"at", "event"}`.
    pub last_emergency: Option<Value>,
}

/// Now, epoch seconds.
pub fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One bridged rig.
pub struct Rig {
    /// Its configuration.
    pub config: RigConfig,
    /// The operator client connected to it.
    pub client: DeviceClient,
    /// Its counters.
    pub counters: Arc<RigCounters>,
    last_emergency: Arc<Mutex<Option<Value>>>,
    tasks: Vec<JoinHandle<()>>,
}

/// What a rig's tasks share with the rest of the gateway.
#[derive(Clone)]
pub struct Links {
    /// The gateway's name, for headers and records.
    pub gateway: String,
    /// Subject names.
    pub subjects: Subjects,
    /// Messages towards NATS (bounded: full means dropped and counted).
    pub outbound: mpsc::Sender<Outbound>,
    /// Records towards the bucket (the latest per rig wins).
    pub records: crate::nats::RecordSink,
    /// The stream's duplicate window (for ids of repeated bodies).
    pub duplicate_window: Duration,
}

impl Rig {
    /// Connects to the rig and starts bridging it.
    ///
    /// # Errors
    /// When the client cannot be created (bad host, key file).
    pub fn start(
        config: RigConfig,
        command_timeout: Duration,
        links: Links,
    ) -> Result<Self, crate::config::ConfigError> {
        let options = config.client_options(command_timeout)?;
        let client = DeviceClient::connect(options)
            .map_err(|e| crate::config::ConfigError(format!("rig '{}': {e}", config.name)))?;
        let counters = Arc::new(RigCounters::default());
        let last_emergency = Arc::new(Mutex::new(None));
        let (emergency_tx, emergency_rx) = watch::channel(());
        let events = tokio::spawn(bridge_events(
            config.name.clone(),
            client.subscribe_frames(),
            links.clone(),
            counters.clone(),
            last_emergency.clone(),
            emergency_tx,
        ));
        let state = tokio::spawn(follow_liveness(
            config.name.clone(),
            client.liveness(),
            links,
            last_emergency.clone(),
            emergency_rx,
        ));
        Ok(Self {
            config,
            client,
            counters,
            last_emergency,
            tasks: vec![events, state],
        })
    }

    /// Keeps `task` running as long as the rig is bridged.
    pub fn keep(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Whether heartbeats arrive.
    pub fn is_online(&self) -> bool {
        self.client.liveness().borrow().state == LinkState::Online
    }

    /// The generation its commands are read with: configured, detected, or
    /// 0.9 before anything is known.
    pub fn generation(&self) -> Generation {
        self.client.generation().unwrap_or(Generation::V0_9)
    }

    /// The last EMERGENCY message, as in the record.
    pub fn last_emergency(&self) -> Option<Value> {
        self.last_emergency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops bridging and closes the client, from async code: closing
    /// waits for the client's threads (they end at once on their stop
    /// signal), which is done on a blocking thread, not a runtime worker.
    pub async fn close(self: Arc<Self>) {
        if let Err(error) = tokio::task::spawn_blocking(move || self.stop()).await {
            tracing::error!(%error, "closing a rig's client failed");
        }
    }

    /// Stops bridging and closes the client.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        self.client.close();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The headers of a bridged message (FLEET.md): the rig, the gateway, the
/// topic when it could be read, when the gateway read it, and its
/// `Nats-Msg-Id` for the messages the stream stores.
pub fn headers(
    gateway: &str,
    rig: &str,
    topic: Option<u32>,
    id: Option<String>,
    received: SystemTime,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RIG_HEADER, rig);
    headers.insert(GATEWAY_HEADER, gateway);
    if let Some(topic) = topic {
        headers.insert(TOPIC_HEADER, topic.to_string().as_str());
    }
    headers.insert(
        RECEIVED_HEADER,
        format!("{:.6}", epoch_seconds(received)).as_str(),
    );
    if let Some(id) = id {
        headers.insert(MSG_ID_HEADER, id.as_str());
    }
    headers
}

/// What a rig's message becomes on NATS; `None` when it is dropped (its
/// topic cannot be read).
fn outbound_of(
    links: &Links,
    rig: &str,
    mut received: ReceivedFrames,
    counters: &RigCounters,
    ids: &mut RepeatedIds,
) -> Option<Outbound> {
    let topic_frame = received
        .frames
        .first()
        .and_then(|f| ApiTopic::from_frame(f));
    let Some(topic) = topic_frame else {
        RigCounters::bump(&counters.malformed);
        tracing::warn!(rig, "message without a 4-byte topic frame: dropped");
        return None;
    };
    let number = topic.value();
    let well_formed = received.frames.len() == 2;
    let body = if well_formed {
        received.frames.pop().unwrap_or_default()
    } else {
        // Every frame after the topic, joined: kept for whoever looks.
        received.frames.drain(1..).flatten().collect()
    };
    let subject = match (well_formed, links.subjects.event(rig, topic, &body)) {
        (true, Some(subject)) => subject,
        _ => {
            RigCounters::bump(&counters.malformed);
            tracing::warn!(
                rig,
                topic = number,
                "malformed message: forwarded to its topic subject"
            );
            links.subjects.topic(rig, number)
        }
    };
    let id = ids.next(rig, number, &body, Instant::now());
    let headers = headers(
        &links.gateway,
        rig,
        Some(number),
        Some(id),
        received.received,
    );
    Some(Outbound {
        subject,
        headers,
        payload: Bytes::from(body),
        stored: topic != ApiTopic::Heartbeat,
    })
}

/// Every message the rig publishes, onto the buffer towards NATS.
async fn bridge_events(
    rig: String,
    mut frames: auto_trainer_api::FrameStream,
    links: Links,
    counters: Arc<RigCounters>,
    last_emergency: Arc<Mutex<Option<Value>>>,
    emergency_seen: watch::Sender<()>,
) {
    let mut ids = RepeatedIds::new(links.duplicate_window);
    while let Some(received) = frames.recv().await {
        let is_emergency =
            received.frames.first().map(Vec::as_slice) == Some(&ApiTopic::Emergency.to_frame()[..]);
        if is_emergency {
            let event = received
                .frames
                .get(1)
                .and_then(|body| serde_json::from_slice::<Value>(body).ok())
                .unwrap_or(Value::Null);
            let at = epoch_seconds(received.received);
            *last_emergency.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(serde_json::json!({"at": at, "event": event}));
            emergency_seen.send_replace(());
        }
        let Some(outbound) = outbound_of(&links, &rig, received, &counters, &mut ids) else {
            continue;
        };
        match links.outbound.try_send(outbound) {
            Ok(()) => RigCounters::bump(&counters.bridged),
            Err(_) => RigCounters::bump(&counters.dropped),
        }
    }
}

/// Keeps the rig's record: at once when it goes online or offline (plus a
/// `P.<rig>.link` event) or has a new emergency, else at most once a second
/// while heartbeats arrive.
async fn follow_liveness(
    rig: String,
    mut liveness: watch::Receiver<Liveness>,
    links: Links,
    last_emergency: Arc<Mutex<Option<Value>>>,
    mut emergency_seen: watch::Receiver<()>,
) {
    let started = SystemTime::now();
    let mut since = started;
    let mut online = false;
    let mut written_heartbeat: Option<Instant> = None;
    let mut first = true;
    let mut new_emergency = false;
    let mut tick = tokio::time::interval(RECORD_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now_online = liveness.borrow().state == LinkState::Online;
        let link_changed = now_online != online;
        if link_changed {
            online = now_online;
            since = SystemTime::now();
            let body =
                serde_json::json!({"rig": rig, "online": online, "at": epoch_seconds(since)});
            let payload = Bytes::from(body.to_string());
            let subject = links.subjects.link(&rig);
            let headers = headers(&links.gateway, &rig, None, None, since);
            if links
                .outbound
                .try_send(Outbound {
                    subject,
                    headers,
                    payload,
                    stored: true,
                })
                .is_err()
            {
                tracing::warn!(rig, "buffer towards NATS full: a link event was dropped");
            }
            tracing::info!(rig, online, "rig link changed");
        }
        let snapshot = liveness.borrow().clone();
        let heartbeat_moved = snapshot.last_heartbeat != written_heartbeat;
        if first || link_changed || heartbeat_moved || new_emergency {
            first = false;
            new_emergency = false;
            written_heartbeat = snapshot.last_heartbeat;
            let record = record_of(
                &rig,
                &links.gateway,
                &snapshot,
                online,
                since,
                &last_emergency,
            );
            links.records.put(rig.clone(), record);
        }
        tokio::select! {
            changed = liveness.changed() => if changed.is_err() { break },
            seen = emergency_seen.changed() => match seen {
                Ok(()) => new_emergency = true,
                Err(_) => break,
            },
            _ = tick.tick() => {}
        }
    }
}

fn record_of(
    rig: &str,
    gateway: &str,
    liveness: &Liveness,
    online: bool,
    since: SystemTime,
    last_emergency: &Mutex<Option<Value>>,
) -> RigRecord {
    // The heartbeat's wall-clock time, from its age on the monotonic clock.
    let last_heartbeat = liveness.last_heartbeat.map(|at| {
        let age = at.elapsed();
        epoch_seconds(SystemTime::now() - age)
    });
    RigRecord {
        rig: rig.to_owned(),
        online,
        since: epoch_seconds(since),
        last_heartbeat,
        identifier: liveness.identifier.clone(),
        version: liveness.version.clone(),
        protocol: liveness.generation.map(Generation::short_name),
        gateway: gateway.to_owned(),
        last_emergency: last_emergency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}
