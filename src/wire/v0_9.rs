//! The 0.9.11 generation of the protocol: its catalogs and payloads.
//!
//! Everything here is also exported at the crate's root under the same
//! names, as in the versions of this crate before 0.12 was supported.

use super::code::{generation_catalog, wire_code};
use super::payload::payload;

/// A 0.9.11 EVENT message (the default of [`crate::ApiEvent`]).
pub type ApiEvent = crate::ApiEvent<ApiEventKind>;
/// A 0.9.11 command request (the default of [`crate::ApiCommandRequest`]).
pub type ApiCommandRequest = crate::ApiCommandRequest<ApiCommand>;

wire_code! {
    /// The command of a request.
    pub enum ApiCommand: i64 {
        /// No command: checks that the device answers.
        None = 0 => "NONE",
        /// Start acquiring.
        StartAcquisition = 100 => "START_ACQUISITION",
        /// Stop acquiring.
        StopAcquisition = 110 => "STOP_ACQUISITION",
        /// Emergency stop.
        EmergencyStop = 200 => "EMERGENCY_STOP",
        /// Resume after an emergency stop.
        EmergencyResume = 210 => "EMERGENCY_RESUME",
        /// Reply `data` is a [`crate::ConfigurationResponse`].
        GetConfiguration = 300 => "GET_CONFIGURATION",
        /// Reply `data` is a [`crate::StatusResponse`].
        GetStatus = 400 => "GET_STATUS",
        /// A command defined between a commander and a device; details in `data`
        /// or `customCommand`.
        UserDefined = 99999 => "USER_DEFINED",
    }
}

wire_code! {
    /// The kind of an EVENT message (`ApiEventKind` of the reference, 0.9.11).
    ///
    /// Ranges: 0-999 core/system, 1000-1999 behavior, 2000-2999 device,
    /// 3000-3999 inference, 4000-4999 analysis, 5000-5999 training,
    /// 6000-6999 detectors and alarms, 9000-9999 application.
    pub enum ApiEventKind: i64 {
        /// `emergencyStop`. Context: `{"reason": string}`.
        EmergencyStop = 101 => "emergencyStop",
        /// `emergencyResume`. Context: `{"reason": string}`.
        EmergencyResume = 102 => "emergencyResume",
        /// `applicationLaunched`
        ApplicationLaunched = 201 => "applicationLaunched",
        /// `applicationTerminating`
        ApplicationTerminating = 202 => "applicationTerminating",
        /// `acquisitionStarted`
        AcquisitionStarted = 301 => "acquisitionStarted",
        /// `acquisitionEnded`
        AcquisitionEnded = 305 => "acquisitionEnded",
        /// `calibrationDcsStarted`
        CalibrationDcsStarted = 310 => "calibrationDcsStarted",
        /// `calibrationDcsEnded`
        CalibrationDcsEnded = 315 => "calibrationDcsEnded",
        /// `calibration3dStarted`
        Calibration3dStarted = 320 => "calibration3dStarted",
        /// `calibration3dEnded`
        Calibration3dEnded = 325 => "calibration3dEnded",
        /// `propertyChanged`
        PropertyChanged = 501 => "propertyChanged",
        /// `systemStatus`. Context: an [`ApiSystemStatus`].
        SystemStatus = 601 => "systemStatus",
        /// `algorithmPause`
        AlgorithmPause = 1001 => "algorithmPause",
        /// `algorithmResume`
        AlgorithmResume = 1002 => "algorithmResume",
        /// `tunnelEnter`
        TunnelEnter = 1101 => "tunnelEnter",
        /// `tunnelExit`
        TunnelExit = 1102 => "tunnelExit",
        /// `pelletLoadCan`
        PelletLoadCan = 1201 => "pelletLoadCan",
        /// `pelletLoadBegin`
        PelletLoadBegin = 1202 => "pelletLoadBegin",
        /// `pelletLoadEnd`
        PelletLoadEnd = 1203 => "pelletLoadEnd",
        /// `pelletSendCan`
        PelletSendCan = 1204 => "pelletSendCan",
        /// `pelletSendBegin`
        PelletSendBegin = 1205 => "pelletSendBegin",
        /// `pelletSendEnd`
        PelletSendEnd = 1206 => "pelletSendEnd",
        /// `pelletCoverCan`
        PelletCoverCan = 1207 => "pelletCoverCan",
        /// `pelletCoverBegin`
        PelletCoverBegin = 1208 => "pelletCoverBegin",
        /// `pelletCoverEnd`
        PelletCoverEnd = 1209 => "pelletCoverEnd",
        /// `pelletReleaseCan`
        PelletReleaseCan = 1210 => "pelletReleaseCan",
        /// `pelletReleaseBegin`
        PelletReleaseBegin = 1211 => "pelletReleaseBegin",
        /// `pelletReleaseEnd`
        PelletReleaseEnd = 1212 => "pelletReleaseEnd",
        /// `pelletHomeCan`
        PelletHomeCan = 1213 => "pelletHomeCan",
        /// `pelletHomeBegin`
        PelletHomeBegin = 1214 => "pelletHomeBegin",
        /// `pelletHomeEnd`
        PelletHomeEnd = 1215 => "pelletHomeEnd",
        /// `pelletPrereleaseCan`
        PelletPrereleaseCan = 1216 => "pelletPrereleaseCan",
        /// `pelletPrereleaseBegin`
        PelletPrereleaseBegin = 1217 => "pelletPrereleaseBegin",
        /// `pelletPrereleaseEnd`
        PelletPrereleaseEnd = 1218 => "pelletPrereleaseEnd",
        /// `pelletRetractCan`
        PelletRetractCan = 1219 => "pelletRetractCan",
        /// `pelletRetractBegin`
        PelletRetractBegin = 1220 => "pelletRetractBegin",
        /// `pelletRetractEnd`
        PelletRetractEnd = 1221 => "pelletRetractEnd",
        /// `pelletHomeResetBegin`
        PelletHomeResetBegin = 1222 => "pelletHomeResetBegin",
        /// `pelletHomeResetEnd`
        PelletHomeResetEnd = 1223 => "pelletHomeResetEnd",
        /// `pelletAcknowledgeToken`
        PelletAcknowledgeToken = 1298 => "pelletAcknowledgeToken",
        /// `pelletExternalToken`
        PelletExternalToken = 1299 => "pelletExternalToken",
        /// `sessionStarting`
        SessionStarting = 1301 => "sessionStarting",
        /// `sessionStarted`
        SessionStarted = 1302 => "sessionStarted",
        /// `sessionEnding`
        SessionEnding = 1303 => "sessionEnding",
        /// `sessionEnded`
        SessionEnded = 1304 => "sessionEnded",
        /// `sessionPelletIncrease`
        SessionPelletIncrease = 1311 => "sessionPelletIncrease",
        /// `sessionPelletDecrease`
        SessionPelletDecrease = 1312 => "sessionPelletDecrease",
        /// `sessionMouseSeen`
        SessionMouseSeen = 1321 => "sessionMouseSeen",
        /// `dayStarted`
        DayStarted = 1401 => "dayStarted",
        /// `dayIncreasePellet`
        DayIncreasePellet = 1411 => "dayIncreasePellet",
        /// `dayDecreasePellet`
        DayDecreasePellet = 1412 => "dayDecreasePellet",
        /// `pelletSeen`
        PelletSeen = 1501 => "pelletSeen",
        /// `pelletPresented`
        PelletPresented = 1502 => "pelletPresented",
        /// `pelletSuccessfulReach`
        PelletSuccessfulReach = 1503 => "pelletSuccessfulReach",
        /// `triangleSeen`
        TriangleSeen = 1550 => "triangleSeen",
        /// `headfixBaselineChanged`
        HeadfixBaselineChanged = 1601 => "headfixBaselineChanged",
        /// `headfixLoadCellChanged`
        HeadfixLoadCellChanged = 1602 => "headfixLoadCellChanged",
        /// `headfixLoadCellChangedInIntersession`
        HeadfixLoadCellChangedInIntersession = 1603 => "headfixLoadCellChangedInIntersession",
        /// `headfixLoadCellChangedWrongState`
        HeadfixLoadCellChangedWrongState = 1604 => "headfixLoadCellChangedWrongState",
        /// `headfixAutoTare`
        HeadfixAutoTare = 1611 => "headfixAutoTare",
        /// `autoClampIntensityChanged`
        AutoClampIntensityChanged = 1621 => "autoClampIntensityChanged",
        /// `autoClampReleaseToneFreqChanged`
        AutoClampReleaseToneFreqChanged = 1622 => "autoClampReleaseToneFreqChanged",
        /// `autoClampReleaseDelayChanged`
        AutoClampReleaseDelayChanged = 1623 => "autoClampReleaseDelayChanged",
        /// `intersessionSegmentationCan`
        IntersessionSegmentationCan = 1701 => "intersessionSegmentationCan",
        /// `intersessionSegmentationBegin`
        IntersessionSegmentationBegin = 1702 => "intersessionSegmentationBegin",
        /// `intersessionSegmentationEnd`
        IntersessionSegmentationEnd = 1703 => "intersessionSegmentationEnd",
        /// `intersessionSegmentationNonceMismatch`
        IntersessionSegmentationNonceMismatch = 1704 => "intersessionSegmentationNonceMismatch",
        /// `intersessionSegmentationError`
        IntersessionSegmentationError = 1705 => "intersessionSegmentationError",
        /// `intersessionSegmentationSave`
        IntersessionSegmentationSave = 1706 => "intersessionSegmentationSave",
        /// `intersessionSegmentationSaveError`
        IntersessionSegmentationSaveError = 1707 => "intersessionSegmentationSaveError",
        /// `intersessionSegmentationInputError`
        IntersessionSegmentationInputError = 1708 => "intersessionSegmentationInputError",
        /// `intersessionDetectionCan`
        IntersessionDetectionCan = 1711 => "intersessionDetectionCan",
        /// `intersessionDetectionBegin`
        IntersessionDetectionBegin = 1712 => "intersessionDetectionBegin",
        /// `intersessionDetectionEnd`
        IntersessionDetectionEnd = 1713 => "intersessionDetectionEnd",
        /// `intersessionDetectionNonceMismatch`
        IntersessionDetectionNonceMismatch = 1714 => "intersessionDetectionNonceMismatch",
        /// `intersessionDetectionError`
        IntersessionDetectionError = 1715 => "intersessionDetectionError",
        /// `intersessionDetectionSave`
        IntersessionDetectionSave = 1716 => "intersessionDetectionSave",
        /// `intersessionDetectionSaveError`
        IntersessionDetectionSaveError = 1717 => "intersessionDetectionSaveError",
        /// `intersessionShiftX`
        IntersessionShiftX = 1731 => "intersessionShiftX",
        /// `intersessionShiftY`
        IntersessionShiftY = 1732 => "intersessionShiftY",
        /// `intersessionShiftZ`
        IntersessionShiftZ = 1733 => "intersessionShiftZ",
        /// `headFixationForceDetectorChanged`
        HeadFixationForceDetectorChanged = 1801 => "headFixationForceDetectorChanged",
        /// `headFixationEnabled`
        HeadFixationEnabled = 1802 => "headFixationEnabled",
        /// `deviceCommandSend`
        DeviceCommandSend = 2001 => "deviceCommandSend",
        /// `deviceCommandAcknowledge`
        DeviceCommandAcknowledge = 2002 => "deviceCommandAcknowledge",
        /// `loadCellEngagedChanged`
        LoadCellEngagedChanged = 4001 => "loadCellEngagedChanged",
        /// `headbarPressureEngagedChanged`
        HeadbarPressureEngagedChanged = 4011 => "headbarPressureEngagedChanged",
        /// `trainingModeChanged`
        TrainingModeChanged = 5001 => "trainingModeChanged",
        /// `trainingPlanLoad`
        TrainingPlanLoad = 5101 => "trainingPlanLoad",
        /// `trainingPhaseEnter`
        TrainingPhaseEnter = 5201 => "trainingPhaseEnter",
        /// `trainingPhaseExit`
        TrainingPhaseExit = 5202 => "trainingPhaseExit",
        /// `trainingProgressUpdate`
        TrainingProgressUpdate = 5501 => "trainingProgressUpdate",
        /// `detectorChanged`. Context: an [`ApiDetectorStatus`], sent when
        /// `isActive` or `isEnabled` changes.
        DetectorChanged = 6001 => "detectorChanged",
        /// `alarmChanged`. Context: an [`ApiAlarmStatus`], sent when
        /// `isActive` or `isEnabled` changes.
        AlarmChanged = 6501 => "alarmChanged",
    }
    aliases {
        "pelletDriftResetBegin" => PelletHomeResetBegin,
        "pelletDriftResetEnd" => PelletHomeResetEnd,
    }
}

impl ApiEventKind {
    /// Whether an EVENT of this kind is also published on the EMERGENCY topic
    /// (`emergencyStop`, `emergencyResume`).
    pub const fn is_emergency(self) -> bool {
        super::event::is_emergency_kind(self.value())
    }
}

wire_code! {
    /// A detector named in a `detectorChanged` event or the system status.
    pub enum ApiDetectorKind: i64 {
        /// `frontDoor`
        FrontDoor = 101 => "frontDoor",
        /// `slidingDoor`
        SlidingDoor = 102 => "slidingDoor",
        /// `loadCellThrash`
        LoadCellThrash = 201 => "loadCellThrash",
        /// `audioThrash`
        AudioThrash = 202 => "audioThrash",
        /// `pelletMisplaced`
        PelletMisplaced = 301 => "pelletMisplaced",
        /// `deviceAckTimeOut`
        DeviceAckTimeOut = 401 => "deviceAckTimeOut",
        /// `animalImmobile` (deprecated in the reference)
        AnimalImmobile = 99999 => "animalImmobile",
    }
}

wire_code! {
    /// An alarm named in an `alarmChanged` event or the system status.
    pub enum ApiAlarmKind: i64 {
        /// `externalDoors`
        ExternalDoors = 101 => "externalDoors",
        /// `animalMissing`
        AnimalMissing = 201 => "animalMissing",
        /// `animalImmobile`
        AnimalImmobile = 210 => "animalImmobile",
        /// `thrashing`
        Thrashing = 301 => "thrashing",
    }
}

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

payload! {
    /// The `data` of a successful `GET_STATUS` reply.
    #[derive(Eq)]
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
    #[derive(Eq)]
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

    /// The state of one detector, in [`ApiSystemStatus`] or a `detectorChanged` event.
    #[derive(Eq)]
    #[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
    pub struct ApiDetectorStatus {
        /// Which detector.
        pub detector_id: ApiDetectorKind,
        /// Whether it is currently triggered.
        pub is_active: bool,
        /// Whether it is switched on.
        pub is_enabled: bool,
    }

    /// The state of one alarm, in [`ApiSystemStatus`] or an `alarmChanged` event.
    #[derive(Eq)]
    #[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
    pub struct ApiAlarmStatus {
        /// Which alarm.
        pub alarm_id: ApiAlarmKind,
        /// Whether it is currently raised.
        pub is_active: bool,
        /// Whether it is switched on.
        pub is_enabled: bool,
    }

    /// Head-fixation magnet readings in [`ApiSystemStatus`] (the reference
    /// names these fields in camelCase already).
    #[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
    pub struct HeadFixStatus {
        /// Current magnet intensity.
        pub current_magnet_intensity: f64,
        /// Baseline magnet intensity.
        pub baseline_magnet_intensity: f64,
    }

    /// Pellet-delivery position in [`ApiSystemStatus`].
    #[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
    pub struct PelletStatus {
        /// X of the send position.
        pub send_x: f64,
        /// Y of the send position.
        pub send_y: f64,
        /// Z of the send position.
        pub send_z: f64,
    }

    /// The context of a `systemStatus` event.
    #[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
    pub struct ApiSystemStatus {
        /// Every alarm's state.
        pub alarms: Vec<ApiAlarmStatus>,
        /// Every detector's state.
        pub detectors: Vec<ApiDetectorStatus>,
        /// Pellet-delivery position.
        pub pellet: PelletStatus,
        /// Head-fixation readings.
        pub headfix: HeadFixStatus,
    }
}

generation_catalog! {
    ApiCommand => V0_9,
    ApiEventKind => V0_9,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_payload, to_snake_keys};

    /// A systemStatus context as the 0.9.11 reference publishes it (its
    /// dataclasses through `asdict` and `humps.camelize`), read the way the
    /// client hands it over: snake_case keys.
    #[test]
    fn status_payloads_read_from_the_reference_s_wire_form() {
        let wire = serde_json::json!({
            "alarms": [{"alarmId": 201, "isActive": true, "isEnabled": false}],
            "detectors": [{"detectorId": 101, "isActive": false, "isEnabled": true}],
            "pellet": {"sendX": 1.5, "sendY": -2.0, "sendZ": 0.25},
            "headfix": {"currentMagnetIntensity": 0.5, "baselineMagnetIntensity": 0.125},
        });
        for data in [wire.clone(), to_snake_keys(wire.clone())] {
            let status: ApiSystemStatus = decode_payload(&data).unwrap();
            assert_eq!(status.alarms[0].alarm_id, ApiAlarmKind::AnimalMissing);
            assert!(!status.alarms[0].is_enabled);
            assert_eq!(status.detectors[0].detector_id, ApiDetectorKind::FrontDoor);
            assert_eq!(status.headfix.baseline_magnet_intensity, 0.125);
            let alarm: ApiAlarmStatus = decode_payload(&data["alarms"][0]).unwrap();
            assert_eq!(alarm, status.alarms[0]);
            assert_eq!(serde_json::to_value(&status).unwrap(), wire);
        }
    }
}
