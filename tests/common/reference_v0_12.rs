//! The 0.12 reference (`auto-trainer-api` 0.12.0, in the venv of
//! `scripts/python-test-env.sh 0.12`) as the tests drive it: its service
//! with a scripted delegate (`tests/python/reference_service_v0_12.py`), the
//! events its own `build_event` makes (`tests/python/reference_types_v0_12.py
//! events`), and payloads given as the snake_case fields of its dataclasses.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Value};

use super::python::{python_v0_12, start_reference_script, PyProcess, ReferenceService};
use super::zmq_client::{SubCollector, PROBE_TOPIC};

/// How long a Python process may take to start.
pub const STARTUP: Duration = Duration::from_secs(30);
/// How long an answer may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn spawn(script: &str, args: &[&str]) -> PyProcess {
    PyProcess::spawn_with(python_v0_12(), script, args)
}

/// One event the reference's `build_event` made.
pub struct Built {
    pub name: String,
    pub repeat: i64,
    /// What its service publishes through `send_event(ApiEvent)`.
    pub event: Vec<u8>,
    /// What it publishes through `send_event_dict(build_event(...))`.
    pub dict: Vec<u8>,
    /// What we write for it: `event`, except that an int given for a float
    /// field (`intensity=5`, which Python writes `5`) is `5.0`.
    pub ours: String,
}

pub fn reference_built_events() -> Vec<Built> {
    let mut process = spawn("reference_types_v0_12", &["events"]);
    let mut built = Vec::new();
    loop {
        let line = process
            .next_line(STARTUP)
            .expect("reference_types_v0_12 events printed nothing");
        if let Some(done) = line.get("done") {
            assert_eq!(done.as_u64(), Some(built.len() as u64), "{line}");
            break;
        }
        let event = unhex(line["event_hex"].as_str().unwrap());
        let mut ours = text(&event);
        if line["int_for_float"] == true {
            let int = r#""intensity": 5}"#;
            assert!(ours.contains(int), "{ours}");
            ours = ours.replace(int, r#""intensity": 5.0}"#);
        }
        built.push(Built {
            name: line["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{line}"))
                .to_owned(),
            repeat: line["repeat"].as_i64().unwrap(),
            dict: unhex(line["dict_hex"].as_str().unwrap()),
            event,
            ours,
        });
    }
    assert!(process.wait_exit(WAIT).is_some_and(|s| s.success()));
    built
}

/// The 0.12 reference service in its own process.
pub struct Reference {
    pub process: PyProcess,
    pub pub_port: u16,
    pub cmd_port: u16,
}

impl Reference {
    /// Starts `tests/python/reference_service_v0_12.py` on ports the OS picks.
    pub fn start(heartbeat_interval: &str, answers: Option<&Value>, extra: &[&str]) -> Self {
        let ReferenceService {
            process,
            pub_port,
            cmd_port,
        } = start_reference_script(
            python_v0_12(),
            "reference_service_v0_12",
            heartbeat_interval,
            answers,
            extra,
            STARTUP,
        );
        Self {
            process,
            pub_port,
            cmd_port,
        }
    }

    /// Sends one stdin line and waits for its `{"sent": true}`.
    pub fn send(&mut self, line: Value) {
        self.process.send_line(&line);
        let answer = self
            .process
            .wait_for(WAIT, |l| {
                l.get("sent").is_some() || l.get("error").is_some()
            })
            .unwrap_or_else(|| panic!("no answer to {line}"));
        assert_eq!(answer["sent"], true, "{line}: {answer}");
    }

    /// The next request its delegate logged.
    pub fn seen_request(&self) -> Value {
        self.process
            .wait_for(WAIT, |line| line.get("request").is_some())
            .expect("the reference's delegate logged no request")["request"]
            .clone()
    }

    /// A subscriber to `topics` that has joined this publisher.
    pub fn joined(&mut self, topics: &[u32]) -> SubCollector {
        let sub = SubCollector::connect(self.pub_port, topics);
        sub.join(|n| {
            self.send(json!({"send_dict": {"topic": PROBE_TOPIC, "message": {"probe": n}}}))
        });
        sub
    }

    /// Stops it and waits for its exit.
    pub fn stop(mut self) {
        self.process.send_line(&json!({"stop": true}));
        self.process.wait_exit(WAIT);
    }
}

pub fn status_fields() -> Value {
    json!({
        "application_mode": 300,
        "training_mode": 100,
        "animal": {
            "identifier": "m-001", "name": "Mouse 42", "dcs_send_x": 1.25, "dcs_send_y": -2.5,
            "dcs_send_z": 30.75, "target_y_limit": null,
            "reach_status_total": {"pellets_presented": 120, "pellets_consumed": 80, "reaches": 300, "successful_reaches": 75},
            "reach_status_day": {"pellets_presented": 12, "pellets_consumed": 8, "reaches": 30, "successful_reaches": 7}
        },
        "project": {"day_path": "/data/My Files/2026-09-14", "trial_id": 143, "session_id": "6f1c1f9e-8f0e-4a53-9d8c-2b3c4d5e6f70"},
        "alarms": [
            {"alarm_id": 501, "is_active": true, "is_enabled": true, "is_auto_resume_enabled": true, "is_stop_condition": false},
            {"alarm_id": 801, "is_active": false, "is_enabled": false, "is_auto_resume_enabled": false, "is_stop_condition": true}
        ],
        "detectors": [
            {"detector_id": 411, "is_active": false, "is_enabled": true},
            {"detector_id": 801, "is_active": true, "is_enabled": true}
        ],
        "pellet_device": {
            "dcs_send_x": 1.25, "dcs_send_y": -2.5, "dcs_send_z": 30.75, "dcs_x": 1.5, "dcs_y": -2.25,
            "dcs_z": 29.5, "load_arm": 0.125, "barrier_arm": 0.875, "is_barrier_arm_active": true,
            "is_home_on_excessive_drift_enabled": true, "is_tunnel_sweep_enabled": false
        },
        "tunnel_device": {"magnet_intensity": 0.65, "is_gate_open": true, "is_fan_on": false},
        "behavior": {
            "baseline_magnet_intensity": 0.35,
            "reaches": {"pellets_presented": 12, "pellets_consumed": 8, "reaches": 30, "successful_reaches": 7},
            "is_live_analysis_enabled": true, "is_pellet_delivery_enabled": true,
            "is_pellet_cover_enabled": false, "is_intertrial_pellet_shift_enabled": true,
            "is_triangle_pellet_distance_detection_enabled": false,
            "is_auto_close_gate_on_intertrial_enabled": true, "is_auto_clamp_enabled": false,
            "is_batch_trials_enabled": true
        }
    })
}

pub fn configuration_fields() -> Value {
    json!({
        "application_version": "2.1.0",
        "device_id": "rig-7",
        "configuration_location": "/data/My Files/config.json",
        "data_location": "/data/é",
        "animal_location": "C:\\animals",
        "log_location": "/var/log/at",
        "inference_model": "model_v2.onnx"
    })
}

pub fn animals_fields() -> Value {
    json!([status_fields()["animal"].clone(), {
        "identifier": "m-002", "name": "not acquiring", "dcs_send_x": 0.5, "dcs_send_y": 0.25,
        "dcs_send_z": 0.125, "target_y_limit": 12.5,
        "reach_status_total": {"pellets_presented": 1, "pellets_consumed": 0, "reaches": 2, "successful_reaches": 0},
        "reach_status_day": {"pellets_presented": 0, "pellets_consumed": 0, "reaches": 0, "successful_reaches": 0}
    }])
}
