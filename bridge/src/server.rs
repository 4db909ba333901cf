//! [`Bridge`]: the device's service, the Socket.IO handlers and the HTTP
//! server, started together and stopped together.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auto_trainer_api::{Generation, RpcService, ZeroMqRpcService};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::device::{Device, Refusal};
use crate::origin::{self, OriginPolicy};
use crate::{BridgeOptions, BRIDGE_ERROR, COMMAND_RESULT, SEND_API_EVENT};

/// How long, once asked to stop, the HTTP server waits for its connections
/// to close after the Socket.IO client was disconnected.
const DRAIN: Duration = Duration::from_secs(5);

/// Why the bridge could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// An option is wrong; the text says which and why. Fix the option.
    #[error("invalid options: {0}")]
    Options(String),
    /// The device's service did not start (a ZeroMQ port in use, a key file
    /// that cannot be read, ...); its error says which.
    #[error("the device's service did not start: {0}")]
    Service(#[source] auto_trainer_api::Error),
    /// The HTTP server cannot listen on its address (in use, or not an
    /// address of this machine).
    #[error("cannot listen for HTTP on {address}: {source}")]
    Listen {
        /// The address asked for.
        address: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while serving.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A started bridge: the service is serving ZeroMQ and the HTTP listener is
/// bound; [`Bridge::serve`] answers HTTP and Socket.IO until told to stop.
///
/// ```no_run
/// use auto_trainer_bridge::{Bridge, BridgeOptions};
///
/// # async fn run() -> Result<(), auto_trainer_bridge::BridgeError> {
/// let mut options = BridgeOptions::default();
/// options.allowed_origins.push("http://localhost:5173".into());
/// let bridge = Bridge::start(options).await?;
/// println!("Socket.IO on {}", bridge.http_address());
/// bridge.serve(async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub struct Bridge {
    service: Arc<ZeroMqRpcService>,
    listener: tokio::net::TcpListener,
    http_address: SocketAddr,
    app: Router,
    io: SocketIo,
    device: Arc<Device>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("http_address", &self.http_address)
            .field("subscriber_port", &self.service.subscriber_port())
            .field("command_port", &self.service.command_port())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Checks `options`, starts the device's service and binds the HTTP
    /// listener. Commands that arrive before a Socket.IO client connects
    /// are answered UNAVAILABLE.
    ///
    /// # Errors
    /// [`BridgeError::Options`], [`BridgeError::Service`] or
    /// [`BridgeError::Listen`]; nothing is left running.
    pub async fn start(options: BridgeOptions) -> Result<Bridge, BridgeError> {
        options.validate().map_err(BridgeError::Options)?;
        let policy = OriginPolicy::new(&options.allowed_origins).map_err(BridgeError::Options)?;

        let service = Arc::new(ZeroMqRpcService::new(options.rpc.clone()));
        let device = Device::new(
            options.rpc.protocol,
            options.command_timeout,
            service.publisher().clone(),
            tokio::runtime::Handle::current(),
        );
        service.set_command_request_delegate(Some(Arc::new(device.delegate())));

        let (layer, io) = SocketIo::new_layer();
        let handlers = Arc::clone(&device);
        let claims = Arc::clone(&device);
        io.ns(
            "/",
            (move |socket: SocketRef| {
                let device = Arc::clone(&handlers);
                async move { on_connect(socket, device) }
            })
            .with(move |socket: SocketRef| {
                let device = Arc::clone(&claims);
                async move { device.claim(&socket) }
            }),
        );

        let mut app = Router::new().route("/health", get(health)).layer(layer);
        if let Some(cors) = policy.cors() {
            app = app.layer(cors);
        }
        let app = app.layer(axum::middleware::from_fn_with_state(policy, origin::guard));

        // It binds and spawns its threads: quick, no waiting on peers.
        service.start().map_err(BridgeError::Service)?;
        let address = (options.host.as_str(), options.http_port);
        let listener = match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => listener,
            Err(source) => {
                stop_service(service).await;
                return Err(BridgeError::Listen {
                    address: format!("{}:{}", options.host, options.http_port),
                    source,
                });
            }
        };
        let http_address = listener.local_addr().map_err(BridgeError::Serve)?;
        tracing::info!(
            http = %http_address,
            subscriber_port = service.subscriber_port(),
            command_port = service.command_port(),
            protocol = %options.rpc.protocol,
            identifier = %options.rpc.identifier,
            "bridge started"
        );
        Ok(Bridge {
            service,
            listener,
            http_address,
            app,
            io,
            device,
        })
    }

    /// The address the HTTP server listens on (its port, when 0 was asked).
    pub fn http_address(&self) -> SocketAddr {
        self.http_address
    }

    /// The service's PUB port.
    pub fn subscriber_port(&self) -> u16 {
        self.service.subscriber_port()
    }

    /// The service's command port.
    pub fn command_port(&self) -> u16 {
        self.service.command_port()
    }

    /// The protocol generation the service speaks.
    pub fn generation(&self) -> Generation {
        self.service.options().protocol
    }

    /// The device's service, for what the bridge does not do itself:
    /// reloading its keys, reading its counters.
    pub fn service(&self) -> Arc<ZeroMqRpcService> {
        Arc::clone(&self.service)
    }

    /// Serves HTTP and Socket.IO until `shutdown` completes; then
    /// disconnects the Socket.IO client (its outstanding commands are
    /// answered FAILED), stops serving HTTP and stops the service.
    ///
    /// # Errors
    /// [`BridgeError::Serve`] when the HTTP server fails; the service is
    /// stopped all the same.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BridgeError> {
        let Bridge {
            service,
            listener,
            app,
            io,
            device,
            ..
        } = self;
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let graceful = async move {
            shutdown.await;
            let _ = stopping.send(());
            tracing::info!("stopping: disconnecting the Socket.IO client");
            device.disconnect_client();
            // Closes the connections that never became the client.
            if tokio::time::timeout(DRAIN, io.close()).await.is_err() {
                tracing::warn!("Socket.IO connections still open after {DRAIN:?}");
            }
        };
        let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
        // A connection that does not close by itself must not keep the
        // bridge from stopping: the HTTP server gets as long as the
        // Socket.IO side, then the rest.
        let drained = async move {
            if stopped.await.is_ok() {
                tokio::time::sleep(DRAIN * 2).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let outcome = tokio::select! {
            outcome = server => outcome.map_err(BridgeError::Serve),
            () = drained => {
                tracing::warn!("HTTP connections still open after {:?}; stopping anyway", DRAIN * 2);
                Ok(())
            }
        };
        stop_service(service).await;
        tracing::info!("bridge stopped");
        outcome
    }
}

/// Stops the service off the async threads (it joins its threads).
async fn stop_service(service: Arc<ZeroMqRpcService>) {
    let _ = tokio::task::spawn_blocking(move || service.stop()).await;
}

/// `GET /health`, as the reference's.
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// A client is connected (and has the device's place): its events.
fn on_connect(socket: SocketRef, device: Arc<Device>) {
    tracing::info!(sid = %socket.id, transport = ?socket.transport_type(), "Socket.IO client connected");
    let results = Arc::clone(&device);
    socket.on(
        COMMAND_RESULT,
        move |socket: SocketRef, TryData(payload): TryData<Value>, ack: AckSender| {
            let outcome = payload
                .map_err(|e| Refusal::unreadable(&e))
                .and_then(|payload| results.command_result(socket.id, &payload));
            answer(&socket, ack, COMMAND_RESULT, outcome);
            std::future::ready(())
        },
    );
    let events = Arc::clone(&device);
    socket.on(
        SEND_API_EVENT,
        move |socket: SocketRef, TryData(payload): TryData<Value>, ack: AckSender| {
            let outcome = payload
                .map_err(|e| Refusal::unreadable(&e))
                .and_then(|payload| events.send_api_event(&payload));
            answer(&socket, ack, SEND_API_EVENT, outcome);
            std::future::ready(())
        },
    );
    socket.on_disconnect(move |socket: SocketRef, reason: DisconnectReason| {
        tracing::info!(sid = %socket.id, ?reason, "Socket.IO client disconnected");
        device.disconnected(socket.id);
        std::future::ready(())
    });
}

/// Tells the client how its event went: the acknowledgement it asked for
/// (`{"ok": true}` or `{"ok": false, "error"}`), and a [`BRIDGE_ERROR`]
/// event for a refusal, whether it asked for one or not.
fn answer(socket: &SocketRef, ack: AckSender, event: &str, outcome: Result<(), Refusal>) {
    let acknowledgement = match outcome {
        Ok(()) => json!({"ok": true}),
        Err(refusal) => {
            tracing::warn!(sid = %socket.id, event, error = %refusal.error, "refused");
            let mut notice = json!({"event": event, "error": refusal.error});
            if let Some(nonce) = refusal.nonce {
                notice["nonce"] = json!(nonce);
            }
            if let Err(error) = socket.emit(BRIDGE_ERROR, &notice) {
                tracing::debug!(%error, "cannot emit bridgeError");
            }
            json!({"ok": false, "error": refusal.error})
        }
    };
    if let Err(error) = ack.send(&acknowledgement) {
        tracing::debug!(%error, "cannot acknowledge");
    }
}
