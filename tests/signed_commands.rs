//! Signed commands (PROTOCOL.md, "Signed commands") over real sockets on
//! 127.0.0.1: every refusal class (401, 409, 403) from a raw REQ peer, what
//! gets in, the counters, signed replies, our `DeviceClient` signing (and
//! refusing a forged reply from a stand-in device), key reload while
//! serving, several keys at once, and a device without keys.
//!
//! No test asserts a duration; ports come from the OS.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auto_trainer_api::{
    verify_signed_frames, ApiCommand, Envelope, KeyRing, RpcOptions, RpcService, SigningKey,
    ZeroMqRpcService, REFUSED_FORBIDDEN, REFUSED_STALE_OR_REPLAYED, REFUSED_UNAUTHENTICATED,
};
use common::signing::{recording_device, seen, with_roles, Seen};
use common::zmq_client::{parse_json, ReqClient};
use serde_json::{json, Value};

const GET_STATUS: i64 = ApiCommand::GetStatus.value();
const START: i64 = ApiCommand::StartAcquisition.value();
const EMERGENCY_STOP: i64 = ApiCommand::EmergencyStop.value();

fn operator() -> SigningKey {
    SigningKey::new("ops-1", [1; 32])
}

fn viewer() -> SigningKey {
    SigningKey::new("screen", [2; 32])
}

fn ring() -> KeyRing {
    with_roles(
        KeyRing::new()
            .with_key(operator(), "operator")
            .with_key(viewer(), "viewer"),
    )
}

/// A started service on loopback with `keys`, whose delegate answers
/// SUCCESS with `{"ok": true}` and records every call.
fn device(keys: Option<KeyRing>) -> (ZeroMqRpcService, Seen) {
    let mut options = RpcOptions::loopback();
    options.heartbeat_interval = Duration::from_secs(3600);
    options.keys = keys;
    recording_device(options)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn body(command: i64, nonce: i64) -> Vec<u8> {
    json!({"command": command, "nonce": nonce})
        .to_string()
        .into_bytes()
}

/// `body` signed with `key` at `ts`: the two frames of a signed request.
fn signed_at(key: &SigningKey, ts: i64, body: &[u8]) -> Vec<Vec<u8>> {
    vec![Envelope::sign(key, ts, body).to_bytes(), body.to_vec()]
}

fn send(client: &mut ReqClient, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    client
        .try_request_frames(&frames)
        .expect("a reply within the timeout")
}

/// The reply to a refused request: one unsigned frame, FAILED,
/// SYSTEM_ERROR, `code`; returns the reply.
fn expect_refused(reply: &[Vec<u8>], code: i64) -> Value {
    assert_eq!(reply.len(), 1, "a refusal is one unsigned frame");
    let reply = parse_json(&reply[0]);
    assert_eq!(reply["result"], 400, "{reply}");
    assert_eq!(reply["errorKind"], 1, "{reply}");
    assert_eq!(reply["errorCode"], code, "{reply}");
    assert!(reply["errorMessage"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    reply
}

/// The reply to an admitted request: two frames signed with `key`, SUCCESS,
/// the delegate's data; returns the body.
fn expect_accepted(key: &SigningKey, reply: &[Vec<u8>]) -> Value {
    let body = verify_signed_frames(key, reply)
        .unwrap_or_else(|why| panic!("reply not signed with {}: {why}", key.id()));
    let reply = parse_json(body);
    assert_eq!(reply["result"], 100, "{reply}");
    assert_eq!(reply["data"], json!({"ok": true}), "{reply}");
    reply
}

#[test]
fn requests_without_a_valid_signature_are_refused_401() {
    let (service, delegate) = device(Some(ring()));
    let mut client = ReqClient::connect(service.command_port());
    let request = body(GET_STATUS, 1);

    // No envelope.
    let reply = expect_refused(&send(&mut client, std::slice::from_ref(&request)), 401);
    assert_eq!(reply["nonce"], 1, "what can be read is echoed: {reply}");
    // An envelope that is not one.
    expect_refused(&send(&mut client, &[b"{}".to_vec(), request.clone()]), 401);
    // An unknown key.
    let stranger = SigningKey::new("stranger", [1; 32]);
    expect_refused(
        &send(&mut client, &signed_at(&stranger, now_ms(), &request)),
        401,
    );
    // A known key id with another secret.
    let forger = SigningKey::new("ops-1", [9; 32]);
    expect_refused(
        &send(&mut client, &signed_at(&forger, now_ms(), &request)),
        401,
    );
    // A good signature over another body.
    let mut tampered = signed_at(&operator(), now_ms(), &request);
    tampered[1] = body(START, 1);
    expect_refused(&send(&mut client, &tampered), 401);

    assert!(
        seen(&delegate).is_empty(),
        "the delegate saw a refused request"
    );
    let stats = service.stats();
    assert_eq!(stats.refused_unauthenticated, 5);
    assert_eq!(stats.refused_stale_or_replayed, 0);
    assert_eq!(stats.refused_forbidden, 0);
    service.stop();
}

#[test]
fn a_ts_outside_the_window_is_refused_409_and_inside_accepted() {
    let (service, delegate) = device(Some(ring()));
    let mut client = ReqClient::connect(service.command_port());
    let key = operator();

    let stale = body(GET_STATUS, 1);
    expect_refused(
        &send(&mut client, &signed_at(&key, now_ms() - 31_000, &stale)),
        409,
    );
    let future = body(GET_STATUS, 2);
    expect_refused(
        &send(&mut client, &signed_at(&key, now_ms() + 31_000, &future)),
        409,
    );
    let late = body(GET_STATUS, 3);
    let reply = expect_accepted(
        &key,
        &send(&mut client, &signed_at(&key, now_ms() - 29_000, &late)),
    );
    assert_eq!(reply["nonce"], 3);

    assert_eq!(seen(&delegate), [(GET_STATUS, 3)]);
    let stats = service.stats();
    assert_eq!(stats.refused_stale_or_replayed, 2);
    assert_eq!(stats.refused_unauthenticated, 0);
    service.stop();
}

#[test]
fn a_replayed_request_is_refused_409_and_reaches_the_delegate_once() {
    let (service, delegate) = device(Some(ring()));
    let mut client = ReqClient::connect(service.command_port());
    let captured = signed_at(&operator(), now_ms(), &body(START, 7));

    expect_accepted(&operator(), &send(&mut client, &captured));
    let reply = expect_refused(&send(&mut client, &captured), 409);
    assert_eq!(reply["nonce"], 7);
    // From another connection too.
    let mut other = ReqClient::connect(service.command_port());
    expect_refused(&send(&mut other, &captured), 409);

    assert_eq!(seen(&delegate), [(START, 7)]);
    assert_eq!(service.stats().refused_stale_or_replayed, 2);
    service.stop();
}

#[test]
fn a_role_limits_commands_403_but_never_the_emergency_stop() {
    let (service, delegate) = device(Some(ring()));
    let mut client = ReqClient::connect(service.command_port());
    let key = viewer();

    let reply = expect_refused(
        &send(&mut client, &signed_at(&key, now_ms(), &body(START, 1))),
        403,
    );
    assert_eq!(
        (reply["nonce"].clone(), reply["command"].clone()),
        (json!(1), json!(START))
    );
    expect_accepted(
        &key,
        &send(
            &mut client,
            &signed_at(&key, now_ms(), &body(GET_STATUS, 2)),
        ),
    );
    expect_accepted(
        &key,
        &send(
            &mut client,
            &signed_at(&key, now_ms(), &body(EMERGENCY_STOP, 3)),
        ),
    );
    // The operator may START.
    expect_accepted(
        &operator(),
        &send(
            &mut client,
            &signed_at(&operator(), now_ms(), &body(START, 4)),
        ),
    );

    assert_eq!(
        seen(&delegate),
        [(GET_STATUS, 2), (EMERGENCY_STOP, 3), (START, 4)]
    );
    assert_eq!(service.stats().refused_forbidden, 1);
    service.stop();
}

#[test]
fn every_refusal_class_is_counted_apart() {
    let (service, delegate) = device(Some(ring()));
    let mut client = ReqClient::connect(service.command_port());
    let before = service.stats();
    assert_eq!(
        (
            before.refused_unauthenticated,
            before.refused_stale_or_replayed,
            before.refused_forbidden
        ),
        (0, 0, 0)
    );

    let codes = [
        (vec![body(GET_STATUS, 1)], REFUSED_UNAUTHENTICATED),
        (
            signed_at(&viewer(), now_ms() - 60_000, &body(GET_STATUS, 2)),
            REFUSED_STALE_OR_REPLAYED,
        ),
        (
            signed_at(&viewer(), now_ms(), &body(START, 3)),
            REFUSED_FORBIDDEN,
        ),
        (
            signed_at(&viewer(), now_ms(), &body(START, 4)),
            REFUSED_FORBIDDEN,
        ),
    ];
    for (frames, code) in &codes {
        expect_refused(&send(&mut client, frames), *code);
    }
    expect_accepted(
        &viewer(),
        &send(
            &mut client,
            &signed_at(&viewer(), now_ms(), &body(GET_STATUS, 5)),
        ),
    );

    let stats = service.stats();
    assert_eq!(stats.refused_unauthenticated, 1);
    assert_eq!(stats.refused_stale_or_replayed, 1);
    assert_eq!(stats.refused_forbidden, 2);
    assert_eq!(stats.requests, 5, "refusals are requests answered");
    assert_eq!(
        stats.malformed_requests, 0,
        "refusals are not malformed requests"
    );
    assert_eq!(seen(&delegate), [(GET_STATUS, 5)]);
    service.stop();
}

#[test]
fn a_reply_is_signed_with_the_requesters_key() {
    let (service, _) = device(Some(ring()));
    let mut client = ReqClient::connect(service.command_port());

    for key in [operator(), viewer()] {
        let reply = send(
            &mut client,
            &signed_at(&key, now_ms(), &body(GET_STATUS, 1)),
        );
        assert_eq!(reply.len(), 2);
        let envelope = parse_json(&reply[0]);
        assert_eq!(envelope["v"], 1);
        assert_eq!(envelope["keyId"], key.id());
        let ts = envelope["ts"].as_i64().expect("ts is an integer");
        assert!(
            (ts - now_ms()).abs() < 60_000,
            "ts is the device's clock: {ts}"
        );
        let sig = envelope["sig"].as_str().expect("sig");
        assert_eq!(sig.len(), 64);
        assert!(
            sig.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{sig}"
        );
        expect_accepted(&key, &reply);
        let other = if key == operator() {
            viewer()
        } else {
            operator()
        };
        assert!(verify_signed_frames(&other, &reply).is_err());
        let same_id_other_secret = SigningKey::new(key.id(), [7; 32]);
        assert!(verify_signed_frames(&same_id_other_secret, &reply).is_err());
    }
    service.stop();
}

#[test]
fn several_keys_are_valid_at_once() {
    let second = SigningKey::new("ops-2", [3; 32]);
    let (service, delegate) = device(Some(ring().with_key(second.clone(), "operator")));
    let mut client = ReqClient::connect(service.command_port());
    for (nonce, key) in [operator(), second, viewer()].iter().enumerate() {
        let nonce = nonce as i64 + 1;
        expect_accepted(
            key,
            &send(
                &mut client,
                &signed_at(key, now_ms(), &body(GET_STATUS, nonce)),
            ),
        );
    }
    assert_eq!(seen(&delegate).len(), 3);
    service.stop();
}

/// A key file of `keys`, each an operator.
fn write_key_file(path: &std::path::Path, keys: &[&SigningKey]) {
    let mut text = String::new();
    for key in keys {
        text.push_str(&key.key_file_entry("operator"));
        text.push('\n');
    }
    text.push_str("[roles]\noperator = [\"*\"]\nviewer = [\"GET_STATUS\"]\n");
    std::fs::write(path, text).expect("write the key file");
}

#[test]
fn keys_are_reloaded_while_serving() {
    let dir = std::env::temp_dir().join("auto-trainer-api-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("keys-{}.toml", std::process::id()));
    let old = SigningKey::generate("old").unwrap();
    let new = SigningKey::generate("new").unwrap();
    write_key_file(&path, &[&old]);

    let mut options = RpcOptions::loopback();
    options.heartbeat_interval = Duration::from_secs(3600);
    options.key_file = Some(path.clone());
    let (service, delegate) = recording_device(options);
    assert!(service.requires_signatures());
    let mut client = ReqClient::connect(service.command_port());
    expect_accepted(
        &old,
        &send(
            &mut client,
            &signed_at(&old, now_ms(), &body(GET_STATUS, 1)),
        ),
    );
    expect_refused(
        &send(
            &mut client,
            &signed_at(&new, now_ms(), &body(GET_STATUS, 2)),
        ),
        401,
    );

    // Rotation: both for a while, then only the new one.
    write_key_file(&path, &[&old, &new]);
    assert_eq!(service.reload_keys().unwrap(), 2);
    expect_accepted(
        &old,
        &send(
            &mut client,
            &signed_at(&old, now_ms(), &body(GET_STATUS, 3)),
        ),
    );
    expect_accepted(
        &new,
        &send(
            &mut client,
            &signed_at(&new, now_ms(), &body(GET_STATUS, 4)),
        ),
    );
    write_key_file(&path, &[&new]);
    assert_eq!(service.reload_keys().unwrap(), 1);
    expect_refused(
        &send(
            &mut client,
            &signed_at(&old, now_ms(), &body(GET_STATUS, 5)),
        ),
        401,
    );
    expect_accepted(
        &new,
        &send(
            &mut client,
            &signed_at(&new, now_ms(), &body(GET_STATUS, 6)),
        ),
    );

    // A broken file leaves the keys in use.
    std::fs::write(&path, "not a key file").unwrap();
    assert!(service.reload_keys().is_err());
    expect_accepted(
        &new,
        &send(
            &mut client,
            &signed_at(&new, now_ms(), &body(GET_STATUS, 7)),
        ),
    );

    let nonces: Vec<i64> = seen(&delegate).iter().map(|&(_, nonce)| nonce).collect();
    assert_eq!(nonces, [1, 3, 4, 6, 7]);
    service.stop();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn keys_can_be_set_and_removed_while_serving() {
    let (service, delegate) = device(None);
    assert!(!service.requires_signatures());
    let mut client = ReqClient::connect(service.command_port());
    assert_eq!(send(&mut client, &[body(GET_STATUS, 1)]).len(), 1);
    service.set_keys(Some(ring()));
    expect_refused(&send(&mut client, &[body(GET_STATUS, 2)]), 401);
    expect_accepted(
        &operator(),
        &send(
            &mut client,
            &signed_at(&operator(), now_ms(), &body(GET_STATUS, 3)),
        ),
    );
    service.set_keys(None);
    assert_eq!(send(&mut client, &[body(GET_STATUS, 4)]).len(), 1);
    let nonces: Vec<i64> = seen(&delegate).iter().map(|&(_, nonce)| nonce).collect();
    assert_eq!(nonces, [1, 3, 4]);
    service.stop();
}

#[test]
fn a_device_without_keys_answers_a_signed_request_as_malformed() {
    let (service, delegate) = device(None);
    let mut client = ReqClient::connect(service.command_port());
    let reply = send(
        &mut client,
        &signed_at(&operator(), now_ms(), &body(GET_STATUS, 5)),
    );
    assert_eq!(reply.len(), 1, "unsigned");
    let reply = parse_json(&reply[0]);
    assert_eq!(reply["errorKind"], 1, "{reply}");
    assert_eq!(reply["result"], 0, "{reply}");
    assert_eq!(reply["nonce"], 5, "the nonce is echoed: {reply}");
    assert!(
        reply["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("does not take signed requests")),
        "{reply}"
    );
    assert_eq!(service.stats().malformed_requests, 1);
    assert!(seen(&delegate).is_empty());
    service.stop();
}

#[cfg(feature = "client")]
mod client {
    use super::*;
    use auto_trainer_api::{ApiCommandRequestResult, BlockingDeviceClient, ClientOptions, Error};
    use std::thread::JoinHandle;

    fn client_of(
        pub_port: u16,
        cmd_port: u16,
        signing: Option<SigningKey>,
    ) -> BlockingDeviceClient {
        let mut options = ClientOptions::new("127.0.0.1").with_ports(pub_port, cmd_port);
        options.request_timeout = Duration::from_secs(5);
        options.retries = 0;
        options.signing = signing;
        BlockingDeviceClient::connect(options).expect("connect")
    }

    fn client(service: &ZeroMqRpcService, signing: Option<SigningKey>) -> BlockingDeviceClient {
        client_of(service.subscriber_port(), service.command_port(), signing)
    }

    #[test]
    fn our_client_signs_and_is_refused_with_a_wrong_key() {
        let (service, delegate) = device(Some(ring()));

        let good = client(&service, Some(operator()));
        for _ in 0..3 {
            let reply = good.send_command(ApiCommand::GetStatus, None).unwrap();
            assert_eq!(reply.result, ApiCommandRequestResult::Success);
        }
        let start = good
            .send_command(ApiCommand::StartAcquisition, None)
            .unwrap();
        assert_eq!(start.result, ApiCommandRequestResult::Success);
        assert_eq!(seen(&delegate).len(), 4);
        good.close();

        let wrong = client(&service, Some(SigningKey::new("ops-1", [9; 32])));
        match wrong.send_command(ApiCommand::GetStatus, None) {
            Err(Error::Refused { code: 401, .. }) => {}
            other => panic!("expected a 401 refusal, got {other:?}"),
        }
        wrong.close();

        let viewer = client(&service, Some(viewer()));
        match viewer.send_command(ApiCommand::StartAcquisition, None) {
            Err(Error::Refused { code: 403, .. }) => {}
            other => panic!("expected a 403 refusal, got {other:?}"),
        }
        viewer.close();

        let unsigned = client(&service, None);
        let reply = unsigned.send_command(ApiCommand::GetStatus, None).unwrap();
        assert_eq!(
            reply.error_code, 401,
            "an unsigned client reads the refusal"
        );
        unsigned.close();

        assert_eq!(seen(&delegate).len(), 4);
        service.stop();
    }

    #[test]
    fn a_signing_client_of_a_device_without_keys_is_refused() {
        let (service, delegate) = device(None);
        let client = client(&service, Some(operator()));
        match client.send_command(ApiCommand::GetStatus, None) {
            Err(Error::Refused { code: 0, message }) => {
                assert!(
                    message.contains("does not take signed requests"),
                    "{message}"
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(seen(&delegate).is_empty());
        client.close();
        service.stop();
    }

    /// A stand-in device: a raw ROUTER that answers every request with a
    /// SUCCESS reply signed by `signer` (a forger, when its secret is not
    /// the client's), until it has answered `replies`.
    fn stand_in(signer: SigningKey, replies: usize) -> (u16, JoinHandle<Vec<Vec<Vec<u8>>>>) {
        let context = zmq::Context::new();
        let router = context.socket(zmq::ROUTER).unwrap();
        router.set_linger(0).unwrap();
        router.set_rcvtimeo(10_000).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.get_last_endpoint().unwrap().unwrap();
        let port = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let thread = std::thread::spawn(move || {
            let _context = context;
            let mut requests = Vec::new();
            for _ in 0..replies {
                let Ok(mut frames) = router.recv_multipart(0) else {
                    break;
                };
                let request: Value = serde_json::from_slice(frames.last().unwrap()).unwrap();
                let reply = json!({
                    "nonce": request["nonce"], "command": request["command"], "result": 100,
                    "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null
                })
                .to_string();
                let signed = signed_at(&signer, now_ms(), reply.as_bytes());
                // [identity, empty, envelope, body] -> same routing, signed reply.
                let routing: Vec<Vec<u8>> = frames.drain(..2).collect();
                requests.push(frames);
                router
                    .send_multipart(routing.into_iter().chain(signed), 0)
                    .unwrap();
            }
            requests
        });
        (port, thread)
    }

    #[test]
    fn our_client_rejects_a_forged_reply() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pub_port = free.local_addr().unwrap().port();
        drop(free);

        // A reply signed with the client's own key is accepted (the stand-in
        // works), one signed with another secret under the same id is not.
        let (port, honest) = stand_in(operator(), 1);
        let client = client_of(pub_port, port, Some(operator()));
        let reply = client.send_command(ApiCommand::GetStatus, None).unwrap();
        assert_eq!(reply.result, ApiCommandRequestResult::Success);
        client.close();
        let requests = honest.join().unwrap();
        verify_signed_frames(&operator(), &requests[0]).expect("the client signed its request");

        let (port, forger) = stand_in(SigningKey::new("ops-1", [9; 32]), 1);
        let client = client_of(pub_port, port, Some(operator()));
        match client.send_command(ApiCommand::GetStatus, None) {
            Err(Error::InvalidReply(why)) => assert!(why.contains("forged"), "{why}"),
            other => panic!("a forged reply was taken: {other:?}"),
        }
        assert_eq!(client.stats().invalid_replies, 1);
        client.close();
        forger.join().unwrap();
    }
}
