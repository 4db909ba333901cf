//! The defaults and promises the README states, each checked: the option
//! defaults against the README's words and against the reference's own
//! `create_default_api_options()` (exported from the venv), binding on
//! every interface, and `create_api_service` returning nothing without an
//! enabled `rpc`.

mod common;

use std::process::Command;
use std::time::Duration;

use auto_trainer_api::{
    create_api_service, create_default_api_options, ApiCommand, ApiCommandRequest,
    ApiCommandRequestResponse, ApiOptions, RequestContext, RpcOptions, RpcService,
    TelemetryOptions, ZeroMqRpcService,
};
use common::python::python;
use serde_json::{json, Value};

/// The reference's `create_default_api_options()` as JSON (`asdict`).
fn reference_defaults() -> Value {
    let script = "import dataclasses, json\n\
                  from autotrainer.api.api_options import create_default_api_options\n\
                  print(json.dumps(dataclasses.asdict(create_default_api_options())))";
    let output = Command::new(python())
        .args(["-c", script])
        .output()
        .expect("run the reference's python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn the_default_options_are_the_readme_s_and_the_reference_s() {
    let options = create_default_api_options();
    assert_eq!(options, ApiOptions::default());
    let rpc = options.rpc.as_ref().expect("rpc options by default");
    let telemetry = options
        .telemetry
        .as_ref()
        .expect("telemetry options by default");
    // README: "Defaults: PUB 5556, REP 5557, heartbeat 5 s, identifier
    // `autotrainer-device`, bound on every IPv4 interface."
    assert_eq!((rpc.subscriber_port, rpc.command_port), (5556, 5557));
    assert_eq!(rpc.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(rpc.identifier, "autotrainer-device");
    assert_eq!(rpc.bind_addresses, ["0.0.0.0"]);
    assert!(rpc.enable);
    assert_eq!(telemetry, &TelemetryOptions::default());

    let reference = reference_defaults();
    let ours = json!({
        "rpc": {
            "enable": rpc.enable,
            "identifier": rpc.identifier,
            "heartbeat_interval": rpc.heartbeat_interval.as_secs(),
            "subscriber_port": rpc.subscriber_port,
            "command_port": rpc.command_port,
        },
        "telemetry": {
            "enable": telemetry.enable,
            "endpoint": telemetry.endpoint,
            "api_key": telemetry.api_key,
        },
    });
    assert_eq!(ours, reference);
}

#[test]
fn create_api_service_gives_nothing_without_an_enabled_rpc() {
    let mut options = ApiOptions::default();
    let service = create_api_service(&options).expect("a service by default");
    assert_eq!(
        (service.subscriber_port(), service.command_port()),
        (5556, 5557),
        "the ports of the options, before start"
    );
    options.rpc.as_mut().unwrap().enable = false;
    assert!(create_api_service(&options).is_none());
    options.rpc = None;
    assert!(create_api_service(&options).is_none());
}

/// The default bind address serves every interface: a client reaches the
/// service through 127.0.0.2 (which a 127.0.0.1 binding refuses) and
/// through each non-loopback IPv4 address of the machine.
#[test]
fn the_default_binding_serves_every_interface() {
    let mut options = RpcOptions::default();
    options.subscriber_port = 0;
    options.command_port = 0;
    let service = ZeroMqRpcService::new(options);
    service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| {
        assert_eq!(request.command, ApiCommand::GetStatus);
        ApiCommandRequestResponse::success()
    });
    service.start().expect("start on free ports");
    let mut addresses = vec!["127.0.0.2".to_owned()];
    addresses.extend(non_loopback_ipv4_addresses());
    let context = zmq::Context::new();
    for (nonce, address) in addresses.iter().enumerate() {
        let req = context.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.set_rcvtimeo(10_000).unwrap();
        req.connect(&format!("tcp://{address}:{}", service.command_port()))
            .unwrap();
        req.send(
            format!(r#"{{"command": 400, "nonce": {nonce}}}"#).as_bytes(),
            0,
        )
        .unwrap();
        let reply = req
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("no reply through {address}: {e}"));
        let reply: Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(
            (&reply["nonce"], &reply["result"]),
            (&json!(nonce), &json!(100))
        );
    }
    println!("served through {addresses:?}");
    service.stop();
}

/// The machine's IPv4 addresses outside 127.0.0.0/8, from `ip -4 -o addr`
/// (none when the tool or the addresses are missing).
fn non_loopback_ipv4_addresses() -> Vec<String> {
    let Ok(output) = Command::new("ip").args(["-4", "-o", "addr"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            fields.find(|field| *field == "inet")?;
            let address = fields.next()?.split('/').next()?;
            (!address.starts_with("127.")).then(|| address.to_owned())
        })
        .collect()
}
