//! The status and configuration payloads of 0.12 (`api_system_status.py`,
//! `api_system_configuration.py`): the `data` of GET_STATUS and
//! GET_CONFIGURATION, and the contexts of `systemStatus`, `detectorChanged`,
//! `alarmChanged` and the `animal*` events. Fields are in the reference's
//! order, so they are written in the same order; fields the reference gives
//! a default may be missing when read.

use super::catalog::{ApiAlarmKind, ApiApplicationMode, ApiDetectorKind};
use super::ApiTrainingMode;

use super::super::payload::payload;

payload! {
    /// Where the app is writing: the `project` of [`ApiSystemStatus`].
    pub struct ApiProjectStatus {
        /// Absolute path of the current day's directory.
        pub day_path: String,
        /// The number of the current trial (143 for `trial143`).
        pub trial_id: i64,
        /// The session's UUID, as text.
        pub session_id: String,
    }

    /// The state of one detector, in [`ApiSystemStatus`] or a
    /// `detectorChanged` event.
    pub struct ApiDetectorStatus {
        /// Which detector.
        pub detector_id: ApiDetectorKind,
        /// Whether it is currently triggered.
        pub is_active: bool,
        /// Whether it is switched on.
        pub is_enabled: bool,
    }

    /// The state of one alarm, in [`ApiSystemStatus`] or an `alarmChanged`
    /// event.
    pub struct ApiAlarmStatus {
        /// Which alarm.
        pub alarm_id: ApiAlarmKind,
        /// Whether it is currently raised.
        pub is_active: bool,
        /// Whether it is switched on.
        pub is_enabled: bool,
        /// Whether it lifts the emergency stop by itself when it clears.
        #[serde(default)]
        pub is_auto_resume_enabled: bool,
        /// Whether raising it stops the run.
        #[serde(default)]
        pub is_stop_condition: bool,
    }

    /// The tunnel hardware: the `tunnelDevice` of [`ApiSystemStatus`].
    pub struct ApiTunnelDeviceStatus {
        /// Head-fixation magnet intensity.
        pub magnet_intensity: f64,
        /// Whether the gate is open.
        #[serde(default)]
        pub is_gate_open: bool,
        /// Whether the fan is on.
        #[serde(default)]
        pub is_fan_on: bool,
    }

    /// The pellet hardware: the `pelletDevice` of [`ApiSystemStatus`].
    pub struct ApiPelletDeviceStatus {
        /// X of the DCS send position.
        pub dcs_send_x: f64,
        /// Y of the DCS send position.
        pub dcs_send_y: f64,
        /// Z of the DCS send position.
        pub dcs_send_z: f64,
        /// Current DCS X.
        #[serde(default)]
        pub dcs_x: f64,
        /// Current DCS Y.
        #[serde(default)]
        pub dcs_y: f64,
        /// Current DCS Z.
        #[serde(default)]
        pub dcs_z: f64,
        /// Load arm position.
        #[serde(default)]
        pub load_arm: f64,
        /// Barrier arm position.
        #[serde(default)]
        pub barrier_arm: f64,
        /// Whether the barrier arm is active.
        #[serde(default)]
        pub is_barrier_arm_active: bool,
        /// Set by SET_HOME_ON_EXCESSIVE_DRIFT_ENABLED.
        #[serde(default)]
        pub is_home_on_excessive_drift_enabled: bool,
        /// Set by SET_TUNNEL_SWEEP_ENABLED.
        #[serde(default)]
        pub is_tunnel_sweep_enabled: bool,
    }

    /// Reach counters, in [`ApiBehaviorStatus`] and [`ApiAnimalStatus`].
    #[derive(Default)]
    pub struct ApiReachStatus {
        /// Pellets presented.
        #[serde(default)]
        pub pellets_presented: i64,
        /// Pellets consumed.
        #[serde(default)]
        pub pellets_consumed: i64,
        /// Reaches.
        #[serde(default)]
        pub reaches: i64,
        /// Successful reaches.
        #[serde(default)]
        pub successful_reaches: i64,
    }

    /// The behaviour algorithm: the `behavior` of [`ApiSystemStatus`]. The
    /// `is_*_enabled` settings report what is configured (set by the
    /// like-named commands 1000-1090), not what is in force.
    pub struct ApiBehaviorStatus {
        /// The baseline magnet intensity.
        pub baseline_magnet_intensity: f64,
        /// Reach counters.
        pub reaches: ApiReachStatus,
        /// Set by SET_LIVE_ANALYSIS_ENABLED.
        #[serde(default)]
        pub is_live_analysis_enabled: bool,
        /// Set by SET_PELLET_DELIVERY_ENABLED.
        #[serde(default)]
        pub is_pellet_delivery_enabled: bool,
        /// Set by SET_PELLET_COVER_ENABLED.
        #[serde(default)]
        pub is_pellet_cover_enabled: bool,
        /// Set by SET_INTERTRIAL_PELLET_SHIFT_ENABLED.
        #[serde(default)]
        pub is_intertrial_pellet_shift_enabled: bool,
        /// Set by SET_TRIANGLE_PELLET_DISTANCE_DETECTION_ENABLED.
        #[serde(default)]
        pub is_triangle_pellet_distance_detection_enabled: bool,
        /// Set by SET_AUTO_CLOSE_GATE_ON_INTERTRIAL_ENABLED.
        #[serde(default)]
        pub is_auto_close_gate_on_intertrial_enabled: bool,
        /// Set by SET_AUTO_CLAMP_ENABLED.
        #[serde(default)]
        pub is_auto_clamp_enabled: bool,
        /// Set by SET_BATCH_TRIALS_ENABLED.
        #[serde(default)]
        pub is_batch_trials_enabled: bool,
    }

    /// An animal: the `animal` of [`ApiSystemStatus`], an item of
    /// GET_ANIMALS, the context of `animalCreated`/`animalUpdated`/`animalSelected`.
    pub struct ApiAnimalStatus {
        /// The animal's identifier.
        pub identifier: String,
        /// Its name.
        pub name: String,
        /// X of its DCS send position.
        pub dcs_send_x: f64,
        /// Y of its DCS send position.
        pub dcs_send_y: f64,
        /// Z of its DCS send position.
        pub dcs_send_z: f64,
        /// Its Y limit, if any.
        pub target_y_limit: Option<f64>,
        /// Reach counters over all days.
        pub reach_status_total: ApiReachStatus,
        /// Reach counters today.
        pub reach_status_day: ApiReachStatus,
    }

    /// The `data` of a successful GET_STATUS reply and the context of a
    /// `systemStatus` event (0.12; 0.9.11's is [`crate::v0_9::StatusResponse`]).
    pub struct ApiSystemStatus {
        /// What the application is doing.
        pub application_mode: ApiApplicationMode,
        /// How training is driven.
        pub training_mode: ApiTrainingMode,
        /// The animal in the device, if any.
        pub animal: Option<ApiAnimalStatus>,
        /// Where the app is writing.
        pub project: ApiProjectStatus,
        /// Every alarm's state.
        pub alarms: Vec<ApiAlarmStatus>,
        /// Every detector's state.
        pub detectors: Vec<ApiDetectorStatus>,
        /// The pellet hardware.
        pub pellet_device: ApiPelletDeviceStatus,
        /// The tunnel hardware.
        pub tunnel_device: ApiTunnelDeviceStatus,
        /// The behaviour algorithm.
        pub behavior: ApiBehaviorStatus,
    }

    /// The `data` of a successful GET_CONFIGURATION reply (0.12; the same
    /// fields as 0.9.11's [`crate::v0_9::ConfigurationResponse`], renamed).
    pub struct ApiSystemConfiguration {
        /// Version of the acquisition app.
        pub application_version: String,
        /// The device's identifier.
        pub device_id: String,
        /// Where the configuration is stored.
        pub configuration_location: String,
        /// Where acquired data is written.
        pub data_location: String,
        /// Where animal records are kept.
        pub animal_location: String,
        /// Where logs are written.
        pub log_location: String,
        /// The inference model in use.
        pub inference_model: String,
    }
}
