//! A device for the signed-command tests: keys with PROTOCOL.md's roles and
//! a delegate that records what gets through.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use auto_trainer_api::{
    ApiCommandRequest, ApiCommandRequestResponse, KeyRing, RequestContext, RpcOptions, RpcService,
    ZeroMqRpcService,
};
use serde_json::json;

/// What the delegate saw: (command, nonce) of each call.
pub type Seen = Arc<Mutex<Vec<(i64, i64)>>>;

/// `ring` with the roles of PROTOCOL.md's key file.
pub fn with_roles(ring: KeyRing) -> KeyRing {
    ring.with_role("viewer", ["NONE", "GET_STATUS", "GET_CONFIGURATION"])
        .with_role("operator", ["*"])
}

/// A started service with `options`, whose delegate answers SUCCESS with
/// `{"ok": true}` and records every call.
pub fn recording_device(options: RpcOptions) -> (ZeroMqRpcService, Seen) {
    let service = ZeroMqRpcService::new(options);
    let seen = Seen::default();
    let record = seen.clone();
    service.set_delegate(move |request: ApiCommandRequest, _: &RequestContext| {
        record
            .lock()
            .unwrap()
            .push((request.command.value(), request.nonce));
        ApiCommandRequestResponse::success().with_data(&json!({"ok": true}))
    });
    service.start().expect("start");
    (service, seen)
}

/// The calls the delegate has seen so far.
pub fn seen(seen: &Seen) -> Vec<(i64, i64)> {
    seen.lock().unwrap().clone()
}
