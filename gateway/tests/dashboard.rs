//! The dashboard's HTTP API end to end, with real processes only: a
//! `nats-server` with JetStream, the gateway binary serving HTTP on a port
//! the OS picked, and `client_application` rigs (0.9 and 0.12); a plain
//! HTTP client (ureq) calls it as any API client would.
//!
//! No test asserts a duration: waits poll for a condition under a generous
//! deadline.
//!
//! The page itself is driven in a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, which `scripts/test.sh` installs) by
//! selenium from the fleet venv (`tests/python/dashboard_browser.py`);
//! its screenshots go to `target/dashboard-screenshots/`.
//!
//! Run: `cargo build --examples && cargo test -p auto-trainer-gateway --test
//! dashboard`.

#[path = "../../tests/common"]
mod common {
    pub mod examples;
    pub mod nats;
    pub mod python;
}

use common::python::{python_fleet, repo_dir, PyProcess};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::examples::{built_example, port_after, read_lines};
use common::nats::{gateway_command, GatewayProcess, NatsServer, TempDir};

/// The deadline of every wait for a condition.
const WAIT: Duration = Duration::from_secs(30);

/// The gateway binary under test.
const GATEWAY: &str = env!("CARGO_BIN_EXE_auto-trainer-gateway");

const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

const START_ACQUISITION: i64 = 100;
const GET_STATUS: i64 = 400;
const SUCCESS: i64 = 100;
const PENDING_WITH_NOTIFICATION: i64 = 201;

/// Polls `condition` every 100 ms until it holds or `WAIT` passes.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `client_application` rig on ports the OS picked.
struct Rig {
    name: &'static str,
    pub_port: u16,
    cmd_port: u16,
    child: Child,
    _log: Receiver<String>,
}

impl Rig {
    fn start(name: &'static str, protocol: &str) -> Rig {
        let mut child = Command::new(built_example("client_application"))
            .args([
                "--bind",
                "127.0.0.1",
                "--pub-port",
                "0",
                "--cmd-port",
                "0",
                "--identifier",
                &format!("{name}-device"),
                "--heartbeat-interval",
                "0.5",
                "--start-delay",
                "0.5",
                "--protocol",
                protocol,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start client_application");
        let log = read_lines(child.stderr.take().expect("piped stderr"), "rig app");
        let deadline = Instant::now() + WAIT;
        let started = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(remaining) {
                Ok(line) if line.contains("api service started") => break line,
                Ok(_) => {}
                Err(_) => panic!("rig {name} did not start"),
            }
        };
        let port = |label: &str| port_after(label, &started).expect("a port in the start line");
        Rig {
            name,
            pub_port: port("subscriber_port="),
            cmd_port: port("command_port="),
            child,
            _log: log,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A gateway process serving HTTP; `base` is its `http://127.0.0.1:PORT`.
struct Gateway {
    /// Kept for its life: dropping it kills the gateway.
    _process: GatewayProcess,
    base: String,
}

impl Gateway {
    fn start(config: &Path) -> Gateway {
        let process = GatewayProcess::start(gateway_command(GATEWAY, config));
        let base = process
            .http
            .clone()
            .expect("an `http:` line before `ready:`");
        Gateway {
            _process: process,
            base,
        }
    }
}

/// Gateway `name`'s configuration: HTTP on a port the OS picks, the three
/// operators, `extra` lines in `[gateway]`.
fn write_config(name: &str, nats_url: &str, rigs: &[&Rig], extra: &str, dir: &Path) -> PathBuf {
    let mut text = format!(
        "[gateway]\nname = \"{name}\"\nhttp = \"127.0.0.1:0\"\n{extra}\n\
         [nats]\nurl = \"{nats_url}\"\ncommand_timeout = \"2s\"\n"
    );
    for rig in rigs {
        text.push_str(&format!(
            "\n[[rig]]\nname = \"{}\"\nhost = \"127.0.0.1\"\npub_port = {}\ncmd_port = {}\n",
            rig.name, rig.pub_port, rig.cmd_port
        ));
    }
    for (name, token, role) in [
        ("vera", VIEWER, "viewer"),
        ("otto", OPERATOR, "operator"),
        ("ada", ADMIN, "admin"),
    ] {
        text.push_str(&format!(
            "\n[[operator]]\nname = \"{name}\"\ntoken = \"{token}\"\nrole = \"{role}\"\n"
        ));
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the gateway's config");
    path
}

/// NATS, rigs and a gateway; dropped in the order written.
struct Site {
    gateway: Gateway,
    rigs: Vec<Rig>,
    nats: NatsServer,
    dir: TempDir,
}

impl Site {
    fn start(rigs: &[(&'static str, &str)], extra: &str) -> Site {
        let nats = NatsServer::start();
        let rigs: Vec<Rig> = rigs
            .iter()
            .map(|(name, protocol)| Rig::start(name, protocol))
            .collect();
        let dir = TempDir::new("dashboard");
        let rig_list = rigs.iter().collect::<Vec<_>>();
        let config = write_config("site-a", &nats.url(), &rig_list, extra, &dir);
        let gateway = Gateway::start(&config);
        Site {
            gateway,
            rigs,
            nats,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.base)
    }
}

/// A response: its status, headers and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An API error: `status` and a JSON `{"error"}` that says something.
    fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let error = self.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(!error.is_empty(), "{self:?}");
        error
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(WAIT))
        .build()
        .into()
}

fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("an HTTP response");
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

/// GET with these headers.
fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    finish(request.call())
}

/// POST `body` with these headers.
fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = agent().post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    finish(request.send(body))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The SSE events of `url`, as a thread reads them: each event's `id` and
/// JSON data.
fn events(url: &str, headers: &[(&str, &str)]) -> Receiver<(u64, Value)> {
    let mut request = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.call().expect("the event stream");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let (sender, events) = mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(response.into_body().into_reader());
        let mut id = 0;
        for line in reader.lines().map_while(Result::ok) {
            if let Some(value) = line.strip_prefix("id:") {
                id = value.trim().parse().unwrap_or(0);
            } else if let Some(data) = line.strip_prefix("data:") {
                let value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
                if sender.send((id, value)).is_err() {
                    break;
                }
            }
        }
    });
    events
}

/// Waits for an event satisfying `predicate`; returns it.
fn wait_event(
    events: &Receiver<(u64, Value)>,
    what: &str,
    mut predicate: impl FnMut(&Value) -> bool,
) -> (u64, Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(remaining) {
            Ok(event) if predicate(&event.1) => return event,
            Ok(_) => {}
            Err(_) => panic!("no event within {WAIT:?}: {what}"),
        }
    }
}

/// The rigs of `GET /api/rigs` online, by name.
fn online(site: &Site, token: &str) -> Vec<String> {
    let reply = get(&site.url("/api/rigs"), &[("Authorization", &bearer(token))]);
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["rigs"]
        .as_array()
        .expect("rigs")
        .iter()
        .filter(|rig| rig["online"] == json!(true))
        .filter_map(|rig| rig["rig"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_endpoint_answers_each_role_as_it_may() {
    let site = Site::start(
        &[("rig-a", "0.9"), ("rig-b", "0.12")],
        "status_poll = \"1s\"",
    );
    let viewer = bearer(VIEWER);
    let operator = bearer(OPERATOR);
    let admin = bearer(ADMIN);
    let as_viewer = [("Authorization", viewer.as_str())];
    let as_operator = [("Authorization", operator.as_str())];

    // The page, with its own-origin-only policy.
    let page = get(&site.url("/"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);
    assert!(page
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    assert!(page
        .header("content-security-policy")
        .unwrap_or_default()
        .contains("default-src 'self'"));
    for file in ["/app.js", "/style.css"] {
        assert_eq!(get(&site.url(file), &[]).status, 200, "{file}");
    }

    // No token, a wrong one, a malformed header: 401 with a message.
    get(&site.url("/api/rigs"), &[]).assert_error(401);
    get(
        &site.url("/api/rigs"),
        &[("Authorization", "Bearer not-a-token-of-anyone")],
    )
    .assert_error(401);
    get(&site.url("/api/rigs"), &[("Authorization", VIEWER)]).assert_error(401);
    get(&site.url("/api/events"), &[]).assert_error(401);

    // Every role reads; both rigs come online with their records.
    eventually("both rigs online in /api/rigs", || {
        online(&site, VIEWER).len() == site.rigs.len()
    });
    for token in [&viewer, &operator, &admin] {
        let rigs = get(&site.url("/api/rigs"), &[("Authorization", token.as_str())]).json();
        assert!(rigs["now"].as_f64().unwrap_or_default() > 1.6e9, "{rigs}");
        let records = rigs["rigs"].as_array().expect("rigs");
        assert_eq!(records.len(), 2, "{rigs}");
        assert_eq!(records[0]["rig"], json!("rig-a"), "{rigs}");
        assert_eq!(records[0]["protocol"], json!("0.9"), "{rigs}");
        assert_eq!(records[1]["protocol"], json!("0.12"), "{rigs}");
        assert_eq!(records[1]["identifier"], json!("rig-b-device"), "{rigs}");
    }
    // The last status, from the gateway's poll.
    eventually("rig-b's last status", || {
        let rig = get(&site.url("/api/rigs/rig-b"), &as_viewer).json();
        rig["lastStatus"]["reply"]["result"] == json!(SUCCESS)
    });
    let rig_b = get(&site.url("/api/rigs/rig-b"), &as_viewer).json();
    assert_eq!(rig_b["rig"], json!("rig-b"), "{rig_b}");
    assert!(
        rig_b["lastStatus"]["reply"]["data"]["applicationMode"].is_number(),
        "{rig_b}"
    );
    get(&site.url("/api/rigs/rig-zz"), &as_viewer).assert_error(404);

    // The catalogs name the commands of each generation.
    let catalog = get(&site.url("/api/catalog"), &as_viewer).json();
    for generation in ["0.9", "0.12"] {
        let commands = catalog[generation]["commands"]
            .as_array()
            .expect("commands");
        assert!(
            commands.contains(&json!({"code": GET_STATUS, "name": "GET_STATUS"})),
            "{generation}: {commands:?}"
        );
        assert!(catalog[generation]["eventKinds"]
            .as_array()
            .is_some_and(|k| !k.is_empty()));
    }
    assert!(catalog["0.12"]["commands"]
        .as_array()
        .expect("commands")
        .contains(&json!({"code": 50, "name": "START_ACQUISITION"})));

    // The OpenAPI description lists every endpoint.
    let openapi = get(&site.url("/api/openapi.json"), &[]).json();
    assert!(
        openapi["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{openapi}"
    );
    for path in [
        "/api/session",
        "/api/rigs",
        "/api/rigs/{rig}",
        "/api/rigs/{rig}/commands",
        "/api/fleet/emergency-stop",
        "/api/events",
        "/api/catalog",
        "/api/openapi.json",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} in {}",
            openapi["paths"]
        );
    }

    // A viewer sends nothing.
    let get_status = json!({"command": "GET_STATUS"}).to_string();
    let commands = site.url("/api/rigs/rig-a/commands");
    let refused = post(&commands, &as_viewer, get_status.as_bytes()).assert_error(403);
    assert!(refused.contains("viewer"), "{refused}");
    post(&site.url("/api/fleet/emergency-stop"), &as_viewer, b"").assert_error(403);
    post(&commands, &[], get_status.as_bytes()).assert_error(401);

    // An operator and an admin do: by name, by number, in either generation.
    for (token, rig, command) in [
        (&operator, "rig-a", json!("GET_STATUS")),
        (&admin, "rig-b", json!(GET_STATUS)),
        (&operator, "rig-b", json!("get-status")),
    ] {
        let body = json!({"command": command, "data": null}).to_string();
        let reply = post(
            &site.url(&format!("/api/rigs/{rig}/commands")),
            &[("Authorization", token.as_str())],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        let reply = reply.json();
        assert_eq!(reply["rig"], json!(rig), "{reply}");
        assert_eq!(reply["reply"]["result"], json!(SUCCESS), "{reply}");
        assert_eq!(reply["reply"]["command"], json!(GET_STATUS), "{reply}");
        assert_eq!(reply["reply"]["nonce"], reply["nonce"], "{reply}");
        assert_eq!(reply["gatewayError"], Value::Null, "{reply}");
    }

    // Another gateway, bridging no rig, shows and commands them all the
    // same: the bucket is the fleet's, and commands go through NATS.
    let other = Gateway::start(&write_config(
        "site-b",
        &site.nats.url(),
        &[],
        "",
        &site.dir,
    ));
    let listed = get(&format!("{}/api/rigs", other.base), &as_viewer).json();
    assert_eq!(listed["rigs"].as_array().map(Vec::len), Some(2), "{listed}");
    let via_other = post(
        &format!("{}/api/rigs/rig-b/commands", other.base),
        &as_operator,
        get_status.as_bytes(),
    )
    .json();
    assert_eq!(via_other["reply"]["result"], json!(SUCCESS), "{via_other}");
    assert_eq!(via_other["gateway"], json!("site-a"), "{via_other}");
    drop(other);

    // Bad requests: 400 with a message, 404, 413.
    let bad = post(&commands, &as_operator, b"{\"command\": ").assert_error(400);
    assert!(bad.contains("not a command request"), "{bad}");
    post(
        &commands,
        &as_operator,
        br#"{"command": "NO_SUCH_COMMAND"}"#,
    )
    .assert_error(400);
    post(
        &commands,
        &as_operator,
        br#"{"command": 400, "surprise": 1}"#,
    )
    .assert_error(400);
    post(
        &site.url("/api/rigs/rig-zz/commands"),
        &as_operator,
        get_status.as_bytes(),
    )
    .assert_error(404);
    let huge =
        json!({"command": "GET_STATUS", "data": {"blob": "x".repeat(100 * 1024)}}).to_string();
    assert_eq!(post(&commands, &as_operator, huge.as_bytes()).status, 413);
    get(&site.url("/api/events?topic=nonsense"), &as_viewer).assert_error(400);
    get(&site.url("/api/events?rig=a.b"), &as_viewer).assert_error(400);
    get(&site.url("/api/events?since=yesterday"), &as_viewer).assert_error(400);

    // A pending command: the reply now, its result on the event stream.
    let live = events(&site.url("/api/events?rig=rig-a&topic=result"), &as_viewer);
    let started = post(
        &commands,
        &as_operator,
        json!({"command": "START_ACQUISITION", "nonce": 4242})
            .to_string()
            .as_bytes(),
    )
    .json();
    assert_eq!(
        started["reply"]["result"],
        json!(PENDING_WITH_NOTIFICATION),
        "{started}"
    );
    assert_eq!(started["nonce"], json!(4242), "{started}");
    let (sequence, result) = wait_event(&live, "the result of nonce 4242", |event| {
        event["body"]["nonce"] == json!(4242)
    });
    assert_eq!(result["rig"], json!("rig-a"), "{result}");
    assert_eq!(result["kind"], json!("result"), "{result}");
    assert_eq!(
        result["subject"],
        json!("autotrainer.rig-a.result.4242"),
        "{result}"
    );
    assert_eq!(
        result["body"]["command"],
        json!(START_ACQUISITION),
        "{result}"
    );
    assert_eq!(result["seq"], json!(sequence), "{result}");

    // Replay: from the start of the stream the same result comes again
    // (with the rig's events and link changes before it); from its
    // sequence on (Last-Event-ID), only what came after.
    let replay = events(&site.url("/api/events?rig=rig-a&since=1"), &as_viewer);
    let (again, _) = wait_event(&replay, "the replayed result", |event| {
        event["body"]["nonce"] == json!(4242)
    });
    assert_eq!(again, sequence);
    let links = events(&site.url("/api/events?topic=link&since=1"), &as_viewer);
    let (_, link) = wait_event(&links, "a link event", |event| {
        event["kind"] == json!("link")
    });
    assert_eq!(link["body"]["online"], json!(true), "{link}");
    // A time works as well as a sequence.
    let since_time = events(
        &site.url("/api/events?topic=result&since=2000-01-01T00:00:00Z"),
        &as_viewer,
    );
    wait_event(&since_time, "the result, replayed by time", |event| {
        event["body"]["nonce"] == json!(4242)
    });

    // The fleet-wide emergency stop: one entry per rig.
    let stopped = post(&site.url("/api/fleet/emergency-stop"), &as_operator, b"");
    assert_eq!(stopped.status, 200, "{stopped:?}");
    let outcomes = stopped.json()["rigs"].as_array().cloned().expect("rigs");
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o["outcome"] == json!("replied")),
        "{outcomes:?}"
    );
    let emergencies = events(&site.url("/api/events?topic=emergency&since=1"), &as_viewer);
    wait_event(&emergencies, "an emergency of rig-b", |event| {
        event["rig"] == json!("rig-b")
    });
    eventually("rig-a's record keeps its last emergency", || {
        get(&site.url("/api/rigs/rig-a"), &as_viewer).json()["lastEmergency"].is_object()
    });

    // Reconnecting with Last-Event-ID = the result's sequence: what came
    // after it (the emergency), not the result again.
    let last_id = sequence.to_string();
    let after = events(
        &site.url("/api/events?rig=rig-a"),
        &[
            ("Authorization", viewer.as_str()),
            ("Last-Event-ID", last_id.as_str()),
        ],
    );
    let (next, event) = wait_event(&after, "an event after the result", |_| true);
    assert!(next > sequence, "{next} after {sequence}: {event}");
}

/// The value of cookie `name` in a Set-Cookie header.
fn cookie(reply: &Reply) -> String {
    let set = reply.header("set-cookie").expect("a Set-Cookie header");
    set.split(';').next().unwrap_or_default().trim().to_owned()
}

#[test]
fn a_cookie_session_sends_its_csrf_token_with_every_command() {
    let site = Site::start(&[], "");
    let session = site.url("/api/session");
    post(&session, &[], br#"{"token": "nobody's token"}"#).assert_error(401);
    post(&session, &[], b"token=x").assert_error(400);

    let signed_in = post(
        &session,
        &[],
        json!({"token": OPERATOR}).to_string().as_bytes(),
    );
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let set_cookie = signed_in.header("set-cookie").unwrap_or_default();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let info = signed_in.json();
    assert_eq!(info["operator"], json!("otto"), "{info}");
    assert_eq!(info["role"], json!("operator"), "{info}");
    let csrf = info["csrfToken"].as_str().expect("a CSRF token").to_owned();
    let cookie = cookie(&signed_in);

    // The cookie reads; the page reloaded gets its CSRF token again.
    assert_eq!(
        get(&site.url("/api/rigs"), &[("Cookie", &cookie)]).status,
        200
    );
    let who = get(&session, &[("Cookie", &cookie)]).json();
    assert_eq!(who["csrfToken"], json!(csrf), "{who}");

    // A command without the token, or with another, is refused before
    // anything else is looked at; with it, it goes on (to a rig unknown here).
    let commands = site.url("/api/rigs/rig-zz/commands");
    let body = br#"{"command": "GET_STATUS"}"#;
    let refused = post(&commands, &[("Cookie", &cookie)], body).assert_error(403);
    assert!(refused.contains("CSRF"), "{refused}");
    post(
        &commands,
        &[("Cookie", &cookie), ("X-CSRF-Token", "forged")],
        body,
    )
    .assert_error(403);
    post(
        &site.url("/api/fleet/emergency-stop"),
        &[("Cookie", &cookie)],
        b"",
    )
    .assert_error(403);
    post(
        &commands,
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        body,
    )
    .assert_error(404);

    // A viewer's session with its token is still a viewer.
    let viewer = post(
        &session,
        &[],
        json!({"token": VIEWER}).to_string().as_bytes(),
    );
    let viewer_csrf = viewer.json()["csrfToken"]
        .as_str()
        .expect("csrf")
        .to_owned();
    let refused = post(
        &commands,
        &[
            ("Cookie", &self::cookie(&viewer)),
            ("X-CSRF-Token", &viewer_csrf),
        ],
        body,
    )
    .assert_error(403);
    assert!(refused.contains("viewer"), "{refused}");

    // Signed out, the cookie is worth nothing.
    let mut request = agent().delete(&session).header("Cookie", &cookie);
    request = request.header("X-CSRF-Token", &csrf);
    let out = finish(request.call());
    assert_eq!(out.status, 200, "{out:?}");
    get(&site.url("/api/rigs"), &[("Cookie", &cookie)]).assert_error(401);
    get(
        &site.url("/api/rigs"),
        &[("Cookie", "autotrainer_session=made-up")],
    )
    .assert_error(401);
}

#[test]
fn only_listed_origins_may_call_from_another_site() {
    let listed = "http://lab.example:8443";
    let preflight = |site: &Site, origin: &str| {
        let request = agent()
            .options(&site.url("/api/rigs/rig-a/commands"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,x-csrf-token",
            );
        finish(request.call())
    };

    let site = Site::start(&[], &format!("allowed_origins = [\"{listed}\"]"));
    let allowed = preflight(&site, listed);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(listed),
        "{allowed:?}"
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true"),
        "{allowed:?}"
    );
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(headers.contains("x-csrf-token"), "{allowed:?}");
    // Another origin is not reflected, on a preflight or on a plain GET.
    let other = preflight(&site, "http://evil.example");
    assert_eq!(
        other.header("access-control-allow-origin"),
        None,
        "{other:?}"
    );
    let bearer = bearer(VIEWER);
    let read = get(
        &site.url("/api/rigs"),
        &[
            ("Origin", "http://evil.example"),
            ("Authorization", &bearer),
        ],
    );
    assert_eq!(read.header("access-control-allow-origin"), None, "{read:?}");
    let read = get(
        &site.url("/api/rigs"),
        &[("Origin", listed), ("Authorization", &bearer)],
    );
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some(listed),
        "{read:?}"
    );
    drop(site);

    // Without a list: same-origin only, no CORS header for anyone.
    let site = Site::start(&[], "");
    let none = preflight(&site, listed);
    assert_eq!(none.header("access-control-allow-origin"), None, "{none:?}");
}

/// An executable on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn screenshots() -> PathBuf {
    repo_dir().join("target").join("dashboard-screenshots")
}

/// `tests/python/dashboard_browser.py` against `site`'s page, signing in
/// with the operator's and the viewer's tokens, with `extra` arguments.
fn browser(site: &Site, extra: &[&str]) -> PyProcess {
    let missing = "install Debian's chromium and chromium-driver (scripts/test.sh does)";
    let chromium = on_path("chromium").unwrap_or_else(|| panic!("no chromium: {missing}"));
    let driver = on_path("chromedriver").unwrap_or_else(|| panic!("no chromedriver: {missing}"));
    let screenshots = screenshots();
    let mut args = vec![
        "--url".to_owned(),
        site.gateway.base.clone(),
        "--operator".to_owned(),
        OPERATOR.to_owned(),
        "--viewer".to_owned(),
        VIEWER.to_owned(),
        "--screenshots".to_owned(),
        screenshots.to_string_lossy().into_owned(),
        "--chromium".to_owned(),
        chromium.to_string_lossy().into_owned(),
        "--driver".to_owned(),
        driver.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    PyProcess::spawn_with(python_fleet(), "dashboard_browser", &args)
}

/// The browser test's next line; panics on its error, with the step.
fn browser_line(browser: &PyProcess, deadline: Instant) -> Value {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let line = browser
        .next_line(remaining)
        .unwrap_or_else(|| panic!("the browser test said nothing more in time"));
    eprintln!("[browser] {line}");
    if let Some(error) = line["error"].as_str() {
        panic!(
            "the browser test failed at '{}': {error}\n{}\n(screenshot: {})",
            line["step"].as_str().unwrap_or("?"),
            line["trace"].as_str().unwrap_or_default(),
            screenshots().join("failed.png").display()
        );
    }
    line
}

#[test]
fn the_page_shows_and_commands_the_fleet_in_a_real_browser() {
    let mut site = Site::start(
        &[("rig-a", "0.9"), ("rig-b", "0.12"), ("rig-c", "0.9")],
        "status_poll = \"1s\"",
    );
    let screenshots = screenshots();
    let mut browser = browser(&site, &["--rigs", "rig-a,rig-b,rig-c", "--kill", "rig-c"]);
    // Each step waits up to 30 s in the browser; the whole run, for
    // a few of them at most.
    let deadline = Instant::now() + WAIT * 10;
    loop {
        let line = browser_line(&browser, deadline);
        if let Some(rig) = line["kill"].as_str() {
            let dying = site
                .rigs
                .iter_mut()
                .find(|r| r.name == rig)
                .unwrap_or_else(|| panic!("no rig {rig}"));
            dying.kill();
            browser.send_line(&json!({"killed": rig}));
        } else if line["done"] == json!(true) {
            for (latency, from) in [
                (&line["from_rig"], "rig published"),
                (&line["latency"], "gateway read"),
            ] {
                println!(
                    "dashboard latency, {from} -> drawn in the page: p50 {} ms, p99 {} ms, max {} ms over {} live events",
                    latency["p50_ms"], latency["p99_ms"], latency["max_ms"], latency["count"]
                );
            }
            assert!(
                line["from_rig"]["count"].as_u64().is_some_and(|n| n > 0),
                "the page timed live events from their rigs: {line}"
            );
            break;
        }
    }
    for shot in ["01-fleet.png", "04-emergency.png", "06-viewer.png"] {
        assert!(screenshots.join(shot).is_file(), "{shot}");
    }
}

#[test]
fn the_page_keeps_up_with_50_rigs_and_1000_events_a_second() {
    let site = Site::start(&[], "");
    // 50 rigs in the bucket and 10,000 events, as gateways would put them.
    let nats_url = site.nats.url();
    let mut load = PyProcess::spawn_with(
        python_fleet(),
        "fleet_load",
        &[
            "--url",
            nats_url.as_str(),
            "--rigs",
            "50",
            "--rate",
            "1000",
            "--seconds",
            "10",
        ],
    );
    let ready = load
        .wait_for(WAIT, |line| line.get("ready").is_some())
        .expect("fleet_load.py ready");
    assert_eq!(ready["rigs"].as_array().map(Vec::len), Some(50), "{ready}");
    let mut browser = browser(&site, &["--rigs", "", "--scale-rigs", "50"]);
    let deadline = Instant::now() + WAIT * 10;
    loop {
        let line = browser_line(&browser, deadline);
        if line["load"] == json!(true) {
            load.send_line(&json!({"go": true}));
            let published = load
                .wait_for(WAIT * 4, |line| line.get("published").is_some())
                .expect("fleet_load.py published");
            browser.send_line(&published);
        } else if line["done"] == json!(true) {
            println!(
                "dashboard under load: {} events, {} log lines kept; frame gaps {}; latency published -> drawn in the page {}; gateway -> drawn {} (of which gateway -> received by the page {})",
                line["events"], line["log_lines"], line["frames"], line["from_rig"], line["latency"], line["transport"]
            );
            assert!(
                line["log_lines"].as_u64().is_some_and(|n| n <= 500),
                "{line}"
            );
            break;
        }
    }
    load.close_stdin();
}
