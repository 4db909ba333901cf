//! Self-check of the Python interop tools, without the Rust library: the real
//! reference service (`reference_service.py`) against the raw pyzmq peer
//! (`zmq_peer.py`).

mod common;

use std::time::{Duration, Instant};

use common::python::{spawn_zmq_sub, start_reference_service, PyProcess};
use serde_json::{json, Value};

const STARTUP: Duration = Duration::from_secs(30);

/// The reference service, ready: the process and its PUB and REP ports.
fn start_reference(answers: &Value) -> (PyProcess, u16, u16) {
    let service = start_reference_service(
        "0.5",
        Some(answers),
        &["--identifier", "python-peers"],
        STARTUP,
    );
    (service.process, service.pub_port, service.cmd_port)
}

fn stop(mut process: PyProcess, stop_line: Option<Value>) {
    if let Some(line) = stop_line {
        process.send_line(&line);
    }
    process.close_stdin();
    let status = process
        .wait_exit(Duration::from_secs(10))
        .expect("process did not exit within 10 s");
    assert!(status.success(), "process exited with {status}");
}

#[test]
fn reference_answers_get_status_through_raw_req() {
    let (service, _, cmd_port) = start_reference(&json!({
        "400": {"result": 100, "data": {"app_status": 0, "training_mode": 0, "animal_id": "m1"}}
    }));

    let endpoint = format!("tcp://127.0.0.1:{cmd_port}");
    let mut req = PyProcess::spawn(
        "zmq_peer",
        &["req", "--endpoint", &endpoint, "--timeout", "5"],
    );
    req.send_line(&json!({"text": json!({"command": 400, "nonce": 7}).to_string()}));

    let line = req
        .next_line(Duration::from_secs(15))
        .expect("no output from zmq_peer req");
    assert!(
        line.get("timeout").is_none(),
        "the reference did not answer: {line}"
    );
    let text = line["reply"].as_str().expect("reply is UTF-8 text");
    let reply: Value = serde_json::from_str(text).expect("reply is JSON");

    assert_eq!(reply["result"], 100, "{reply}");
    assert_eq!(reply["nonce"], 7, "{reply}");
    assert_eq!(reply["command"], 400, "{reply}");
    assert_eq!(reply["data"]["appStatus"], 0, "{reply}");
    assert_eq!(reply["data"]["trainingMode"], 0, "{reply}");
    assert_eq!(reply["data"]["animalId"], "m1", "{reply}");
    assert_eq!(reply["errorKind"], 0, "{reply}");
    assert_eq!(reply["errorCode"], 0, "{reply}");
    assert_eq!(reply["errorMessage"], Value::Null, "{reply}");
    let mut keys: Vec<&str> = reply
        .as_object()
        .expect("reply is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "command",
            "data",
            "errorCode",
            "errorKind",
            "errorMessage",
            "nonce",
            "result"
        ]
    );

    // The delegate saw the request, in snake_case.
    let seen = service
        .wait_for(Duration::from_secs(5), |v| v.get("request").is_some())
        .expect("the delegate did not log the request");
    assert_eq!(seen["request"]["command"], 400);
    assert_eq!(seen["request"]["nonce"], 7);
    assert_eq!(seen["request"]["custom_command"], -1);
    assert_eq!(seen["request"]["data"], Value::Null);

    stop(req, None);
    stop(service, Some(json!({"stop": true})));
}

#[test]
fn reference_publishes_events_to_raw_sub() {
    let (mut service, pub_port, _) = start_reference(&json!({}));

    let endpoint = format!("tcp://127.0.0.1:{pub_port}");
    let sub = spawn_zmq_sub(&endpoint, 1, 20, &[4001]);
    sub.expect_ready(STARTUP);

    let event = json!({
        "kind": 301,
        "when": 1_700_000_000.25,
        "index": 123_456_789,
        "context": {"trial_number": 3, "label": "m-001"}
    });
    let send = json!({"send_dict": {"topic": 4001, "message": event}});

    // PUB/SUB joins are asynchronous: repeat until the subscriber sees one.
    let deadline = Instant::now() + Duration::from_secs(15);
    let received = loop {
        assert!(
            Instant::now() < deadline,
            "the subscriber saw no event within 15 s"
        );
        service.send_line(&send);
        if let Some(line) = sub.next_line(Duration::from_millis(100)) {
            break line;
        }
    };

    assert!(
        received.get("timeout").is_none(),
        "subscriber timed out: {received}"
    );
    assert_eq!(received["topic"], 4001, "{received}");
    assert_eq!(received["topic_hex"], "a10f0000", "{received}");
    assert_eq!(received["frames"], 2, "{received}");
    let body: Value =
        serde_json::from_str(received["body"].as_str().expect("UTF-8 body")).expect("body is JSON");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("body is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["context", "index", "kind", "when"], "{body}");
    assert_eq!(body["kind"], event["kind"]);
    assert_eq!(body["when"], event["when"]);
    assert_eq!(body["index"], event["index"]);
    // The reference camelizes keys inside the context too (values untouched
    // here, since the message is camelized as an object, not as text).
    assert_eq!(body["context"], json!({"trialNumber": 3, "label": "m-001"}));

    let status = {
        let mut sub = sub;
        sub.wait_exit(Duration::from_secs(10))
    }
    .expect("subscriber did not exit after its message");
    assert!(status.success(), "subscriber exited with {status}");

    stop(service, Some(json!({"stop": true})));
}
