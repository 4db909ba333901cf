//! `autotrainer_rs._core`: the Rust service behind the Python package
//! `auto-trainer-api-rs`. The Python side (`python/autotrainer_rs/`) keeps
//! the reference's API (dataclasses, `IntEnum`s, module layout) and talks to
//! this module in plain values: numbers, strings and JSON text.
//!
//! Threads and the GIL: every call that may wait (start, stop, publishing,
//! completing) releases the GIL; the service's command thread takes it only
//! to run the delegate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auto_trainer_api::{
    v0_12, v0_9, ApiCommandRequest, ApiCommandRequestErrorKind, ApiCommandRequestResponse,
    ApiCommandRequestResult, ApiTopic, Command, Error, Generation, RequestContext, RpcOptions,
    RpcService, ZeroMqRpcService,
};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

/// The error a Python caller gets for `error`: OSError for the network,
/// ValueError for bad input, RuntimeError for the rest.
fn to_py(error: Error) -> PyErr {
    match &error {
        Error::Bind { .. } | Error::Connect { .. } | Error::Transport { .. } => {
            PyOSError::new_err(error.to_string())
        }
        Error::InvalidOptions(_) | Error::Keys(_) | Error::Serialize(_) => {
            PyValueError::new_err(error.to_string())
        }
        _ => PyRuntimeError::new_err(error.to_string()),
    }
}

fn generation(name: &str) -> PyResult<Generation> {
    name.parse::<Generation>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

fn parse_json(text: Option<&str>) -> PyResult<Option<Value>> {
    text.map(|text| {
        serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("not JSON: {e}")))
    })
    .transpose()
}

/// A response as the Python side passes it: `(result, data_json,
/// error_code, error_message)`.
type ResponseParts = (i64, Option<String>, i64, Option<String>);

/// A response from its parts as the Python side passes them.
fn response(
    result: i64,
    data_json: Option<&str>,
    error_code: i64,
    error_message: Option<String>,
) -> PyResult<ApiCommandRequestResponse> {
    let mut response = ApiCommandRequestResponse::new(ApiCommandRequestResult::from_value(result));
    response.data = parse_json(data_json)?;
    response.error_code = error_code;
    response.error_message = error_message;
    Ok(response)
}

fn response_of(
    (result, data_json, error_code, error_message): ResponseParts,
) -> PyResult<ApiCommandRequestResponse> {
    response(result, data_json.as_deref(), error_code, error_message)
}

/// How a publish call ended, as the Python side reports it (the reference
/// returns a bool, and raises before start).
fn published(outcome: Result<(), Error>) -> PyResult<&'static str> {
    match outcome {
        Ok(()) => Ok("ok"),
        Err(Error::QueueFull { .. }) => Ok("full"),
        Err(Error::NotRunning) => Ok("not_running"),
        Err(error) => Err(to_py(error)),
    }
}

/// The device service: a `ZeroMqRpcService` configured from the Python options.
#[pyclass(frozen, module = "autotrainer_rs._core")]
struct Service {
    inner: Arc<ZeroMqRpcService>,
}

#[pymethods]
impl Service {
    #[new]
    #[pyo3(signature = (identifier, heartbeat_interval, subscriber_port, command_port, protocol, bind_addresses=None, key_file=None))]
    fn new(
        identifier: String,
        heartbeat_interval: f64,
        subscriber_port: u16,
        command_port: u16,
        protocol: &str,
        bind_addresses: Option<Vec<String>>,
        key_file: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let mut options = RpcOptions::default();
        options.identifier = identifier;
        options.subscriber_port = subscriber_port;
        options.command_port = command_port;
        options.protocol = generation(protocol)?;
        options.key_file = key_file;
        options.heartbeat_interval = Duration::try_from_secs_f64(heartbeat_interval)
            .map_err(|e| PyValueError::new_err(format!("heartbeat_interval: {e}")))?;
        if let Some(addresses) = bind_addresses {
            options.bind_addresses = addresses;
        }
        Ok(Self {
            inner: Arc::new(ZeroMqRpcService::new(options)),
        })
    }

    /// Binds the sockets and starts the service's threads.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.start()).map_err(to_py)
    }

    /// Stops: settles pending and deferred commands, flushes, joins.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.inner.stop());
    }

    #[getter]
    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    #[getter]
    fn subscriber_port(&self) -> u16 {
        self.inner.subscriber_port()
    }

    #[getter]
    fn command_port(&self) -> u16 {
        self.inner.command_port()
    }

    /// Sets the delegate: `dispatch(command, custom_command, nonce,
    /// data_json, context)` returning `(result, data_json, error_code,
    /// error_message)`, or None to answer UNAVAILABLE.
    fn set_dispatch(&self, dispatch: Option<Py<PyAny>>) {
        let Some(dispatch) = dispatch else {
            self.inner.set_command_request_delegate(None);
            return;
        };
        self.inner.set_delegate(
            move |request: ApiCommandRequest<i64>, context: &RequestContext| {
                Python::attach(|py| call_dispatch(py, &dispatch, request, context))
            },
        );
    }

    /// Publishes `body` as is on `topic`: "ok", "full" or "not_running".
    fn publish_bytes(&self, py: Python<'_>, topic: u32, body: Vec<u8>) -> PyResult<&'static str> {
        py.detach(|| {
            published(
                self.inner
                    .publisher()
                    .publish_bytes(ApiTopic::from_value(topic), body),
            )
        })
    }

    /// Publishes a JSON object given as text: keys camelized, values
    /// untouched; an emergency EVENT goes out on EMERGENCY first.
    fn publish_json(&self, py: Python<'_>, topic: u32, text: String) -> PyResult<&'static str> {
        py.detach(|| {
            let value = parse_json(Some(&text))?.unwrap_or(Value::Null);
            published(
                self.inner
                    .publisher()
                    .publish_json(ApiTopic::from_value(topic), value),
            )
        })
    }

    /// Publishes a COMMAND_RESULT (settling the pending command with that
    /// nonce): `response` is `(result, data_json, error_code, error_message)`.
    fn publish_command_result(
        &self,
        py: Python<'_>,
        response: ResponseParts,
        command: i64,
        nonce: i64,
    ) -> PyResult<&'static str> {
        let generation = self.inner.options().protocol;
        py.detach(|| {
            let response =
                response_of(response)?.for_request(Command::read(Some(generation), command), nonce);
            published(self.inner.publisher().publish_command_result(response))
        })
    }

    /// The service's counters, by name.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.inner.stats();
        let dict = PyDict::new(py);
        let counters: [(&str, u64); 14] = [
            ("queue_capacity", stats.queue_capacity as u64),
            ("queue_bytes", stats.queue_bytes as u64),
            ("accepted", stats.accepted),
            ("published", stats.published),
            ("dropped", stats.dropped),
            ("rejected_critical", stats.rejected_critical),
            ("heartbeats_sent", stats.heartbeats_sent),
            ("send_errors", stats.send_errors),
            ("requests", stats.requests),
            ("malformed_requests", stats.malformed_requests),
            ("refused_unauthenticated", stats.refused_unauthenticated),
            ("refused_stale_or_replayed", stats.refused_stale_or_replayed),
            ("refused_forbidden", stats.refused_forbidden),
            ("deferred_timed_out", stats.deferred_timed_out),
        ];
        for (name, value) in counters {
            dict.set_item(name, value)?;
        }
        dict.set_item("queue_depth", stats.queue_depth)?;
        dict.set_item("pending_open", stats.pending_open)?;
        dict.set_item("deferred_open", stats.deferred_open)?;
        Ok(dict)
    }

    /// The open pending commands: `(nonce, command)` pairs.
    fn pending_commands(&self) -> Vec<(i64, i64)> {
        self.inner
            .pending_commands()
            .into_iter()
            .map(|pending| (pending.nonce, pending.command.value()))
            .collect()
    }

    /// Reads the key file again; returns how many keys it holds.
    fn reload_keys(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.inner.reload_keys()).map_err(to_py)
    }
}

/// Calls the Python side's dispatch for one request; any failure of the
/// call itself (the Python side catches the delegate's) is an EXCEPTION
/// reply with the error's text.
fn call_dispatch(
    py: Python<'_>,
    dispatch: &Py<PyAny>,
    request: ApiCommandRequest<i64>,
    context: &RequestContext,
) -> ApiCommandRequestResponse {
    let data_json = request.data.as_ref().map(Value::to_string);
    let context = Context {
        inner: context.clone(),
    };
    let outcome = dispatch
        .call1(
            py,
            (
                request.command,
                request.custom_command,
                request.nonce,
                data_json,
                context,
            ),
        )
        .and_then(|answer| {
            let (result, data_json, error_code, error_message, unserializable): (
                i64,
                Option<String>,
                i64,
                Option<String>,
                bool,
            ) = answer.extract(py)?;
            let response = response(result, data_json.as_deref(), error_code, error_message)?;
            // The reference's fallback: data null, SYSTEM_ERROR, its message.
            Ok(if unserializable {
                response.with_data(&Unserializable)
            } else {
                response
            })
        });
    outcome.unwrap_or_else(|error| {
        ApiCommandRequestResponse::new(ApiCommandRequestResult::Exception)
            .with_error(0, error.value(py).to_string())
    })
}

/// Data the Python side could not turn into JSON: serializing it fails, so
/// the reply is the reference's serialization fallback.
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "the delegate's data is not JSON-serializable",
        ))
    }
}

/// What the delegate may do besides answering: take the command on as
/// pending, or reply later.
#[pyclass(frozen, module = "autotrainer_rs._core")]
struct Context {
    inner: RequestContext,
}

#[pymethods]
impl Context {
    /// Accepts the command as pending; the handle publishes its result.
    fn accept_pending(&self) -> CompletionHandle {
        CompletionHandle {
            inner: self.inner.accept_pending(),
        }
    }

    /// Replies later, within `timeout` seconds.
    fn defer(&self, timeout: f64) -> PyResult<DeferredReply> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|e| PyValueError::new_err(format!("timeout: {e}")))?;
        let reply = self.inner.defer(timeout);
        Ok(DeferredReply {
            nonce: reply.nonce(),
            inner: Mutex::new(Some(reply)),
        })
    }
}

/// Publishes the COMMAND_RESULT of a pending command.
#[pyclass(frozen, module = "autotrainer_rs._core")]
struct CompletionHandle {
    inner: auto_trainer_api::CompletionHandle,
}

#[pymethods]
impl CompletionHandle {
    #[getter]
    fn nonce(&self) -> i64 {
        self.inner.nonce()
    }

    #[getter]
    fn command(&self) -> i64 {
        self.inner.command().value()
    }

    /// Publishes the result (`response` as [`ResponseParts`]); raises when
    /// it was completed before or the service is not running.
    fn complete(&self, py: Python<'_>, response: ResponseParts) -> PyResult<()> {
        py.detach(|| {
            let response = self::response_of(response)?;
            self.inner.complete(response).map_err(to_py)
        })
    }
}

/// A reply to send later, from any thread.
#[pyclass(frozen, module = "autotrainer_rs._core")]
struct DeferredReply {
    inner: Mutex<Option<auto_trainer_api::DeferredReply>>,
    nonce: i64,
}

impl DeferredReply {
    /// The handle, until [`Self::send`] or [`Self::drop_reply`] takes it.
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<auto_trainer_api::DeferredReply>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn handle(&self) -> PyResult<auto_trainer_api::DeferredReply> {
        self.slot().clone().ok_or_else(|| self.sent_already())
    }

    fn sent_already(&self) -> PyErr {
        PyRuntimeError::new_err(format!(
            "the deferred reply to nonce {} was sent already",
            self.nonce
        ))
    }
}

#[pymethods]
impl DeferredReply {
    #[getter]
    fn nonce(&self) -> i64 {
        self.nonce
    }

    #[getter]
    fn command(&self) -> PyResult<i64> {
        Ok(self.handle()?.command().value())
    }

    /// Whether the reply can still be sent.
    #[getter]
    fn is_open(&self) -> bool {
        self.handle().is_ok_and(|reply| reply.is_open())
    }

    /// Accepts the command as pending (send PENDING_WITH_NOTIFICATION, then
    /// complete through the handle).
    fn accept_pending(&self) -> PyResult<CompletionHandle> {
        Ok(CompletionHandle {
            inner: self.handle()?.accept_pending(),
        })
    }

    /// Sends the reply (`response` as [`ResponseParts`]); raises when it
    /// was settled already (sent, timed out, or answered at stop).
    fn send(&self, py: Python<'_>, response: ResponseParts) -> PyResult<()> {
        let response = response_of(response)?;
        let reply = self.slot().take().ok_or_else(|| self.sent_already())?;
        py.detach(|| reply.send(response)).map_err(to_py)
    }

    /// Gives the reply up: the peer gets an EXCEPTION reply now.
    fn drop_reply(&self) {
        self.slot().take();
    }
}

/// The named codes of one catalog as `(name, number)` pairs, members in
/// declaration order, then aliases.
macro_rules! catalog {
    ($enum:ty) => {{
        let mut entries: Vec<(&'static str, i64)> = Vec::new();
        for code in <$enum>::ALL {
            if let Some(name) = code.name() {
                entries.push((name, i64::from(code.value())));
            }
        }
        for (alias, code) in <$enum>::ALIASES {
            entries.push((alias, i64::from(code.value())));
        }
        entries
    }};
}

/// Every catalog of `generation` ("0.9.11" or "0.12"), by the reference's
/// enum names: the single source of the Python package's `IntEnum`s.
#[pyfunction]
fn catalogs<'py>(py: Python<'py>, generation: &str) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    match self::generation(generation)? {
        Generation::V0_9 => {
            dict.set_item("ApiAlarmKind", catalog!(v0_9::ApiAlarmKind))?;
            dict.set_item("ApiAppStatus", catalog!(v0_9::ApiAppStatus))?;
            dict.set_item("ApiCommand", catalog!(v0_9::ApiCommand))?;
            dict.set_item("ApiDetectorKind", catalog!(v0_9::ApiDetectorKind))?;
            dict.set_item("ApiEventKind", catalog!(v0_9::ApiEventKind))?;
            dict.set_item("ApiTrainingMode", catalog!(v0_9::ApiTrainingMode))?;
        }
        Generation::V0_12 => {
            dict.set_item("ApiAlarmKind", catalog!(v0_12::ApiAlarmKind))?;
            dict.set_item("ApiApplicationMode", catalog!(v0_12::ApiApplicationMode))?;
            dict.set_item("ApiCommand", catalog!(v0_12::ApiCommand))?;
            dict.set_item("ApiDetectorKind", catalog!(v0_12::ApiDetectorKind))?;
            dict.set_item(
                "ApiEmergencyResumeReason",
                catalog!(v0_12::ApiEmergencyResumeReason),
            )?;
            dict.set_item(
                "ApiEmergencyStopReason",
                catalog!(v0_12::ApiEmergencyStopReason),
            )?;
            dict.set_item("ApiEventKind", catalog!(v0_12::ApiEventKind))?;
            dict.set_item(
                "ApiPelletShiftSource",
                catalog!(v0_12::ApiPelletShiftSource),
            )?;
            dict.set_item("ApiTrainingMode", catalog!(v0_12::ApiTrainingMode))?;
        }
    }
    dict.set_item("ApiTopic", catalog!(ApiTopic))?;
    dict.set_item("ApiCommandRequestResult", catalog!(ApiCommandRequestResult))?;
    dict.set_item(
        "ApiCommandRequestErrorKind",
        catalog!(ApiCommandRequestErrorKind),
    )?;
    Ok(dict)
}

/// The package's extension module.
#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Service>()?;
    module.add_class::<Context>()?;
    module.add_class::<CompletionHandle>()?;
    module.add_class::<DeferredReply>()?;
    module.add_function(wrap_pyfunction!(catalogs, module)?)?;
    module.add("RUST_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
