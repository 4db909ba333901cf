//! The typed contexts of 0.12's events (`event/api_event_payloads.py`):
//! one Rust type for each of the reference's payload types, fields in its
//! order and camelCase on the wire. [`super::build_event`] pairs each kind
//! with its type; [`crate::ApiEvent::context_of`] reads it back.
//!
//! Reading is lenient where the reference is: keys a type does not declare
//! are ignored here and stay in the event's `context`, untouched.
//! The reference's structural `ReachEventLike` and
//! `IntertrialResponseDataLike` are, on the wire, [`ReachEventDict`] and
//! [`IntertrialResponseDict`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::super::payload::payload;
use super::catalog::{
    ApiAlarmKind, ApiApplicationMode, ApiEmergencyResumeReason, ApiEmergencyStopReason,
    ApiPelletShiftSource,
};
use super::ApiTrainingMode;

payload! {
    /// A 3-D vector.
    pub struct Vector3Context {
        /// X component.
        pub x: f64,
        /// Y component.
        pub y: f64,
        /// Z component.
        pub z: f64,
    }

    /// A trial within a session, for trial events with no other data.
    pub struct SessionTrialContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial within the session.
        pub trial_id: i64,
    }

    /// A trial of an analysis-phase event, with the batch that produced it.
    pub struct AnalysisTrialContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial within the session.
        pub trial_id: i64,
        /// The batch-analysis group (UUID text); `None` without a batch. The
        /// key is always present.
        pub batch_id: Option<String>,
    }

    /// A trial's first sighting (`trialAnimalSeen`, `trialRightHandSeen`,
    /// `trialPelletSeen`). `batch_id` is deprecated and meaningless here:
    /// set `None`, do not read it.
    pub struct TrialSeenContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial within the session.
        pub trial_id: i64,
        /// Deprecated, ignored; kept because the key is still required.
        pub batch_id: Option<String>,
    }

    /// A free-text reason.
    pub struct ReasonContext {
        /// Why the event occurred.
        pub reason: String,
    }

    /// Correlates a hardware command with its acknowledgement.
    pub struct CommandContext {
        /// The value returned by the device command and received back in its
        /// acknowledgement.
        pub context: String,
    }

    /// A new enabled state.
    pub struct IsEnabledContext {
        /// The new enabled state, as the behaviour algorithm sees it.
        pub is_enabled: bool,
    }

    /// A new engaged state.
    pub struct IsEngagedContext {
        /// The new engaged state.
        pub is_engaged: bool,
    }

    /// A magnet intensity.
    pub struct IntensityContext {
        /// Magnet intensity (the stage depends on the kind).
        pub intensity: f64,
    }

    /// A running counter update.
    pub struct CountChangeContext {
        /// The change applied.
        pub change: i64,
        /// The new total.
        pub count: i64,
    }

    /// A training phase.
    pub struct TrainingPhaseContext {
        /// The training phase.
        pub training_phase_id: Uuid,
    }

    /// The context of `emergencyStop`.
    pub struct EmergencyStopContext {
        /// Why the run stopped, free text.
        pub reason: String,
        /// What stopped it, machine-readable.
        pub reason_code: ApiEmergencyStopReason,
        /// The active and enabled alarms (possibly empty).
        pub active_alarms: Vec<ApiAlarmKind>,
    }

    /// The context of `emergencyResume`.
    pub struct EmergencyResumeContext {
        /// Why the run resumed, free text.
        pub reason: String,
        /// What resumed it, machine-readable.
        pub reason_code: ApiEmergencyResumeReason,
        /// The alarms that cleared themselves and so lifted the stop; empty
        /// for every reason but `alarm_monitor_resume`.
        pub resumed_alarms: Vec<ApiAlarmKind>,
    }

    /// The context of `applicationLaunched`.
    pub struct VersionContext {
        /// The application's version.
        pub version: String,
    }

    /// The context of `applicationModeChanged`.
    pub struct ApplicationModeContext {
        /// The new application mode.
        pub mode: ApiApplicationMode,
    }

    /// The context of `propertyChanged`.
    pub struct PropertyChangedContext {
        /// The object whose property changed.
        pub target: i64,
        /// The property.
        pub name: String,
        /// The new value (any JSON).
        pub new_value: Value,
        /// The previous value (any JSON).
        pub old_value: Value,
    }

    /// The context of `projectChanged`.
    pub struct ProjectChangedContext {
        /// Project root path.
        pub root: String,
        /// Device identifier.
        pub device_id: String,
        /// Day identifier.
        pub day: String,
        /// The current session.
        pub session_id: String,
        /// The current trial once root/day/device are set.
        pub trial_id: i64,
    }

    /// The context of `projectTrialChanged`.
    pub struct ProjectTrialChangedContext {
        /// Project root path.
        pub root: String,
        /// The current session.
        pub session_id: String,
        /// The new current trial.
        pub trial_id: i64,
    }

    /// The context of `pelletHomeReset`.
    pub struct PelletHomeResetContext {
        /// The cycle count at which the periodic home reset ran.
        pub cycles: i64,
    }

    /// The context of `pelletDriftReset`.
    pub struct PelletDriftResetContext {
        /// The drift compensation that was exceeded.
        pub drift: Vector3Context,
    }

    /// The context of `sessionStarted`.
    pub struct SessionStartedContext {
        /// The tunnel session (UUID text).
        pub session_id: String,
        /// Whether analysis runs after tunnel exit instead of per trial.
        pub is_analysis_deferred: bool,
    }

    /// The context of `sessionEnded`.
    pub struct SessionEndedContext {
        /// The session that ended.
        pub session_id: String,
        /// Trials captured.
        pub capture_trial_count: i64,
        /// Trials analyzed.
        pub analysis_trial_count: i64,
        /// Trials that failed.
        pub failed_trial_count: i64,
    }

    /// The context of `trialStarted`.
    pub struct TrialStartedContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// Why it started.
        pub reason: String,
    }

    /// The context of `trialEnded`.
    pub struct TrialEndedContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// The capture/analysis result.
        pub result: CaptureAnalysisResultLike,
    }

    /// The context of `batchAnalysisStarted`.
    pub struct BatchAnalysisStartedContext {
        /// The session whose trials are analyzed.
        pub session_id: String,
        /// The batch (UUID text), shared by every event of the batch.
        pub batch_id: String,
        /// Trials in the batch.
        pub analysis_trial_count: i64,
    }

    /// The context of `batchAnalysisEnded`.
    pub struct BatchAnalysisEndedContext {
        /// The session whose batch finished.
        pub session_id: String,
        /// The batch (matches its `batchAnalysisStarted`).
        pub batch_id: String,
        /// Trials analyzed in the batch.
        pub analysis_trial_count: i64,
        /// Trials that failed analysis.
        pub failed_trial_count: i64,
    }

    /// The context of `headfixBaselineChanged`.
    pub struct BaselineContext {
        /// The baseline magnet intensity.
        pub baseline: f64,
    }

    /// The context of `autoClampReleaseToneFreqChanged`.
    pub struct FrequencyContext {
        /// The release-tone frequency.
        pub frequency: f64,
    }

    /// The context of `autoClampReleaseDelayChanged`.
    pub struct DelayContext {
        /// The release delay.
        pub delay: f64,
    }

    /// The context of `autoClampPlayReleaseTone`.
    pub struct ReleaseToneContext {
        /// The release-tone frequency.
        pub frequency: f64,
        /// The release-tone duration.
        pub duration: f64,
    }

    /// The context of the intertrial `*Save` events.
    pub struct IntertrialSaveContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// The batch (UUID text), `None` without one.
        pub batch_id: Option<String>,
        /// Where the output was saved.
        pub location: String,
    }

    /// The context of the intertrial `*Error` events (which also stand for
    /// the `*End` or `*Save` they replace).
    pub struct IntertrialErrorContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// The batch (UUID text), `None` without one.
        pub batch_id: Option<String>,
        /// What went wrong.
        pub error: String,
    }

    /// The context of `dayStarted`.
    pub struct DayStartedContext {
        /// The day's start, epoch seconds.
        pub date: f64,
        /// The new day's directory; absent when not known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub day_path: Option<String>,
    }

    /// One reach (the wire form of the reference's `ReachEventLike`).
    pub struct ReachEventDict {
        /// Initiation frame (may be negative).
        pub init: i64,
        /// End frame, if known.
        pub end: Option<i64>,
        /// Frame of maximum extension, if known.
        pub max: Option<i64>,
        /// The reach method.
        pub method: ReachEventMethodLike,
        /// The reach outcome.
        pub outcome: ReachEventOutcomeLike,
        /// Seconds between the pellet's presentation and the reach.
        pub delay_since_presented: f64,
    }

    /// The context of `trialReachEvents`.
    pub struct TrialReachEventsContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// The batch (UUID text), `None` without one.
        pub batch_id: Option<String>,
        /// The trial's reaches.
        pub trial_reach_events: Vec<ReachEventDict>,
    }

    /// One intertrial response (the wire form of the reference's
    /// `IntertrialResponseDataLike`).
    pub struct IntertrialResponseDict {
        /// Right-hand max-reach vantage points, `[x, y, z]` or `None`.
        pub rh_max_vp_list: Vec<Option<Vec<f64>>>,
        /// Hand reaches.
        pub reach_events: Vec<ReachEventDict>,
        /// Events not made by a hand.
        pub other_events: Vec<ReachEventDict>,
        /// Hand events that are not reaches.
        pub hand_events: Vec<ReachEventDict>,
        /// Pellets consumed.
        pub food_consumed: i64,
        /// Successful (right-hand) reaches.
        pub successful_reaches: i64,
        /// Reaches with either hand.
        pub total_reaches: i64,
    }

    /// The context of `intertrialResponse`.
    pub struct IntertrialResponseContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// The batch (UUID text), `None` without one.
        pub batch_id: Option<String>,
        /// The trial's response.
        pub response_data: IntertrialResponseDict,
    }

    /// The context of `intertrialPelletShift`.
    pub struct PelletShiftContext {
        /// The session the trial belongs to.
        pub session_id: String,
        /// The trial.
        pub trial_id: i64,
        /// The batch (UUID text), `None` without one.
        pub batch_id: Option<String>,
        /// What drove the shift.
        pub source: ApiPelletShiftSource,
        /// The shift.
        pub shift: Vector3Context,
        /// Whether the shift was discarded rather than applied.
        pub deferred: bool,
    }

    /// The context of `trainingModeChanged`.
    pub struct TrainingModeContext {
        /// The new training mode.
        pub training_mode: ApiTrainingMode,
    }

    /// The context of `trainingPlanLoad`.
    pub struct TrainingPlanContext {
        /// The loaded training plan.
        pub training_plan_id: Uuid,
    }
}

impl ReasonContext {
    /// A reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// Declares a string-valued enum of the reference (`class X(str, Enum)`): it
/// is its text on the wire, and text it does not know is kept in `Other`.
macro_rules! text_code {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know, kept as received.
            Unknown(String),
        }

        impl $name {
            /// Its text on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(text) => text,
                }
            }

            /// The value for a text (unknown text is kept).
            pub fn from_text(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(|text| Self::from_text(&text))
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "examples": [$($text),+],
                })
            }
        }
    };
}

text_code! {
    /// The capture/analysis result of a trial (the reference's
    /// `CaptureAnalysisResultLike`).
    pub enum CaptureAnalysisResultLike {
        /// Captured, not analyzed.
        CaptureOnly => "capture_only",
        /// Analysis succeeded.
        AnalysisSucceeded => "analysis_succeeded",
        /// Analysis failed.
        AnalysisFailed => "analysis_failed",
        /// Analysis deferred.
        AnalysisDelayed => "analysis_delayed",
    }
}

text_code! {
    /// How a reach was made (the reference's `ReachEventMethodLike`).
    pub enum ReachEventMethodLike {
        /// None.
        None => "none",
        /// Something else.
        Other => "other",
        /// The right hand.
        RightHand => "right_hand",
        /// The left hand.
        LeftHand => "left_hand",
        /// The tongue.
        Tongue => "tongue",
    }
}

text_code! {
    /// How a reach ended (the reference's `ReachEventOutcomeLike`).
    pub enum ReachEventOutcomeLike {
        /// None.
        None => "none",
        /// Stalled.
        Stalled => "stalled",
        /// Missed.
        Missed => "missed",
        /// Dropped.
        Dropped => "dropped",
        /// Grabbed.
        Grabbed => "grabbed",
        /// Eaten.
        Eaten => "eaten",
    }
}
