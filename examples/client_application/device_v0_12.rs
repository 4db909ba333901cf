//! The device as a 0.12 app (`--protocol 0.12`): the 0.12 commands on the
//! same state machine as 0.9.11's, its status and configuration payloads,
//! and its announcements worded as typed 0.12 events (`build_event`).
//!
//! A run (0.9.11's acquisition) is the application mode RUNNING: it starts
//! with SET_APPLICATION_MODE RUNNING from IDLE and ends with
//! SET_APPLICATION_MODE IDLE, both pending for `--start-delay` and completed
//! with a COMMAND_RESULT, as START_ACQUISITION and STOP_ACQUISITION are in
//! 0.9.11 (which 0.12 made obsolete). Other modes are set at once.

use std::sync::Arc;

use auto_trainer_api::v0_12::{
    self, kind, ApiAlarmKind, ApiAlarmStatus, ApiAnimalStatus, ApiApplicationMode,
    ApiBehaviorStatus, ApiCommand, ApiDetectorKind, ApiDetectorStatus, ApiEmergencyResumeReason,
    ApiEmergencyStopReason, ApiPelletDeviceStatus, ApiProjectStatus, ApiSystemConfiguration,
    ApiSystemStatus, ApiTrainingMode, ApiTunnelDeviceStatus, ApplicationModeContext,
    EmergencyResumeContext, EmergencyStopContext, IsEnabledContext, ReasonContext,
    TrainingModeContext, VersionContext,
};
use auto_trainer_api::{ApiCommandRequestResponse, RequestContext};
use serde_json::{json, Value};

use crate::device::{data_text, log_command, reason, Announcement, Device, Origin};
use crate::state::{Refusal, State};

/// The behaviour settings of SET_*_ENABLED (1000-1090), with the value each
/// has when the app starts.
const SETTINGS: [(ApiCommand, bool); 10] = [
    (ApiCommand::SetLiveAnalysisEnabled, true),
    (ApiCommand::SetPelletDeliveryEnabled, true),
    (ApiCommand::SetPelletCoverEnabled, true),
    (ApiCommand::SetIntertrialPelletShiftEnabled, true),
    (ApiCommand::SetHomeOnExcessiveDriftEnabled, true),
    (ApiCommand::SetTrianglePelletDistanceDetectionEnabled, true),
    (ApiCommand::SetAutoCloseGateOnIntertrialEnabled, true),
    (ApiCommand::SetAutoClampEnabled, true),
    (ApiCommand::SetTunnelSweepEnabled, true),
    (ApiCommand::SetBatchTrialsEnabled, false),
];

/// The animals GET_ANIMALS lists.
const ANIMALS: [&str; 2] = ["m-001", "m-002"];

/// The 0.12 settings besides the run itself.
pub struct Setup {
    /// The application mode while no run is under way (a run is RUNNING).
    pub rest_mode: ApiApplicationMode,
    pub training_mode: ApiTrainingMode,
    /// The value of each of [`SETTINGS`], in its order.
    enabled: [bool; SETTINGS.len()],
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            rest_mode: ApiApplicationMode::Idle,
            training_mode: ApiTrainingMode::Manual,
            enabled: SETTINGS.map(|(_, on)| on),
        }
    }
}

impl Setup {
    fn is_enabled(&self, command: ApiCommand) -> bool {
        setting(command).is_some_and(|i| self.enabled[i])
    }
}

fn setting(command: ApiCommand) -> Option<usize> {
    SETTINGS.iter().position(|(c, _)| *c == command)
}

/// `{"mode": n}`, the data of SET_APPLICATION_MODE's replies and results.
pub fn mode_data(mode: ApiApplicationMode) -> Value {
    json!({ "mode": mode.value() })
}

/// The integer `mode` of the request's data.
fn requested_mode(request: &v0_12::ApiCommandRequest) -> Option<i64> {
    request.data.as_ref()?.get("mode")?.as_i64()
}

/// A stand-in animal.
fn animal(identifier: &str) -> ApiAnimalStatus {
    ApiAnimalStatus {
        identifier: identifier.to_owned(),
        name: format!("mouse {identifier}"),
        dcs_send_x: 0.0,
        dcs_send_y: 0.0,
        dcs_send_z: 0.0,
        target_y_limit: None,
        reach_status_total: Default::default(),
        reach_status_day: Default::default(),
    }
}

impl Device {
    /// The 0.12 command handler: answers at once and logs one line per command.
    pub fn answer_v0_12(
        self: &Arc<Self>,
        request: &v0_12::ApiCommandRequest,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse {
        let success = ApiCommandRequestResponse::success;
        let response = match request.command {
            // The service answers NONE itself in 0.12; kept for completeness.
            ApiCommand::None => success(),
            ApiCommand::GetStatus => success().with_data(&self.status_v0_12()),
            ApiCommand::GetConfiguration => success().with_data(&self.configuration_v0_12()),
            ApiCommand::GetAnimals => success().with_data(&ANIMALS.map(animal).to_vec()),
            ApiCommand::SetApplicationMode => self.set_application_mode(request, context),
            ApiCommand::SetTrainingMode => self.set_training_mode(request),
            ApiCommand::EmergencyStop => {
                self.emergency_stop(&reason(request, "EMERGENCY_STOP command"), Origin::Command);
                success()
            }
            ApiCommand::EmergencyResume => match self.emergency_resume(
                &reason(request, "EMERGENCY_RESUME command"),
                Origin::Command,
            ) {
                Ok(()) => success(),
                Err(refusal) => refusal.response(),
            },
            command if setting(command).is_some() => self.set_enabled(command, request),
            // START_ACQUISITION and STOP_ACQUISITION are obsolete in 0.12:
            // the reference documents UNRECOGNIZED for them.
            _ => ApiCommandRequestResponse::unrecognized(),
        };
        log_command(request, &response);
        response
    }

    /// The mode in effect: RUNNING while a run is under way (or stopping),
    /// else the mode at rest.
    fn application_mode(&self, state: &State) -> ApiApplicationMode {
        match state {
            State::Acquiring(_) | State::Stopping { .. } => ApiApplicationMode::Running,
            _ => self.setup().rest_mode,
        }
    }

    /// SET_APPLICATION_MODE: RUNNING from IDLE starts a run and IDLE from
    /// RUNNING ends it (both pending); other modes are set at once while no
    /// run is under way.
    fn set_application_mode(
        self: &Arc<Self>,
        request: &v0_12::ApiCommandRequest,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse {
        let state = self.lock();
        let current = self.application_mode(&state);
        let refused = |refusal: Refusal| refusal.unavailable().with_data(&mode_data(current));
        let Some(requested) = requested_mode(request)
            .map(ApiApplicationMode::from_value)
            .filter(|mode| mode.is_known())
        else {
            return Refusal::InvalidMode
                .response()
                .with_data(&mode_data(current));
        };
        if requested == current {
            return ApiCommandRequestResponse::success().with_data(&mode_data(current));
        }
        let running = matches!(*state, State::Acquiring(_));
        let busy = match &*state {
            State::Idle | State::Acquiring(_) => None,
            other => other.refuse_start(),
        };
        if let Some(refusal) = busy {
            return refused(refusal);
        }
        match (running, requested) {
            (false, ApiApplicationMode::Running) if current == ApiApplicationMode::Idle => {
                drop(state);
                let animal_id = data_text(request, "animal_id").unwrap_or_default();
                match self.begin_start(animal_id, context) {
                    Ok(()) => ApiCommandRequestResponse::pending_with_notification(),
                    Err(refusal) => refused(refusal),
                }
            }
            (true, ApiApplicationMode::Idle) => {
                drop(state);
                match self.begin_stop(context) {
                    Ok(()) => ApiCommandRequestResponse::pending_with_notification(),
                    Err(refusal) => refused(refusal),
                }
            }
            (false, ApiApplicationMode::Running) | (true, _) => {
                refused(Refusal::RunningOnlyFromIdle)
            }
            (false, _) => {
                self.setup().rest_mode = requested;
                self.publish(v0_12::build_event(
                    kind::ApplicationModeChanged,
                    ApplicationModeContext { mode: requested },
                ));
                ApiCommandRequestResponse::success().with_data(&mode_data(requested))
            }
        }
    }

    /// SET_TRAINING_MODE: set at once, in any state.
    fn set_training_mode(&self, request: &v0_12::ApiCommandRequest) -> ApiCommandRequestResponse {
        let mut setup = self.setup();
        let current = setup.training_mode;
        let Some(requested) = requested_mode(request)
            .map(ApiTrainingMode::from_value)
            .filter(|mode| mode.is_known())
        else {
            return Refusal::InvalidMode
                .response()
                .with_data(&json!({ "mode": current.value() }));
        };
        if requested != current {
            setup.training_mode = requested;
            self.publish(v0_12::build_event(
                kind::TrainingModeChanged,
                TrainingModeContext {
                    training_mode: requested,
                },
            ));
        }
        ApiCommandRequestResponse::success().with_data(&json!({ "mode": requested.value() }))
    }

    /// SET_*_ENABLED: `{"enabled": bool}` in and out. Only SET_AUTO_CLAMP_ENABLED
    /// publishes an event (autoClampEnabledChanged, when the value changes),
    /// as the reference documents.
    fn set_enabled(
        &self,
        command: ApiCommand,
        request: &v0_12::ApiCommandRequest,
    ) -> ApiCommandRequestResponse {
        let Some(index) = setting(command) else {
            return ApiCommandRequestResponse::unrecognized();
        };
        let mut setup = self.setup();
        let current = setup.enabled[index];
        let Some(requested) = request
            .data
            .as_ref()
            .and_then(|d| d.get("enabled")?.as_bool())
        else {
            return Refusal::InvalidEnabled
                .response()
                .with_data(&json!({ "enabled": current }));
        };
        setup.enabled[index] = requested;
        if command == ApiCommand::SetAutoClampEnabled && requested != current {
            self.publish(v0_12::build_event(
                kind::AutoClampEnabledChanged,
                IsEnabledContext {
                    is_enabled: requested,
                },
            ));
        }
        ApiCommandRequestResponse::success().with_data(&json!({ "enabled": requested }))
    }

    /// GET_STATUS's data.
    pub fn status_v0_12(&self) -> ApiSystemStatus {
        let state = self.lock();
        let application_mode = self.application_mode(&state);
        let acquisition = state.acquisition();
        let setup = self.setup();
        let on = |command| setup.is_enabled(command);
        ApiSystemStatus {
            application_mode,
            training_mode: setup.training_mode,
            animal: acquisition
                .filter(|a| !a.animal_id.is_empty())
                .map(|a| animal(&a.animal_id)),
            project: ApiProjectStatus {
                day_path: self.configuration().data_location,
                trial_id: 0,
                session_id: acquisition.map(|a| a.id.to_string()).unwrap_or_default(),
            },
            alarms: ApiAlarmKind::ALL
                .iter()
                .map(|&alarm_id| ApiAlarmStatus {
                    alarm_id,
                    is_active: false,
                    is_enabled: true,
                    is_auto_resume_enabled: false,
                    is_stop_condition: true,
                })
                .collect(),
            detectors: ApiDetectorKind::ALL
                .iter()
                .map(|&detector_id| ApiDetectorStatus {
                    detector_id,
                    is_active: false,
                    is_enabled: true,
                })
                .collect(),
            pellet_device: ApiPelletDeviceStatus {
                dcs_send_x: 0.0,
                dcs_send_y: 0.0,
                dcs_send_z: 0.0,
                dcs_x: 0.0,
                dcs_y: 0.0,
                dcs_z: 0.0,
                load_arm: 0.0,
                barrier_arm: 0.0,
                is_barrier_arm_active: false,
                is_home_on_excessive_drift_enabled: on(ApiCommand::SetHomeOnExcessiveDriftEnabled),
                is_tunnel_sweep_enabled: on(ApiCommand::SetTunnelSweepEnabled),
            },
            tunnel_device: ApiTunnelDeviceStatus {
                magnet_intensity: 0.0,
                is_gate_open: false,
                is_fan_on: false,
            },
            behavior: ApiBehaviorStatus {
                baseline_magnet_intensity: 0.0,
                reaches: Default::default(),
                is_live_analysis_enabled: on(ApiCommand::SetLiveAnalysisEnabled),
                is_pellet_delivery_enabled: on(ApiCommand::SetPelletDeliveryEnabled),
                is_pellet_cover_enabled: on(ApiCommand::SetPelletCoverEnabled),
                is_intertrial_pellet_shift_enabled: on(ApiCommand::SetIntertrialPelletShiftEnabled),
                is_triangle_pellet_distance_detection_enabled: on(
                    ApiCommand::SetTrianglePelletDistanceDetectionEnabled,
                ),
                is_auto_close_gate_on_intertrial_enabled: on(
                    ApiCommand::SetAutoCloseGateOnIntertrialEnabled,
                ),
                is_auto_clamp_enabled: on(ApiCommand::SetAutoClampEnabled),
                is_batch_trials_enabled: on(ApiCommand::SetBatchTrialsEnabled),
            },
        }
    }

    /// GET_CONFIGURATION's data: 0.9.11's configuration under its 0.12 name.
    fn configuration_v0_12(&self) -> ApiSystemConfiguration {
        let c = self.configuration();
        ApiSystemConfiguration {
            application_version: c.application_version,
            device_id: c.device_id,
            configuration_location: c.configuration_location,
            data_location: c.data_location,
            animal_location: c.animal_location,
            log_location: c.log_location,
            inference_model: c.inference_model,
        }
    }

    /// The 0.12 events, each built with its typed context.
    pub(crate) fn announce_v0_12(&self, announcement: Announcement<'_>) {
        let event = match announcement {
            Announcement::Launched => v0_12::build_event(
                kind::ApplicationLaunched,
                VersionContext {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                },
            ),
            Announcement::Terminating(reason) => {
                v0_12::build_event(kind::ApplicationTerminating, ReasonContext::new(reason))
            }
            Announcement::RunStarted(_) => v0_12::build_event(
                kind::ApplicationModeChanged,
                ApplicationModeContext {
                    mode: ApiApplicationMode::Running,
                },
            ),
            Announcement::RunEnded(..) => v0_12::build_event(
                kind::ApplicationModeChanged,
                ApplicationModeContext {
                    mode: ApiApplicationMode::Idle,
                },
            ),
            Announcement::EmergencyStop(reason, origin) => v0_12::build_event(
                kind::EmergencyStop,
                EmergencyStopContext {
                    reason: reason.to_owned(),
                    reason_code: match origin {
                        Origin::Command => ApiEmergencyStopReason::RpcService,
                        Origin::Operator => ApiEmergencyStopReason::UserButton,
                    },
                    // The stand-in raises no alarm.
                    active_alarms: Vec::new(),
                },
            ),
            Announcement::EmergencyResume { reason, origin, .. } => v0_12::build_event(
                kind::EmergencyResume,
                EmergencyResumeContext {
                    reason: reason.to_owned(),
                    reason_code: match origin {
                        Origin::Command => ApiEmergencyResumeReason::RpcService,
                        Origin::Operator => ApiEmergencyResumeReason::UserButton,
                    },
                    resumed_alarms: Vec::new(),
                },
            ),
        };
        self.publish(event);
    }
}
