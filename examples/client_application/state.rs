//! What the device is doing, and why it refuses a command.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auto_trainer_api::{ApiCommandRequestResponse, ApiCommandRequestResult, CompletionHandle};
use serde_json::{json, Value};
use uuid::Uuid;

/// Why a command was refused; the discriminant is the FAILED result's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AlreadyAcquiring = 1,
    StartInProgress = 2,
    StopInProgress = 3,
    NotAcquiring = 4,
    EmergencyStopped = 5,
    NotEmergencyStopped = 6,
    InterruptedByEmergencyStop = 7,
    /// 0.12: the `mode` of SET_APPLICATION_MODE or SET_TRAINING_MODE is
    /// missing or not a mode.
    InvalidMode = 8,
    /// 0.12: the `enabled` of SET_*_ENABLED is missing or not a boolean.
    InvalidEnabled = 9,
    /// 0.12: a run starts from IDLE and ends in IDLE.
    RunningOnlyFromIdle = 10,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::AlreadyAcquiring => "an acquisition is already running",
            Refusal::StartInProgress => "an acquisition is starting; wait for its result",
            Refusal::StopInProgress => "the acquisition is stopping; wait for its result",
            Refusal::NotAcquiring => "not acquiring",
            Refusal::EmergencyStopped => {
                "the device is emergency-stopped; send EMERGENCY_RESUME first"
            }
            Refusal::NotEmergencyStopped => "the device is not emergency-stopped",
            Refusal::InterruptedByEmergencyStop => "interrupted by an emergency stop",
            Refusal::InvalidMode => "'mode' is missing or not a valid mode",
            Refusal::InvalidEnabled => "'enabled' is missing or not a boolean",
            Refusal::RunningOnlyFromIdle => {
                "RUNNING is entered from IDLE and left to IDLE; set IDLE first"
            }
        }
    }

    /// FAILED with this refusal's code and message.
    pub fn response(self) -> ApiCommandRequestResponse {
        ApiCommandRequestResponse::failed(self as i64, self.message())
    }

    /// UNAVAILABLE with this refusal's code and message: what 0.12 answers
    /// when a valid request cannot be honoured in the current state.
    pub fn unavailable(self) -> ApiCommandRequestResponse {
        ApiCommandRequestResponse::new(ApiCommandRequestResult::Unavailable)
            .with_error(self as i64, self.message())
    }
}

/// Seconds since the Unix epoch, the protocol's timestamps.
fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// One acquisition, from its start to its end.
#[derive(Debug, Clone)]
pub struct Acquisition {
    pub id: Uuid,
    pub animal_id: String,
    started_at: f64,
    started: Instant,
}

impl Acquisition {
    pub fn begin(animal_id: String) -> Self {
        Self {
            id: Uuid::new_v4(),
            animal_id,
            started_at: epoch_seconds(),
            started: Instant::now(),
        }
    }

    /// The result data and event context naming this acquisition.
    pub fn summary(&self) -> Value {
        json!({
            "acquisition_id": self.id,
            "animal_id": self.animal_id,
            "started_at": self.started_at,
        })
    }

    pub fn ended_summary(&self, reason: &str) -> Value {
        let mut summary = self.summary();
        summary["ended_at"] = json!(epoch_seconds());
        summary["duration_seconds"] = json!(self.started.elapsed().as_secs_f64());
        summary["reason"] = json!(reason);
        summary
    }
}

/// A start or stop accepted as pending, completed by a timer.
pub struct Transition {
    pub ticket: u64,
    pub done: CompletionHandle,
}

/// What the device is doing.
pub enum State {
    Idle,
    Starting {
        animal_id: String,
        transition: Transition,
    },
    Acquiring(Acquisition),
    Stopping {
        acquisition: Acquisition,
        transition: Transition,
    },
    EmergencyStopped {
        reason: String,
        since: Instant,
    },
}

impl State {
    pub fn refuse_start(&self) -> Option<Refusal> {
        match self {
            State::Idle => None,
            State::Starting { .. } => Some(Refusal::StartInProgress),
            State::Acquiring(_) => Some(Refusal::AlreadyAcquiring),
            State::Stopping { .. } => Some(Refusal::StopInProgress),
            State::EmergencyStopped { .. } => Some(Refusal::EmergencyStopped),
        }
    }

    pub fn refuse_stop(&self) -> Option<Refusal> {
        match self {
            State::Acquiring(_) => None,
            State::Starting { .. } => Some(Refusal::StartInProgress),
            State::Stopping { .. } => Some(Refusal::StopInProgress),
            State::Idle | State::EmergencyStopped { .. } => Some(Refusal::NotAcquiring),
        }
    }

    pub fn acquisition(&self) -> Option<&Acquisition> {
        match self {
            State::Acquiring(acquisition) | State::Stopping { acquisition, .. } => {
                Some(acquisition)
            }
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        let for_seconds = |since: Instant| format!("{:.1} s", since.elapsed().as_secs_f64());
        match self {
            State::Idle => "idle".into(),
            State::Starting {
                animal_id,
                transition,
            } => format!(
                "starting an acquisition (animal '{animal_id}', START nonce {})",
                transition.done.nonce()
            ),
            State::Acquiring(a) => format!(
                "acquiring {} (animal '{}') for {}",
                a.id,
                a.animal_id,
                for_seconds(a.started)
            ),
            State::Stopping {
                acquisition,
                transition,
            } => format!(
                "stopping acquisition {} (STOP nonce {})",
                acquisition.id,
                transition.done.nonce()
            ),
            State::EmergencyStopped { reason, since } => {
                format!(
                    "emergency-stopped for {} (reason: {reason})",
                    for_seconds(*since)
                )
            }
        }
    }
}
