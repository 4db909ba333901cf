//! The gateway: the rigs, the NATS side, and the requests it answers
//! (commands, the fleet-wide emergency stop, its status, reload).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use async_nats::{HeaderMap, Message};
use auto_trainer_api::{
    ApiCommandRequestServiceResponse, Command, Error as ClientError, Generation, RpcOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError, RigConfig};
use crate::dashboard::{self, LastStatuses, GET_STATUS};
use crate::nats::{self, NatsCounters, RecordSink};
use crate::rig::{Links, Rig};
use crate::subjects::{Subjects, ERROR_HEADER, GATEWAY_HEADER, QUEUE_GROUP, RIG_HEADER};

/// The number of EMERGENCY_STOP in both generations.
const EMERGENCY_STOP: i64 = 200;

/// The queue group of the subscriptions that answer requests for rigs no
/// gateway bridges: one gateway answers each.
const UNKNOWN_RIG_GROUP: &str = "autotrainer-gateway-unknown";

/// A running gateway's state, shared by its tasks.
struct Shared {
    name: String,
    config_path: Option<PathBuf>,
    command_timeout: Duration,
    max_request_bytes: usize,
    subjects: Subjects,
    links: Links,
    client: async_nats::Client,
    /// The rig bucket: which rigs any gateway bridges, and their state.
    bucket: kv::Store,
    nats_counters: Arc<NatsCounters>,
    rigs: RwLock<BTreeMap<String, Arc<Rig>>>,
    /// Nonces of the gateway's own commands (fleet-wide emergency stop,
    /// status polls).
    next_nonce: AtomicI64,
    /// The last GET_STATUS reply of each rig, for the dashboard.
    statuses: LastStatuses,
}

/// What `P.gateway.<name>.status` answers (and the metrics export).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GatewayStatus {
    /// The gateway's name.
    pub gateway: String,
    /// Its version.
    pub version: &'static str,
    /// The NATS side.
    pub nats: NatsStatus,
    /// Each rig.
    pub rigs: Vec<RigStatus>,
}

/// The NATS side of [`GatewayStatus`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NatsStatus {
    /// Messages published.
    pub published: u64,
    /// Messages dropped, all rigs together.
    pub dropped: u64,
    /// Publications and record writes that failed (each retry counts).
    pub errors: u64,
    /// Stored messages given up on after a minute of retries.
    pub lost: u64,
    /// Rig records written.
    pub records: u64,
}

/// One rig of [`GatewayStatus`].
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RigStatus {
    /// Its name.
    pub rig: String,
    /// Heartbeats arrive.
    pub online: bool,
    /// `0.9` or `0.12`, once known.
    pub protocol: Option<&'static str>,
    /// Messages handed on towards NATS.
    pub bridged: u64,
    /// Messages lost: the buffer towards NATS was full, or the gateway fell
    /// behind the rig.
    pub dropped: u64,
    /// Messages that broke the protocol.
    pub malformed: u64,
    /// Command requests handled.
    pub commands: u64,
    /// Commands the rig did not answer in time.
    pub timeouts: u64,
    /// Times the SUB connection to the rig was made again.
    pub reconnects: u64,
    /// The last EMERGENCY message.
    pub last_emergency: Option<Value>,
}

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// NATS could not be set up.
    #[error("NATS: {0}")]
    Nats(String),
}

/// Runs a gateway with `config` until `shutdown` completes. Prints one
/// line starting with `ready:` on stdout once its stream, bucket and
/// subscriptions are in place. `reloads` asks it to re-read `config_path`
/// (SIGHUP in the binary).
///
/// # Errors
/// When a rig cannot be set up (a key file) or NATS refuses the connection
/// settings.
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    mut reloads: mpsc::Receiver<()>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    let name = config.gateway.name.clone();
    let subjects = Subjects::new(config.nats.prefix.clone());
    let client = nats::connect(&config.nats, &name)
        .await
        .map_err(|e| GatewayError::Nats(e.to_string()))?;
    let jetstream = async_nats::jetstream::new(client.clone());
    nats::until_done("create the stream", || {
        nats::ensure_stream(&jetstream, &config.nats, &subjects)
    })
    .await;
    let bucket = nats::until_done("create the bucket", || {
        nats::ensure_bucket(&jetstream, &config.nats)
    })
    .await;

    let nats_counters = Arc::new(NatsCounters::default());
    let (outbound, outbound_rx) = mpsc::channel(config.gateway.buffer);
    let records = RecordSink::default();
    let mut tasks: Vec<JoinHandle<()>> = vec![
        tokio::spawn(nats::publish_outbound(
            outbound_rx,
            jetstream.clone(),
            nats_counters.clone(),
        )),
        tokio::spawn(nats::write_records(
            records.clone(),
            bucket.clone(),
            nats_counters.clone(),
        )),
    ];
    let shared = Arc::new(Shared {
        name: name.clone(),
        config_path,
        command_timeout: config.nats.command_timeout,
        max_request_bytes: RpcOptions::default().max_request_bytes,
        subjects: subjects.clone(),
        links: Links {
            gateway: name.clone(),
            subjects: subjects.clone(),
            outbound,
            records,
            duplicate_window: config.nats.duplicate_window,
        },
        client: client.clone(),
        bucket,
        nats_counters,
        rigs: RwLock::new(BTreeMap::new()),
        next_nonce: AtomicI64::new(first_nonce()),
        statuses: LastStatuses::default(),
    });
    for rig in config.rigs.clone() {
        shared.add_rig(rig).await?;
    }
    let _telemetry = export_metrics(&config.telemetry, &shared);

    let subscribe = |subject: String, queue: bool| {
        let client = client.clone();
        async move {
            if queue {
                client.queue_subscribe(subject, QUEUE_GROUP.into()).await
            } else {
                client.subscribe(subject).await
            }
            .map_err(|e| GatewayError::Nats(e.to_string()))
        }
    };
    // Commands for a rig go to the gateways that bridge it (each rig's own
    // subscription, in the queue group); this one answers requests for
    // rigs no gateway bridges, once (a queue group of its own).
    let unknown = client
        .queue_subscribe(subjects.every_command(), UNKNOWN_RIG_GROUP.into())
        .await
        .map_err(|e| GatewayError::Nats(e.to_string()))?;
    let emergency = subscribe(subjects.fleet_emergency_stop(), true).await?;
    let status = subscribe(subjects.status(&name), false).await?;
    let reload = subscribe(subjects.reload(&name), false).await?;
    tasks.push(serve(unknown, shared.clone(), Shared::answer_unknown_rig));
    tasks.push(serve(emergency, shared.clone(), Shared::stop_fleet));
    tasks.push(serve(status, shared.clone(), Shared::answer_status));
    tasks.push(serve(reload, shared.clone(), Shared::answer_reload));
    if let Some(every) = config.gateway.status_poll {
        tasks.push(tokio::spawn(shared.clone().poll_statuses(every)));
    }
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(address) = &config.gateway.http {
        let links = dashboard::Links {
            client: client.clone(),
            jetstream: jetstream.clone(),
            bucket: shared.bucket.clone(),
            statuses: shared.statuses.clone(),
            first_nonce: first_nonce(),
        };
        let stopped = async move {
            let _ = http_stopped.await;
        };
        let (bound, serving) = dashboard::bind(&config, address, links, stopped).await?;
        tasks.push(tokio::spawn(serving));
        println!("http: http://{bound}");
        tracing::info!(%bound, "dashboard");
    }
    let _ = client.flush().await;

    println!(
        "ready: gateway {name} bridging {} rigs via {}",
        shared.rig_names().len(),
        config.nats.url
    );
    tracing::info!(gateway = %name, "ready");

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(()) = reloads.recv() => {
                match shared.reload().await {
                    Ok(outcome) => tracing::info!(%outcome, "configuration reloaded"),
                    Err(error) => tracing::error!(%error, "configuration not reloaded"),
                }
            }
        }
    }
    tracing::info!(gateway = %name, "stopping");
    let _ = stop_http.send(());
    let rigs: Vec<_> = std::mem::take(&mut *shared.rigs.write().unwrap_or_else(|e| e.into_inner()))
        .into_values()
        .collect();
    for rig in rigs {
        rig.close().await;
    }
    // What the rigs sent goes out if NATS takes it soon; a server that is
    // gone does not hold the stop up.
    let outbound = shared.links.outbound.clone();
    let drained = async {
        while outbound.capacity() < outbound.max_capacity() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = client.flush().await;
    };
    if tokio::time::timeout(STOP_GRACE, drained).await.is_err() {
        tracing::warn!("NATS did not take the last messages in time; stopping anyway");
    }
    for task in &tasks {
        task.abort();
    }
    Ok(())
}

/// How long a stopping gateway waits for NATS to take what is buffered.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Registers the status figures as metrics when `[telemetry]` enables them
/// (the exporter is set up before, outside the runtime, by
/// [`auto_trainer_api::configure_telemetry`]); what is returned keeps them.
fn export_metrics(
    section: &crate::config::TelemetrySection,
    shared: &Arc<Shared>,
) -> Option<Box<dyn std::any::Any + Send>> {
    if !section.enable {
        return None;
    }
    #[cfg(feature = "telemetry")]
    {
        let weak = Arc::downgrade(shared);
        let status = Arc::new(move || {
            weak.upgrade()
                .map_or_else(GatewayStatus::default, |shared| shared.status())
        });
        Some(Box::new(crate::metrics::register(status)))
    }
    #[cfg(not(feature = "telemetry"))]
    {
        let _ = shared;
        tracing::warn!(
            "[telemetry] enable = true, but this gateway was built without the telemetry feature"
        );
        None
    }
}

/// Requests of one subscription being answered at once; more wait in the
/// subscription (and beyond its capacity, NATS counts this gateway a slow
/// consumer), so a flood of requests cannot grow the gateway without bound.
const REQUESTS_IN_FLIGHT: usize = 1024;

/// Answers each request of `subscription` with `answer`, each on a task of
/// its own (a slow rig holds up no other request).
fn serve<F, Fut>(
    mut subscription: async_nats::Subscriber,
    shared: Arc<Shared>,
    answer: F,
) -> JoinHandle<()>
where
    F: Fn(Arc<Shared>, Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let in_flight = Arc::new(tokio::sync::Semaphore::new(REQUESTS_IN_FLIGHT));
    tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let answering = answer(shared.clone(), message);
            tokio::spawn(async move {
                answering.await;
                drop(permit);
            });
        }
    })
}

/// A random positive start for nonces, far from 0 and -1 (as the
/// library's client numbers its own).
fn first_nonce() -> i64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    i64::try_from(random & 0x3fff_ffff).unwrap_or(0) + 1
}

/// One command reply, with the headers saying which rig and gateway.
struct Reply {
    body: Bytes,
    error: Option<&'static str>,
}

impl Reply {
    fn from_rig(bytes: Vec<u8>) -> Self {
        Self {
            body: Bytes::from(bytes),
            error: None,
        }
    }

    fn gateway(
        reply: &ApiCommandRequestServiceResponse,
        generation: Generation,
        error: &'static str,
    ) -> Self {
        Self {
            body: Bytes::from(reply.to_wire(generation)),
            error: Some(error),
        }
    }
}

impl Shared {
    fn rig(&self, name: &str) -> Option<Arc<Rig>> {
        self.rigs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn rig_names(&self) -> Vec<String> {
        self.rigs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Starts bridging a rig and answering its commands (subscribed
    /// before this returns, so a request sent next reaches it).
    async fn add_rig(self: &Arc<Self>, config: RigConfig) -> Result<(), ConfigError> {
        let name = config.name.clone();
        let mut rig = Rig::start(config, self.command_timeout, self.links.clone())?;
        let commands = self
            .client
            .queue_subscribe(self.subjects.command(&name), QUEUE_GROUP.into())
            .await
            .map_err(|e| {
                ConfigError(format!(
                    "rig '{name}': cannot subscribe to its commands: {e}"
                ))
            })?;
        rig.keep(serve(commands, self.clone(), Shared::answer_command));
        tracing::info!(rig = %name, host = %rig.config.host, "bridging rig");
        self.rigs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, Arc::new(rig));
        Ok(())
    }

    /// Re-reads the configuration file: rigs that are new or changed are
    /// (re)started, rigs no longer in it stop. Other sections need a
    /// restart.
    /// Takes a rig no longer bridged out of the bucket, so it counts as
    /// unknown again (a gateway that still bridges it writes its record back
    /// within a second).
    async fn forget_rig(&self, name: &str) {
        self.links.records.forget(name);
        if let Err(error) = self.bucket.delete(name).await {
            tracing::warn!(%error, rig = name, "cannot take the rig out of the bucket");
        }
    }

    async fn reload(self: &Arc<Self>) -> Result<Value, ConfigError> {
        let path = self
            .config_path
            .as_ref()
            .ok_or_else(|| ConfigError("this gateway has no configuration file".into()))?;
        let config = Config::load(path)?;
        // Every rig's options (its key file too) are read before anything
        // changes; a rig whose key changed is restarted with the new one.
        let mut wanted = BTreeMap::new();
        for rig in config.rigs {
            let key = rig.client_options(self.command_timeout)?.signing;
            wanted.insert(rig.name.clone(), (rig, key));
        }
        let mut removed = Vec::new();
        let mut added = Vec::new();
        let current: Vec<_> = self
            .rigs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, rig)| {
                let key = rig.client.options().signing.clone();
                (name.clone(), (rig.config.clone(), key))
            })
            .collect();
        for (name, running) in &current {
            if wanted.get(name) != Some(running) {
                // Out of the map first: requests still on the rig's own
                // subscription are answered unknown-rig, none unanswered.
                let stopped = self
                    .rigs
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(name);
                let gone = !wanted.contains_key(name);
                if gone {
                    self.forget_rig(name).await;
                }
                if let Some(rig) = stopped {
                    rig.close().await;
                }
                if gone {
                    // What the rig's tasks wrote meanwhile goes too.
                    self.forget_rig(name).await;
                }
                removed.push(name.clone());
            }
        }
        for (name, (config, _)) in wanted {
            if self.rig(&name).is_none() {
                self.add_rig(config).await?;
                added.push(name);
            }
        }
        Ok(json!({"ok": true, "rigs": self.rig_names(), "added": added, "removed": removed}))
    }

    async fn respond(&self, request: &Message, rig: &str, reply: Reply) {
        let Some(reply_to) = request.reply.clone() else {
            return; // published, not requested: nobody to answer
        };
        let mut headers = HeaderMap::new();
        headers.insert(RIG_HEADER, rig);
        headers.insert(GATEWAY_HEADER, self.name.as_str());
        if let Some(error) = reply.error {
            headers.insert(ERROR_HEADER, error);
        }
        if let Err(error) = self
            .client
            .publish_with_headers(reply_to, headers, reply.body)
            .await
        {
            tracing::warn!(%error, rig, "cannot send a command reply");
        }
    }

    /// `P.<rig>.command` of a rig of this gateway: checked here, then the
    /// rig's own reply bytes.
    async fn answer_command(self: Arc<Self>, request: Message) {
        let rig_name = self
            .subjects
            .rig_of_command(&request.subject)
            .unwrap_or_default()
            .to_owned();
        let reply = match self.rig(&rig_name) {
            Some(rig) => self.command_rig(&rig, &request.payload).await,
            // Removed by a reload while the request was on its way.
            None => self.unknown_rig_reply(&rig_name, &request.payload),
        };
        self.respond(&request, &rig_name, reply).await;
    }

    /// `P.*.command`: answered only for a rig that no gateway bridges (not
    /// this one, and none in the bucket); the others are answered by their
    /// gateway's subscription.
    async fn answer_unknown_rig(self: Arc<Self>, request: Message) {
        let Some(rig_name) = self.subjects.rig_of_command(&request.subject) else {
            return;
        };
        if self.rig(rig_name).is_some() {
            return;
        }
        match self.bucket.get(rig_name).await {
            Ok(Some(_)) => return, // another gateway's rig
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, rig = rig_name, "cannot read the rig bucket"),
        }
        let reply = self.unknown_rig_reply(rig_name, &request.payload);
        self.respond(&request, rig_name, reply).await;
    }

    fn unknown_rig_reply(&self, rig: &str, payload: &[u8]) -> Reply {
        let message = format!(
            "no gateway bridges a rig '{rig}' (asked gateway '{}')",
            self.name
        );
        self.unavailable(payload, Generation::V0_9, message, "unknown-rig")
    }

    /// A reply UNAVAILABLE for `payload`, echoing what can be read of it.
    fn unavailable(
        &self,
        payload: &[u8],
        generation: Generation,
        message: String,
        error: &'static str,
    ) -> Reply {
        let (command, nonce) = match ApiCommandRequestServiceResponse::check_request(
            payload,
            self.max_request_bytes,
            generation,
        ) {
            Ok(request) => (
                Command::read(Some(generation), request.command),
                request.nonce,
            ),
            Err(malformed) => (malformed.command, malformed.nonce),
        };
        let reply = ApiCommandRequestServiceResponse::unavailable(command, nonce, message);
        Reply::gateway(&reply, generation, error)
    }

    async fn command_rig(&self, rig: &Rig, payload: &Bytes) -> Reply {
        let name = &rig.config.name;
        rig.counters.commands.fetch_add(1, Ordering::Relaxed);
        let generation = rig.generation();
        let request = match ApiCommandRequestServiceResponse::check_request(
            payload,
            self.max_request_bytes,
            generation,
        ) {
            Ok(request) => request,
            Err(malformed) => return Reply::gateway(&malformed, generation, "malformed"),
        };
        let command = Command::read(Some(generation), request.command);
        let unavailable = |message: String, error| {
            let reply =
                ApiCommandRequestServiceResponse::unavailable(command, request.nonce, message);
            Reply::gateway(&reply, generation, error)
        };
        if !rig.is_online() {
            return unavailable(
                format!("rig '{name}' is offline (no heartbeats)"),
                "offline",
            );
        }
        let timeout = self.command_timeout;
        // The client times the attempt from when it is sent; this bounds the
        // wait behind other commands of the same rig too.
        let forwarded =
            tokio::time::timeout(timeout, rig.client.forward(payload.to_vec(), timeout)).await;
        match forwarded {
            Ok(Ok(forwarded)) => match forwarded.reply {
                Ok(_) | Err(ClientError::Refused { .. }) => {
                    self.statuses.offer(name, request.command, &forwarded.bytes);
                    Reply::from_rig(forwarded.bytes)
                }
                Err(error) => unavailable(
                    format!("rig '{name}' sent an invalid reply: {error}"),
                    "invalid-reply",
                ),
            },
            Ok(Err(ClientError::RequestTimeout { .. })) | Err(_) => {
                rig.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                unavailable(
                    format!(
                        "rig '{name}' did not answer within {}",
                        humantime::format_duration(timeout)
                    ),
                    "timeout",
                )
            }
            Ok(Err(error)) => unavailable(format!("rig '{name}': {error}"), "offline"),
        }
    }

    /// Asks each online rig of this gateway for its status every `every`,
    /// for the dashboard (the replies are kept by [`Self::command_rig`]).
    async fn poll_statuses(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let rigs: Vec<Arc<Rig>> = self
                .rigs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .filter(|rig| rig.is_online())
                .cloned()
                .collect();
            let shared = &self;
            let polls = rigs.iter().map(|rig| {
                let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
                let body = json!({"command": GET_STATUS, "nonce": nonce, "data": null, "customCommand": null});
                let payload = Bytes::from(body.to_string());
                async move {
                    shared.command_rig(rig, &payload).await;
                }
            });
            futures_util::future::join_all(polls).await;
        }
    }

    /// `P.fleet.emergency-stop`: EMERGENCY_STOP to every online rig of the
    /// bucket at once (whichever gateway bridges it: the stop goes as a
    /// command request through NATS); one entry per rig in the reply.
    async fn stop_fleet(self: Arc<Self>, request: Message) {
        let data = serde_json::from_slice::<Value>(&request.payload)
            .ok()
            .and_then(|body| body.get("data").cloned())
            .unwrap_or(Value::Null);
        let rigs = self.fleet_records().await;
        tracing::warn!(rigs = rigs.len(), "fleet-wide emergency stop");
        // The gateway of each rig has its command timeout; this one waits a
        // little longer for that gateway's own timeout reply.
        let patience = self.command_timeout + Duration::from_secs(1);
        let stops = rigs.into_iter().map(|(name, online)| {
            let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
            let body = json!({"command": EMERGENCY_STOP, "nonce": nonce, "data": data, "customCommand": -1});
            let subject = self.subjects.command(&name);
            let client = self.client.clone();
            async move {
                if !online {
                    return json!({"rig": name, "outcome": "offline", "error": "no heartbeats"});
                }
                let sent = client.request(subject, Bytes::from(body.to_string()));
                match tokio::time::timeout(patience, sent).await {
                    Ok(Ok(reply)) => {
                        let failure = reply
                            .headers
                            .as_ref()
                            .and_then(|headers| headers.get(ERROR_HEADER))
                            .map(|value| value.as_str().to_owned());
                        let body = serde_json::from_slice::<Value>(&reply.payload)
                            .unwrap_or(Value::Null);
                        match failure {
                            None => json!({"rig": name, "outcome": "replied", "reply": body}),
                            Some(cause) => json!({
                                "rig": name,
                                "outcome": if cause == "timeout" || cause == "offline" { cause.as_str() } else { "error" },
                                "error": body.get("errorMessage").cloned().unwrap_or(Value::Null),
                            }),
                        }
                    }
                    Ok(Err(error)) => json!({"rig": name, "outcome": "error", "error": error.to_string()}),
                    Err(_) => json!({"rig": name, "outcome": "timeout", "error": "no reply in time"}),
                }
            }
        });
        let outcomes = futures_util::future::join_all(stops).await;
        self.respond_json(&request, &json!({"gateway": self.name, "rigs": outcomes}))
            .await;
    }

    /// Every rig of the bucket with whether it is online; this gateway's
    /// rigs are there too (their record is written at start), and counted
    /// from what this gateway knows if the bucket cannot be read.
    async fn fleet_records(&self) -> BTreeMap<String, bool> {
        let mut rigs: BTreeMap<String, bool> = self
            .rigs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, rig)| (name.clone(), rig.is_online()))
            .collect();
        let keys = match self.bucket.keys().await {
            Ok(keys) => keys.collect::<Vec<_>>().await,
            Err(error) => {
                tracing::warn!(%error, "cannot list the rig bucket; stopping this gateway's rigs only");
                Vec::new()
            }
        };
        for key in keys.into_iter().flatten() {
            if rigs.contains_key(&key) {
                continue;
            }
            let online = match self.bucket.get(key.as_str()).await {
                Ok(Some(value)) => serde_json::from_slice::<Value>(&value)
                    .ok()
                    .and_then(|record| record.get("online").and_then(Value::as_bool))
                    .unwrap_or(false),
                _ => false,
            };
            rigs.insert(key, online);
        }
        rigs
    }

    /// The gateway's counters now.
    fn status(&self) -> GatewayStatus {
        let rigs: Vec<RigStatus> = self
            .rigs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|rig| {
                let counters = &rig.counters;
                let stats = rig.client.stats();
                let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
                RigStatus {
                    rig: rig.config.name.clone(),
                    online: rig.is_online(),
                    protocol: rig.client.generation().map(Generation::short_name),
                    bridged: load(&counters.bridged),
                    dropped: load(&counters.dropped) + stats.lagged_messages,
                    malformed: load(&counters.malformed),
                    commands: load(&counters.commands),
                    timeouts: load(&counters.timeouts),
                    reconnects: stats.publisher_connections.saturating_sub(1),
                    last_emergency: rig.last_emergency(),
                }
            })
            .collect();
        let nats = &self.nats_counters;
        GatewayStatus {
            gateway: self.name.clone(),
            version: env!("CARGO_PKG_VERSION"),
            nats: NatsStatus {
                published: nats.published.load(Ordering::Relaxed),
                dropped: rigs.iter().map(|rig| rig.dropped).sum(),
                errors: nats.errors.load(Ordering::Relaxed),
                lost: nats.lost.load(Ordering::Relaxed),
                records: nats.records.load(Ordering::Relaxed),
            },
            rigs,
        }
    }

    /// `P.gateway.<name>.status`: counters per rig and of the NATS side.
    async fn answer_status(self: Arc<Self>, request: Message) {
        let status = serde_json::to_value(self.status()).unwrap_or(Value::Null);
        self.respond_json(&request, &status).await;
    }

    /// `P.gateway.<name>.reload`: as SIGHUP, answered with what changed.
    async fn answer_reload(self: Arc<Self>, request: Message) {
        let outcome = self
            .reload()
            .await
            .unwrap_or_else(|error| json!({"ok": false, "error": error.to_string()}));
        self.respond_json(&request, &outcome).await;
    }

    async fn respond_json(&self, request: &Message, value: &Value) {
        let Some(reply_to) = request.reply.clone() else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert(GATEWAY_HEADER, self.name.as_str());
        if let Err(error) = self
            .client
            .publish_with_headers(reply_to, headers, Bytes::from(value.to_string()))
            .await
        {
            tracing::warn!(%error, "cannot answer a request");
        }
    }
}
