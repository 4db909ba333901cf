//! The 0.12 generation of the protocol (`auto-trainer-api` 0.12.0, whose
//! service is the same from 0.10.3): its catalogs, the typed contexts of its
//! events, its status and configuration payloads.
//!
//! ```
//! use auto_trainer_api::v0_12::{self, kind, ApiAlarmKind, ApiEmergencyStopReason, EmergencyStopContext};
//!
//! let stop = v0_12::build_event(kind::EmergencyStop, EmergencyStopContext {
//!     reason: "front door opened".into(),
//!     reason_code: ApiEmergencyStopReason::AlarmMonitor,
//!     active_alarms: vec![ApiAlarmKind::ExternalDoors],
//! });
//! assert!(stop.is_emergency());
//! let read = stop.context_of(kind::EmergencyStop).unwrap().unwrap();
//! assert_eq!(read.active_alarms, [ApiAlarmKind::ExternalDoors]);
//! ```

mod catalog;
mod context;
pub mod kind;
mod status;

/// How training is driven: the same catalog as 0.9.11.
pub use super::v0_9::ApiTrainingMode;
pub use catalog::{
    ApiAlarmKind, ApiApplicationMode, ApiCommand, ApiDetectorKind, ApiEmergencyResumeReason,
    ApiEmergencyStopReason, ApiEventKind, ApiPelletShiftSource,
};
pub use context::*;
pub use kind::EventKindMarker;
pub use status::{
    ApiAlarmStatus, ApiAnimalStatus, ApiBehaviorStatus, ApiDetectorStatus, ApiPelletDeviceStatus,
    ApiProjectStatus, ApiReachStatus, ApiSystemConfiguration, ApiSystemStatus,
    ApiTunnelDeviceStatus,
};

/// A 0.12 EVENT message.
pub type ApiEvent = crate::ApiEvent<ApiEventKind>;
/// A 0.12 command request, as a 0.12 device's delegate takes it.
pub type ApiCommandRequest = crate::ApiCommandRequest<ApiCommand>;

/// An event of `kind` that happened now, with its context: the Rust form of
/// the reference's `build_event`. A context of the wrong type for the kind
/// does not compile. The context is stored with its wire (camelCase) keys.
pub fn build_event<M: EventKindMarker>(kind: M, context: M::Context) -> ApiEvent {
    let _ = kind;
    // Contexts are plain data with string keys: they always serialize.
    let context = serde_json::to_value(&context).unwrap_or(serde_json::Value::Null);
    crate::ApiEvent::new(M::KIND, (!context.is_null()).then_some(context))
}
