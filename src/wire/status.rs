//! Typed payloads of `GET_STATUS` and `GET_CONFIGURATION`.

use serde::{Deserialize, Serialize};

use super::code::wire_code;

wire_code! {
    /// What the acquisition app is doing.
    pub enum ApiAppStatus: i64 {
        /// Not acquiring.
        Idle = 0 => "IDLE",
        /// Acquiring.
        Acquiring = 100 => "ACQUIRING",
        /// Running the DCS calibration.
        CalibrationDcs = 200 => "CALIBRATION_DCS",
        /// Running the 3D calibration.
        Calibration3d = 300 => "CALIBRATION_3D",
    }
}

wire_code! {
    /// How training is driven.
    pub enum ApiTrainingMode: i64 {
        /// Not set.
        Undefined = 0 => "UNDEFINED",
        /// Manual.
        Manual = 100 => "MANUAL",
        /// Manual, following a protocol.
        ManualWithProtocol = 200 => "MANUAL_WITH_PROTOCOL",
        /// Automatic.
        Automatic = 300 => "AUTOMATIC",
    }
}

/// The `data` of a successful `GET_STATUS` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct StatusResponse {
    /// What the app is doing.
    pub app_status: ApiAppStatus,
    /// How training is driven.
    pub training_mode: ApiTrainingMode,
    /// The animal in the device, if any (empty when none).
    pub animal_id: String,
}

/// The `data` of a successful `GET_CONFIGURATION` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ConfigurationResponse {
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
