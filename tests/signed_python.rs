//! The README's Python signing code, taken from README.md ("Signing from
//! Python") and run as written in the test venv (pyzmq) against our service
//! with keys: a signed GET_STATUS gets in, a wrong secret gets 401, the same
//! signed bytes twice get 409 the second time, a viewer's START_ACQUISITION
//! 403, a viewer's EMERGENCY_STOP gets in, and the code's verifier rejects a
//! tampered reply.

mod common;

use std::time::Duration;

use auto_trainer_api::{KeyRing, RpcOptions, RpcService, SigningKey};
use common::python::{repo_dir, PyProcess};
use common::signing::{recording_device, seen, with_roles};
use serde_json::{json, Value};

/// The first line of the README's Python block.
const FIRST_LINE: &str =
    "# Signed commands from Python (PROTOCOL.md): hmac, hashlib, json, time, pyzmq.";

/// The README's Python block, exactly as written.
fn readme_python() -> String {
    let readme = std::fs::read_to_string(repo_dir().join("README.md")).expect("read README.md");
    let opening = format!("```python\n{FIRST_LINE}\n");
    let start = readme
        .find(&opening)
        .unwrap_or_else(|| panic!("README.md has no ```python block starting with {FIRST_LINE:?}"))
        + "```python\n".len();
    let end = start
        + readme[start..]
            .find("\n```\n")
            .expect("the Python block is closed");
    readme[start..=end].to_owned()
}

fn b64_arg(key: &SigningKey, secret_b64: &str) -> String {
    format!("{}:{secret_b64}", key.id())
}

/// A key with its secret in base64 (as in a key file).
fn key(id: &str, byte: u8) -> (SigningKey, String) {
    let entry = SigningKey::new(id, [byte; 32]).key_file_entry("x");
    let secret = entry
        .lines()
        .find_map(|l| l.strip_prefix("secret = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a secret line")
        .to_owned();
    (SigningKey::from_base64(id, &secret).unwrap(), secret)
}

#[test]
fn the_readme_python_signs_against_our_service() {
    let code = readme_python();
    assert!(code.contains("def signed_request("), "{code}");
    let dir = std::env::temp_dir().join("auto-trainer-api-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let code_path = dir.join(format!("readme-signing-{}.py", std::process::id()));
    std::fs::write(&code_path, &code).unwrap();

    let (operator, operator_b64) = key("ops-1", 0x11);
    let (viewer, viewer_b64) = key("screen", 0x22);
    let ring = with_roles(
        KeyRing::new()
            .with_key(operator.clone(), "operator")
            .with_key(viewer.clone(), "viewer"),
    );
    let mut options = RpcOptions::loopback();
    options.heartbeat_interval = Duration::from_secs(3600);
    options.keys = Some(ring);
    let (service, delegate) = recording_device(options);

    let endpoint = format!("tcp://127.0.0.1:{}", service.command_port());
    let code_arg = code_path.display().to_string();
    let operator_arg = b64_arg(&operator, &operator_b64);
    let viewer_arg = b64_arg(&viewer, &viewer_b64);
    let python = PyProcess::spawn(
        "readme_signing",
        &[
            "--code",
            &code_arg,
            "--endpoint",
            &endpoint,
            "--operator",
            &operator_arg,
            "--viewer",
            &viewer_arg,
        ],
    );
    let mut steps = std::collections::BTreeMap::new();
    loop {
        let line = python
            .next_line(Duration::from_secs(60))
            .expect("readme_signing.py stopped before its last step");
        let step = line["step"]
            .as_str()
            .unwrap_or_else(|| panic!("not a step: {line}"))
            .to_owned();
        if step == "done" {
            break;
        }
        steps.insert(step, line);
    }
    let step = |name: &str| -> &Value {
        steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
    };
    let accepted = |name: &str, nonce: i64| {
        let reply = &step(name)["reply"];
        assert_eq!(reply["result"], 100, "{name}: {}", step(name));
        assert_eq!(reply["nonce"], nonce, "{name}: {}", step(name));
        assert_eq!(reply["data"], json!({"ok": true}), "{name}");
    };
    let refused = |name: &str, code: i64| {
        let reply = &step(name)["refused"];
        assert_eq!(reply["errorCode"], code, "{name}: {}", step(name));
        assert_eq!(reply["result"], 400, "{name}");
        assert_eq!(reply["errorKind"], 1, "{name}");
    };
    let forged = |name: &str| {
        assert!(
            step(name)["forged"].as_str().is_some(),
            "{name}: the README's verifier took it: {}",
            step(name)
        );
    };

    accepted("status", 1);
    refused("wrong_secret", 401);
    accepted("replay_first", 3);
    refused("replay_second", 409);
    refused("viewer_start", 403);
    accepted("viewer_stop", 5);
    accepted("untampered", 6);
    forged("tampered_signature");
    forged("tampered_body");
    forged("other_key");

    assert_eq!(
        seen(&delegate),
        [(400, 1), (100, 3), (200, 5), (400, 6)],
        "the delegate sees each admitted request once, no refused one"
    );
    let stats = service.stats();
    assert_eq!(stats.refused_unauthenticated, 1);
    assert_eq!(stats.refused_stale_or_replayed, 1);
    assert_eq!(stats.refused_forbidden, 1);
    service.stop();
    let _ = std::fs::remove_file(&code_path);
}
