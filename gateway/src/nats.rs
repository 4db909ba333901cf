//! The NATS side: the connection, the stream and the bucket (created or
//! updated at start), the one task that publishes what the rigs send, and
//! the one that writes rig records.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_nats::{ConnectOptions, ServerAddr};
use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use crate::config::NatsSection;
use crate::rig::{Outbound, RigRecord};
use crate::subjects::Subjects;

/// How long to wait before trying again what NATS refused at start.
const RETRY: Duration = Duration::from_secs(1);

/// Counters of the NATS side.
#[derive(Debug, Default)]
pub struct NatsCounters {
    /// Messages published.
    pub published: AtomicU64,
    /// Publications and record writes that failed (each retry counts).
    pub errors: AtomicU64,
    /// Stored messages given up on after every retry.
    pub lost: AtomicU64,
    /// Rig records written to the bucket.
    pub records: AtomicU64,
}

/// Connects to the NATS server(s) of `section` (comma-separated URLs). The
/// client reconnects by itself, forever; the first connection is retried
/// too, so a gateway may start before its server.
///
/// # Errors
/// When the URLs or the credentials file cannot be read.
pub async fn connect(
    section: &NatsSection,
    gateway: &str,
) -> Result<async_nats::Client, async_nats::Error> {
    let servers = section
        .url
        .split(',')
        .map(|url| url.trim().parse::<ServerAddr>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = ConnectOptions::new()
        .name(format!("auto-trainer-gateway {gateway}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .event_callback(|event| async move {
            tracing::info!(%event, "NATS connection");
        });
    if let Some(token) = &section.token {
        options = options.token(token.clone());
    }
    if let Some(file) = &section.credentials {
        options = options.credentials_file(file).await?;
    }
    if section.tls_required {
        options = options.require_tls(true);
    }
    if let Some(file) = &section.tls_ca_file {
        options = options.add_root_certificates(file.clone());
    }
    Ok(options.connect(servers).await?)
}

/// Creates the event stream, or updates it to this configuration.
///
/// # Errors
/// What the server said.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    section: &NatsSection,
    subjects: &Subjects,
) -> Result<(), async_nats::Error> {
    let config = stream::Config {
        name: section.stream.clone(),
        subjects: subjects.stored(),
        storage: stream::StorageType::File,
        max_age: section.max_age,
        max_bytes: section.max_bytes,
        duplicate_window: section.duplicate_window,
        description: Some("auto-trainer rigs' events, bridged by auto-trainer-gateway".into()),
        ..Default::default()
    };
    jetstream.create_or_update_stream(config).await?;
    Ok(())
}

/// Creates the rig bucket, or updates it to this configuration.
///
/// # Errors
/// What the server said.
pub async fn ensure_bucket(
    jetstream: &jetstream::Context,
    section: &NatsSection,
) -> Result<kv::Store, async_nats::Error> {
    let config = kv::Config {
        bucket: section.bucket.clone(),
        description: "auto-trainer rigs' state, kept by auto-trainer-gateway".into(),
        history: 1,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    Ok(jetstream.create_or_update_key_value(config).await?)
}

/// Retries `attempt` until it succeeds, saying why it did not.
pub async fn until_done<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, async_nats::Error>>,
{
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(error) => {
                tracing::warn!(%error, "cannot {what} yet; trying again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Messages published to the stream and not yet acknowledged: beyond
/// this, publishing waits (and the rigs' messages wait in the bounded
/// buffer, then are dropped and counted).
const UNACKNOWLEDGED: usize = 4096;

/// How many times a stored message is published again when its
/// acknowledgement does not come (about a minute of NATS outage at one try
/// a second) before it is counted lost.
const REPUBLISHES: u32 = 60;

/// Publishes what the rigs send, in order, until every sender is gone.
/// Messages the stream stores go through JetStream and are published again
/// until the stream acknowledges them (a copy it already has is dropped by
/// its id), so a NATS server that dies loses none of them; heartbeats are
/// published once.
pub async fn publish_outbound(
    mut outbound: mpsc::Receiver<Outbound>,
    jetstream: jetstream::Context,
    counters: Arc<NatsCounters>,
) {
    let (unacknowledged, acknowledgements) = mpsc::channel(UNACKNOWLEDGED);
    let confirming = tokio::spawn(confirm(
        acknowledgements,
        jetstream.clone(),
        counters.clone(),
    ));
    while let Some(message) = outbound.recv().await {
        if message.stored {
            let ack = publish_stored(&jetstream, &message, &counters).await;
            if unacknowledged.send((message, ack)).await.is_err() {
                break;
            }
        } else {
            let published = jetstream
                .client()
                .publish_with_headers(message.subject, message.headers, message.payload)
                .await;
            count(&counters, published.is_ok());
        }
    }
    drop(unacknowledged);
    let _ = confirming.await;
    let _ = jetstream.client().flush().await;
}

fn count(counters: &NatsCounters, published: bool) {
    let counter = if published {
        &counters.published
    } else {
        &counters.errors
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Publishes a stored message, trying again (once a second) while the
/// client refuses it; `None` when it gave up.
async fn publish_stored(
    jetstream: &jetstream::Context,
    message: &Outbound,
    counters: &NatsCounters,
) -> Option<jetstream::context::PublishAckFuture> {
    for _ in 0..=REPUBLISHES {
        match jetstream
            .publish_with_headers(
                message.subject.clone(),
                message.headers.clone(),
                message.payload.clone(),
            )
            .await
        {
            Ok(ack) => return Some(ack),
            Err(error) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, subject = %message.subject, "cannot publish; trying again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    None
}

/// Awaits each stored message's acknowledgement, in order, publishing it
/// again while none comes.
async fn confirm(
    mut acknowledgements: mpsc::Receiver<(Outbound, Option<jetstream::context::PublishAckFuture>)>,
    jetstream: jetstream::Context,
    counters: Arc<NatsCounters>,
) {
    while let Some((message, mut ack)) = acknowledgements.recv().await {
        let mut tries = 0;
        loop {
            let Some(pending) = ack.take() else {
                tracing::error!(subject = %message.subject, "could not be published: lost");
                counters.lost.fetch_add(1, Ordering::Relaxed);
                break;
            };
            match pending.await {
                Ok(_) => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(error) if tries < REPUBLISHES => {
                    tries += 1;
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, subject = %message.subject, "not acknowledged; publishing again");
                    tokio::time::sleep(RETRY).await;
                    ack = publish_stored(&jetstream, &message, &counters).await;
                }
                Err(error) => {
                    tracing::error!(%error, subject = %message.subject, "never acknowledged: lost");
                    counters.lost.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// Rig records waiting to be written: only the latest of each rig, so a
/// slow bucket never holds up the rigs nor piles up stale states.
#[derive(Clone, Default)]
pub struct RecordSink {
    pending: Arc<Mutex<HashMap<String, RigRecord>>>,
    wake: Arc<Notify>,
}

impl RecordSink {
    /// Queues `record` as `rig`'s next value (replacing one not yet written).
    pub fn put(&self, rig: String, record: RigRecord) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rig, record);
        self.wake.notify_one();
    }

    /// Drops `rig`'s record not yet written (the rig is no longer bridged).
    pub fn forget(&self, rig: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(rig);
    }

    /// Puts back a record that could not be written, unless a newer one
    /// came meanwhile.
    fn retry(&self, rig: String, record: RigRecord) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(rig)
            .or_insert(record);
        self.wake.notify_one();
    }

    fn take(&self) -> Vec<(String, RigRecord)> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect()
    }
}

/// Writes queued rig records to the bucket, forever.
pub async fn write_records(sink: RecordSink, bucket: kv::Store, counters: Arc<NatsCounters>) {
    loop {
        sink.wake.notified().await;
        for (rig, record) in sink.take() {
            let value = match serde_json::to_vec(&record) {
                Ok(value) => Bytes::from(value),
                Err(error) => {
                    tracing::error!(%error, "cannot serialize a rig record");
                    continue;
                }
            };
            match bucket.put(&rig, value).await {
                Ok(_) => {
                    counters.records.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    tracing::warn!(%error, rig, "cannot write the rig's record; trying again");
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    sink.retry(rig, record);
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}
