//! [`DeviceClient`] for code without an async runtime.

use std::time::Duration;

use serde_json::Value;

use super::{
    AwaitedCommand, ClientOptions, ClientStats, CommandCall, DeviceClient, DeviceMessage, Liveness,
    MessageStream,
};
use crate::{
    ApiCommandRequestResponse, ApiCommandRequestServiceResponse, Command, Error, Generation,
};

/// A [`DeviceClient`] with blocking methods, driven by a small
/// current-thread tokio runtime of its own. Do not call it from inside an
/// async task (tokio refuses to block there); use [`DeviceClient`] instead.
///
/// ```
/// use auto_trainer_api::{ApiCommand, BlockingDeviceClient, ClientOptions};
/// # use auto_trainer_api::{RpcOptions, RpcService, ZeroMqRpcService};
/// # // Run as a test: a device on 127.0.0.1, on ports the OS picked.
/// # let device = ZeroMqRpcService::new(RpcOptions::loopback());
/// # device.start()?;
/// let mut options = ClientOptions::new("127.0.0.1");
/// # options.subscriber_port = device.subscriber_port();
/// # options.command_port = device.command_port();
/// let mut client = BlockingDeviceClient::connect(options)?;
/// let reply = client.send_command(ApiCommand::GetStatus, None)?;
/// println!("{}: {:?}", reply.result, reply.data);
/// # Ok::<(), auto_trainer_api::Error>(())
/// ```
#[derive(Debug)]
pub struct BlockingDeviceClient {
    client: DeviceClient,
    messages: MessageStream,
    runtime: tokio::runtime::Runtime,
}

impl BlockingDeviceClient {
    /// Starts connecting to the device (see [`DeviceClient::connect`]).
    /// Messages are buffered from now on for [`Self::next_message`].
    ///
    /// # Errors
    /// As [`DeviceClient::connect`]; [`Error::Spawn`] if the runtime
    /// cannot be created.
    pub fn connect(options: ClientOptions) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|source| Error::Spawn {
                thread: "blocking client runtime",
                source,
            })?;
        let client = DeviceClient::connect(options)?;
        let messages = client.subscribe();
        Ok(Self {
            client,
            messages,
            runtime,
        })
    }

    /// See [`DeviceClient::send_command`].
    ///
    /// # Errors
    /// As [`DeviceClient::send`].
    pub fn send_command(
        &self,
        command: impl Into<Command>,
        data: Option<Value>,
    ) -> Result<ApiCommandRequestServiceResponse, Error> {
        self.runtime
            .block_on(self.client.send_command(command, data))
    }

    /// See [`DeviceClient::send`].
    ///
    /// # Errors
    /// As [`DeviceClient::send`].
    pub fn send(
        &self,
        call: impl Into<CommandCall>,
    ) -> Result<ApiCommandRequestServiceResponse, Error> {
        self.runtime.block_on(self.client.send(call))
    }

    /// See [`DeviceClient::wait_for_result`].
    ///
    /// # Errors
    /// As [`DeviceClient::wait_for_result`].
    pub fn wait_for_result(
        &self,
        nonce: i64,
        timeout: Duration,
    ) -> Result<ApiCommandRequestResponse, Error> {
        self.runtime
            .block_on(self.client.wait_for_result(nonce, timeout))
    }

    /// The next published message (received since `connect`), or `None` if
    /// none arrives within `timeout` or the client is closed.
    pub fn next_message(&mut self, timeout: Duration) -> Option<DeviceMessage> {
        let messages = &mut self.messages;
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, messages.recv()).await })
            .ok()
            .flatten()
    }

    /// See [`DeviceClient::generation`].
    pub fn generation(&self) -> Option<Generation> {
        self.client.generation()
    }

    /// The device's liveness now.
    pub fn liveness(&self) -> Liveness {
        self.client.liveness().borrow().clone()
    }

    /// See [`DeviceClient::awaited_commands`].
    pub fn awaited_commands(&self) -> Vec<AwaitedCommand> {
        self.client.awaited_commands()
    }

    /// The client's counters.
    pub fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    /// The async client inside, e.g. to watch liveness.
    pub fn client(&self) -> &DeviceClient {
        &self.client
    }

    /// See [`DeviceClient::close`].
    pub fn close(&self) {
        self.client.close();
    }
}
