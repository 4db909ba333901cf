//! The catalogs of the 0.12 generation (`auto-trainer-api` 0.12.0),
//! generated from the reference's source and checked against it by
//! `tests/catalogs.rs`.

use super::super::code::{generation_catalog, wire_code};

wire_code! {
    /// The command of a request, 0.12 generation (`ApiCommand` of the reference 0.12.0).
    ///
    /// START_ACQUISITION and STOP_ACQUISITION moved to 50 and 55 and are obsolete
    /// (the reference answers them UNRECOGNIZED); 1000-1090 switch behaviour
    /// settings, each with `{"enabled": bool}` in and out.
    pub enum ApiCommand: i64 {
        /// `NONE`: no command; checks that the device answers (the 0.12 reference answers it itself, never its delegate).
        None = 0 => "NONE",
        /// `START_ACQUISITION`: obsolete in 0.12 (was 100); the reference answers UNRECOGNIZED.
        StartAcquisition = 50 => "START_ACQUISITION",
        /// `STOP_ACQUISITION`: obsolete in 0.12 (was 110); the reference answers UNRECOGNIZED.
        StopAcquisition = 55 => "STOP_ACQUISITION",
        /// `SET_APPLICATION_MODE`: `data` `{"mode": ApiApplicationMode}`; replies with the mode in effect.
        SetApplicationMode = 120 => "SET_APPLICATION_MODE",
        /// `SET_TRAINING_MODE`: `data` `{"mode": ApiTrainingMode}`; replies with the mode in effect.
        SetTrainingMode = 130 => "SET_TRAINING_MODE",
        /// `EMERGENCY_STOP`: stop now; idempotent, publishes `emergencyStop` every time.
        EmergencyStop = 200 => "EMERGENCY_STOP",
        /// `EMERGENCY_RESUME`: resume after a stop; FAILED when not stopped.
        EmergencyResume = 210 => "EMERGENCY_RESUME",
        /// `GET_CONFIGURATION`: reply `data` is an [`ApiSystemConfiguration`](super::ApiSystemConfiguration).
        GetConfiguration = 300 => "GET_CONFIGURATION",
        /// `GET_STATUS`: reply `data` is an [`ApiSystemStatus`](super::ApiSystemStatus).
        GetStatus = 400 => "GET_STATUS",
        /// `GET_ANIMALS`: reply `data` is a list of [`ApiAnimalStatus`](super::ApiAnimalStatus).
        GetAnimals = 500 => "GET_ANIMALS",
        /// `SET_LIVE_ANALYSIS_ENABLED`: Real-time pose inference during live trials ("Live Analysis").
        SetLiveAnalysisEnabled = 1000 => "SET_LIVE_ANALYSIS_ENABLED",
        /// `SET_PELLET_DELIVERY_ENABLED`: Pellet load-send-release cycles based on pellet detection and related factors ("Deliver Pellets").
        SetPelletDeliveryEnabled = 1010 => "SET_PELLET_DELIVERY_ENABLED",
        /// `SET_PELLET_COVER_ENABLED`: Covering the pellet while the animal is out of the tunnel, uncovering with a tone on entry.
        SetPelletCoverEnabled = 1020 => "SET_PELLET_COVER_ENABLED",
        /// `SET_INTERTRIAL_PELLET_SHIFT_ENABLED`: Adjustment of the pellet delivery position from post-trial reach analysis ("Intertrial Pellet Shift").
        SetIntertrialPelletShiftEnabled = 1030 => "SET_INTERTRIAL_PELLET_SHIFT_ENABLED",
        /// `SET_HOME_ON_EXCESSIVE_DRIFT_ENABLED`: Homing the pellet motors when measured drift exceeds the configured threshold.
        SetHomeOnExcessiveDriftEnabled = 1040 => "SET_HOME_ON_EXCESSIVE_DRIFT_ENABLED",
        /// `SET_TRIANGLE_PELLET_DISTANCE_DETECTION_ENABLED`: Detection of an excessive triangle-to-pellet distance.
        SetTrianglePelletDistanceDetectionEnabled = 1050 => "SET_TRIANGLE_PELLET_DISTANCE_DETECTION_ENABLED",
        /// `SET_AUTO_CLOSE_GATE_ON_INTERTRIAL_ENABLED`: Closing the tunnel gate for the duration of intertrial analysis.
        SetAutoCloseGateOnIntertrialEnabled = 1060 => "SET_AUTO_CLOSE_GATE_ON_INTERTRIAL_ENABLED",
        /// `SET_AUTO_CLAMP_ENABLED`: Automatic head-clamp engagement and release ("Auto-Clamp").
        SetAutoClampEnabled = 1070 => "SET_AUTO_CLAMP_ENABLED",
        /// `SET_TUNNEL_SWEEP_ENABLED`: The monitor that sweeps a misplaced pellet out of the tunnel ("Tunnel Sweep").
        SetTunnelSweepEnabled = 1080 => "SET_TUNNEL_SWEEP_ENABLED",
        /// `SET_BATCH_TRIALS_ENABLED`: Recording trials in a batch while the animal stays in the tunnel, deferring their analysis to the end.
        SetBatchTrialsEnabled = 1090 => "SET_BATCH_TRIALS_ENABLED",
        /// `USER_DEFINED`: A custom command defined between a particular commander and receiver.  Additional information can be.
        UserDefined = 99999 => "USER_DEFINED",
    }
}

wire_code! {
    /// The kind of an EVENT message, 0.12 generation (`ApiEventKind` of the reference 0.12.0).
    ///
    /// Ranges: 0-999 core/system, 1000-1999 behavior, 2000-2999 device,
    /// 3000-3999 inference, 4000-4999 analysis, 5000-5999 training,
    /// 6000-6999 detectors and alarms, 7000-7999 animal, 9000-9999 application.
    /// Each kind has a context type; [`super::build_event`] and the markers in
    /// [`super::kind`] tie them together.
    pub enum ApiEventKind: i64 {
        /// `emergencyStop`. Context: [`EmergencyStopContext`](super::EmergencyStopContext).
        EmergencyStop = 101 => "emergencyStop",
        /// `emergencyResume`. Context: [`EmergencyResumeContext`](super::EmergencyResumeContext).
        EmergencyResume = 102 => "emergencyResume",
        /// `applicationLaunched`. Context: [`VersionContext`](super::VersionContext).
        ApplicationLaunched = 201 => "applicationLaunched",
        /// `applicationTerminating`. Context: [`ReasonContext`](super::ReasonContext).
        ApplicationTerminating = 202 => "applicationTerminating",
        /// `applicationModeChanged`. Context: [`ApplicationModeContext`](super::ApplicationModeContext).
        ApplicationModeChanged = 301 => "applicationModeChanged",
        /// `calibrationDcsCompleted`. No context.
        CalibrationDcsCompleted = 311 => "calibrationDcsCompleted",
        /// `calibrationDcsFailed`. Context: [`ReasonContext`](super::ReasonContext).
        CalibrationDcsFailed = 312 => "calibrationDcsFailed",
        /// `calibration3dCompleted`. No context.
        Calibration3dCompleted = 321 => "calibration3dCompleted",
        /// `calibration3dFailed`. Context: [`ReasonContext`](super::ReasonContext).
        Calibration3dFailed = 322 => "calibration3dFailed",
        /// `propertyChanged`. Context: [`PropertyChangedContext`](super::PropertyChangedContext).
        PropertyChanged = 501 => "propertyChanged",
        /// `systemStatus`. Context: [`ApiSystemStatus`](super::ApiSystemStatus).
        SystemStatus = 601 => "systemStatus",
        /// `projectChanged`. Context: [`ProjectChangedContext`](super::ProjectChangedContext).
        ProjectChanged = 701 => "projectChanged",
        /// `projectTrialChanged`. Context: [`ProjectTrialChangedContext`](super::ProjectTrialChangedContext).
        ProjectTrialChanged = 702 => "projectTrialChanged",
        /// `algorithmPause`. No context.
        AlgorithmPause = 1001 => "algorithmPause",
        /// `algorithmResume`. No context.
        AlgorithmResume = 1002 => "algorithmResume",
        /// `tunnelEnter`. No context.
        TunnelEnter = 1101 => "tunnelEnter",
        /// `tunnelExit`. No context.
        TunnelExit = 1102 => "tunnelExit",
        /// `pelletLoadBegin`. Context: [`CommandContext`](super::CommandContext).
        PelletLoadBegin = 1202 => "pelletLoadBegin",
        /// `pelletLoadEnd`. Context: [`CommandContext`](super::CommandContext).
        PelletLoadEnd = 1203 => "pelletLoadEnd",
        /// `pelletSendBegin`. Context: [`CommandContext`](super::CommandContext).
        PelletSendBegin = 1205 => "pelletSendBegin",
        /// `pelletSendEnd`. Context: [`CommandContext`](super::CommandContext).
        PelletSendEnd = 1206 => "pelletSendEnd",
        /// `pelletCoverBegin`. Context: [`CommandContext`](super::CommandContext).
        PelletCoverBegin = 1208 => "pelletCoverBegin",
        /// `pelletCoverEnd`. Context: [`CommandContext`](super::CommandContext).
        PelletCoverEnd = 1209 => "pelletCoverEnd",
        /// `pelletReleaseBegin`. Context: [`CommandContext`](super::CommandContext).
        PelletReleaseBegin = 1211 => "pelletReleaseBegin",
        /// `pelletReleaseEnd`. Context: [`CommandContext`](super::CommandContext).
        PelletReleaseEnd = 1212 => "pelletReleaseEnd",
        /// `pelletHomeBegin`. Context: [`CommandContext`](super::CommandContext).
        PelletHomeBegin = 1214 => "pelletHomeBegin",
        /// `pelletHomeEnd`. Context: [`CommandContext`](super::CommandContext).
        PelletHomeEnd = 1215 => "pelletHomeEnd",
        /// `pelletRetractBegin`. Context: [`CommandContext`](super::CommandContext).
        PelletRetractBegin = 1220 => "pelletRetractBegin",
        /// `pelletRetractEnd`. Context: [`CommandContext`](super::CommandContext).
        PelletRetractEnd = 1221 => "pelletRetractEnd",
        /// `pelletHomeReset`. Context: [`PelletHomeResetContext`](super::PelletHomeResetContext).
        PelletHomeReset = 1222 => "pelletHomeReset",
        /// `pelletDriftReset`. Context: [`PelletDriftResetContext`](super::PelletDriftResetContext).
        PelletDriftReset = 1223 => "pelletDriftReset",
        /// `tunnelGateOpenBegin`. Context: [`CommandContext`](super::CommandContext).
        TunnelGateOpenBegin = 1230 => "tunnelGateOpenBegin",
        /// `tunnelGateOpenEnd`. Context: [`CommandContext`](super::CommandContext).
        TunnelGateOpenEnd = 1231 => "tunnelGateOpenEnd",
        /// `tunnelGateCloseBegin`. Context: [`CommandContext`](super::CommandContext).
        TunnelGateCloseBegin = 1232 => "tunnelGateCloseBegin",
        /// `tunnelGateCloseEnd`. Context: [`CommandContext`](super::CommandContext).
        TunnelGateCloseEnd = 1233 => "tunnelGateCloseEnd",
        /// `tunnelFanOnBegin`. Context: [`CommandContext`](super::CommandContext).
        TunnelFanOnBegin = 1235 => "tunnelFanOnBegin",
        /// `tunnelFanOnEnd`. Context: [`CommandContext`](super::CommandContext).
        TunnelFanOnEnd = 1236 => "tunnelFanOnEnd",
        /// `tunnelFanOffBegin`. Context: [`CommandContext`](super::CommandContext).
        TunnelFanOffBegin = 1237 => "tunnelFanOffBegin",
        /// `tunnelFanOffEnd`. Context: [`CommandContext`](super::CommandContext).
        TunnelFanOffEnd = 1238 => "tunnelFanOffEnd",
        /// `sessionStarted`. Context: [`SessionStartedContext`](super::SessionStartedContext).
        SessionStarted = 1331 => "sessionStarted",
        /// `sessionEnded`. Context: [`SessionEndedContext`](super::SessionEndedContext).
        SessionEnded = 1332 => "sessionEnded",
        /// `trialStarted`. Context: [`TrialStartedContext`](super::TrialStartedContext).
        TrialStarted = 1301 => "trialStarted",
        /// `trialCaptureEnded`. Context: [`SessionTrialContext`](super::SessionTrialContext).
        TrialCaptureEnded = 1305 => "trialCaptureEnded",
        /// `trialEnded`. Context: [`TrialEndedContext`](super::TrialEndedContext).
        TrialEnded = 1311 => "trialEnded",
        /// `batchAnalysisStarted`. Context: [`BatchAnalysisStartedContext`](super::BatchAnalysisStartedContext).
        BatchAnalysisStarted = 1321 => "batchAnalysisStarted",
        /// `batchAnalysisEnded`. Context: [`BatchAnalysisEndedContext`](super::BatchAnalysisEndedContext).
        BatchAnalysisEnded = 1322 => "batchAnalysisEnded",
        /// `headfixLoadCellEnabledChanged`. Context: [`IsEnabledContext`](super::IsEnabledContext).
        HeadfixLoadCellEnabledChanged = 1401 => "headfixLoadCellEnabledChanged",
        /// `headfixLoadCellChangedInIntersession`. Context: [`IsEnabledContext`](super::IsEnabledContext).
        HeadfixLoadCellChangedInIntersession = 1405 => "headfixLoadCellChangedInIntersession",
        /// `headfixLoadCellChangedWrongState`. Context: [`IsEnabledContext`](super::IsEnabledContext).
        HeadfixLoadCellChangedWrongState = 1406 => "headfixLoadCellChangedWrongState",
        /// `headfixAutoTare`. No context.
        HeadfixAutoTare = 1411 => "headfixAutoTare",
        /// `headFixationForceDetectorChanged`. Context: [`IsEnabledContext`](super::IsEnabledContext).
        HeadFixationForceDetectorChanged = 1421 => "headFixationForceDetectorChanged",
        /// `trialAnimalSeen`. Context: [`TrialSeenContext`](super::TrialSeenContext).
        TrialAnimalSeen = 1501 => "trialAnimalSeen",
        /// `trialRightHandSeen`. Context: [`TrialSeenContext`](super::TrialSeenContext).
        TrialRightHandSeen = 1502 => "trialRightHandSeen",
        /// `trialPelletSeen`. Context: [`TrialSeenContext`](super::TrialSeenContext).
        TrialPelletSeen = 1503 => "trialPelletSeen",
        /// `headfixBaselineChanged`. Context: [`BaselineContext`](super::BaselineContext).
        HeadfixBaselineChanged = 1601 => "headfixBaselineChanged",
        /// `autoClampEnabledChanged`. Context: [`IsEnabledContext`](super::IsEnabledContext).
        AutoClampEnabledChanged = 1611 => "autoClampEnabledChanged",
        /// `autoClampIntensityChanged`. Context: [`IntensityContext`](super::IntensityContext).
        AutoClampIntensityChanged = 1612 => "autoClampIntensityChanged",
        /// `autoClampReleaseToneFreqChanged`. Context: [`FrequencyContext`](super::FrequencyContext).
        AutoClampReleaseToneFreqChanged = 1613 => "autoClampReleaseToneFreqChanged",
        /// `autoClampReleaseDelayChanged`. Context: [`DelayContext`](super::DelayContext).
        AutoClampReleaseDelayChanged = 1614 => "autoClampReleaseDelayChanged",
        /// `autoClampEngaged`. Context: [`IntensityContext`](super::IntensityContext).
        AutoClampEngaged = 1621 => "autoClampEngaged",
        /// `autoClampPreDisengage`. Context: [`IntensityContext`](super::IntensityContext).
        AutoClampPreDisengage = 1622 => "autoClampPreDisengage",
        /// `autoClampPlayReleaseTone`. Context: [`ReleaseToneContext`](super::ReleaseToneContext).
        AutoClampPlayReleaseTone = 1623 => "autoClampPlayReleaseTone",
        /// `autoClampDisengaged`. Context: [`IntensityContext`](super::IntensityContext).
        AutoClampDisengaged = 1624 => "autoClampDisengaged",
        /// `intertrialSegmentationBegin`. Context: [`AnalysisTrialContext`](super::AnalysisTrialContext).
        IntertrialSegmentationBegin = 1701 => "intertrialSegmentationBegin",
        /// `intertrialSegmentationEnd`. Context: [`AnalysisTrialContext`](super::AnalysisTrialContext).
        IntertrialSegmentationEnd = 1702 => "intertrialSegmentationEnd",
        /// `intertrialSegmentationError`. Context: [`IntertrialErrorContext`](super::IntertrialErrorContext).
        IntertrialSegmentationError = 1703 => "intertrialSegmentationError",
        /// `intertrialSegmentationSave`. Context: [`IntertrialSaveContext`](super::IntertrialSaveContext).
        IntertrialSegmentationSave = 1704 => "intertrialSegmentationSave",
        /// `intertrialSegmentationSaveError`. Context: [`IntertrialErrorContext`](super::IntertrialErrorContext).
        IntertrialSegmentationSaveError = 1705 => "intertrialSegmentationSaveError",
        /// `intertrialDetectionBegin`. Context: [`AnalysisTrialContext`](super::AnalysisTrialContext).
        IntertrialDetectionBegin = 1711 => "intertrialDetectionBegin",
        /// `intertrialDetectionEnd`. Context: [`AnalysisTrialContext`](super::AnalysisTrialContext).
        IntertrialDetectionEnd = 1712 => "intertrialDetectionEnd",
        /// `intertrialDetectionError`. Context: [`IntertrialErrorContext`](super::IntertrialErrorContext).
        IntertrialDetectionError = 1713 => "intertrialDetectionError",
        /// `intertrialDetectionSave`. Context: [`IntertrialSaveContext`](super::IntertrialSaveContext).
        IntertrialDetectionSave = 1714 => "intertrialDetectionSave",
        /// `intertrialDetectionSaveError`. Context: [`IntertrialErrorContext`](super::IntertrialErrorContext).
        IntertrialDetectionSaveError = 1715 => "intertrialDetectionSaveError",
        /// `intertrialResponse`. Context: [`IntertrialResponseContext`](super::IntertrialResponseContext).
        IntertrialResponse = 1720 => "intertrialResponse",
        /// `pelletPresentedCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        PelletPresentedCountChanged = 1800 => "pelletPresentedCountChanged",
        /// `pelletConsumedCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        PelletConsumedCountChanged = 1802 => "pelletConsumedCountChanged",
        /// `reachCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        ReachCountChanged = 1803 => "reachCountChanged",
        /// `successfulReachesCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        SuccessfulReachesCountChanged = 1804 => "successfulReachesCountChanged",
        /// `dayStarted`. Context: [`DayStartedContext`](super::DayStartedContext).
        DayStarted = 1811 => "dayStarted",
        /// `dayPelletPresentedCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        DayPelletPresentedCountChanged = 1812 => "dayPelletPresentedCountChanged",
        /// `dayPelletConsumedCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        DayPelletConsumedCountChanged = 1813 => "dayPelletConsumedCountChanged",
        /// `dayReachCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        DayReachCountChanged = 1814 => "dayReachCountChanged",
        /// `daySuccessfulReachesCountChanged`. Context: [`CountChangeContext`](super::CountChangeContext).
        DaySuccessfulReachesCountChanged = 1815 => "daySuccessfulReachesCountChanged",
        /// `trialPelletPresented`. Context: [`SessionTrialContext`](super::SessionTrialContext).
        TrialPelletPresented = 1901 => "trialPelletPresented",
        /// `trialReachEvents`. Context: [`TrialReachEventsContext`](super::TrialReachEventsContext).
        TrialReachEvents = 1911 => "trialReachEvents",
        /// `intertrialPelletShift`. Context: [`PelletShiftContext`](super::PelletShiftContext).
        IntertrialPelletShift = 1921 => "intertrialPelletShift",
        /// `deviceCommandSend`. Context: [`CommandContext`](super::CommandContext).
        DeviceCommandSend = 2001 => "deviceCommandSend",
        /// `deviceCommandAcknowledge`. Context: [`CommandContext`](super::CommandContext).
        DeviceCommandAcknowledge = 2002 => "deviceCommandAcknowledge",
        /// `loadCellEngagedChanged`. Context: [`IsEngagedContext`](super::IsEngagedContext).
        LoadCellEngagedChanged = 4001 => "loadCellEngagedChanged",
        /// `headbarPressureEngagedChanged`. Context: [`IsEngagedContext`](super::IsEngagedContext).
        HeadbarPressureEngagedChanged = 4011 => "headbarPressureEngagedChanged",
        /// `trainingModeChanged`. Context: [`TrainingModeContext`](super::TrainingModeContext).
        TrainingModeChanged = 5001 => "trainingModeChanged",
        /// `trainingPlanLoad`. Context: [`TrainingPlanContext`](super::TrainingPlanContext).
        TrainingPlanLoad = 5101 => "trainingPlanLoad",
        /// `trainingPhaseEnter`. Context: [`TrainingPhaseContext`](super::TrainingPhaseContext).
        TrainingPhaseEnter = 5201 => "trainingPhaseEnter",
        /// `trainingPhaseExit`. Context: [`TrainingPhaseContext`](super::TrainingPhaseContext).
        TrainingPhaseExit = 5202 => "trainingPhaseExit",
        /// `trainingProgressUpdate`. Context: [`TrainingPhaseContext`](super::TrainingPhaseContext).
        TrainingProgressUpdate = 5501 => "trainingProgressUpdate",
        /// `protocolEvent`. Context: any JSON object, or none.
        ProtocolEvent = 5801 => "protocolEvent",
        /// `protocolPlanEvent`. Context: any JSON object, or none.
        ProtocolPlanEvent = 5811 => "protocolPlanEvent",
        /// `protocolPhaseEvent`. Context: any JSON object, or none.
        ProtocolPhaseEvent = 5821 => "protocolPhaseEvent",
        /// `protocolPredicateEvent`. Context: any JSON object, or none.
        ProtocolPredicateEvent = 5831 => "protocolPredicateEvent",
        /// `protocolActionEvent`. Context: any JSON object, or none.
        ProtocolActionEvent = 5841 => "protocolActionEvent",
        /// `protocolProgressEvent`. Context: any JSON object, or none.
        ProtocolProgressEvent = 5851 => "protocolProgressEvent",
        /// `detectorChanged`. Context: [`ApiDetectorStatus`](super::ApiDetectorStatus).
        DetectorChanged = 6001 => "detectorChanged",
        /// `alarmChanged`. Context: [`ApiAlarmStatus`](super::ApiAlarmStatus).
        AlarmChanged = 6501 => "alarmChanged",
        /// `animalCreated`. Context: [`ApiAnimalStatus`](super::ApiAnimalStatus).
        AnimalCreated = 7001 => "animalCreated",
        /// `animalUpdated`. Context: [`ApiAnimalStatus`](super::ApiAnimalStatus).
        AnimalUpdated = 7002 => "animalUpdated",
        /// `animalSelected`. Context: [`ApiAnimalStatus`](super::ApiAnimalStatus) or none.
        AnimalSelected = 7003 => "animalSelected",
        /// `unknown`: the reference's catch-all kind (named `Unspecified` here,
        /// as `Unknown(n)` holds numbers the catalog does not know). No context.
        Unspecified = 999999 => "unknown",
    }
}

wire_code! {
    /// A detector named in a `detectorChanged` event or the system status (0.12).
    pub enum ApiDetectorKind: i64 {
        /// `frontDoor`
        FrontDoor = 101 => "frontDoor",
        /// `slidingDoor`
        SlidingDoor = 102 => "slidingDoor",
        /// `loadCellThrash`
        LoadCellThrash = 201 => "loadCellThrash",
        /// `audioThrash`
        AudioThrash = 202 => "audioThrash",
        /// `deviceAckTimeOut`
        DeviceAckTimeOut = 401 => "deviceAckTimeOut",
        /// `pelletStatusMessageInterruption`
        PelletStatusMessageInterruption = 411 => "pelletStatusMessageInterruption",
        /// `tunnelStatusMessageInterruption`
        TunnelStatusMessageInterruption = 412 => "tunnelStatusMessageInterruption",
        /// `lowFreeDiskSpace`
        LowFreeDiskSpace = 501 => "lowFreeDiskSpace",
        /// `mainThreadFrozen`
        MainThreadFrozen = 511 => "mainThreadFrozen",
        /// `boardUnexpectedReset`
        BoardUnexpectedReset = 521 => "boardUnexpectedReset",
        /// `pelletRefillCountExceeded`
        PelletRefillCountExceeded = 601 => "pelletRefillCountExceeded",
        /// `cageCleaningRequired`
        CageCleaningRequired = 610 => "cageCleaningRequired",
        /// `consecutivePelletLoadFailureExceeded`
        ConsecutivePelletLoadFailureExceeded = 620 => "consecutivePelletLoadFailureExceeded",
        /// `animalAutoClampEvasion`
        AnimalAutoClampEvasion = 701 => "animalAutoClampEvasion",
        /// `animalLowPelletsConsumedPerDay`
        AnimalLowPelletsConsumedPerDay = 801 => "animalLowPelletsConsumedPerDay",
        /// `pelletMisplaced`
        PelletMisplaced = 301 => "pelletMisplaced",
    }
}

wire_code! {
    /// An alarm named in an `alarmChanged` event, an emergency or the system status (0.12).
    pub enum ApiAlarmKind: i64 {
        /// `externalDoors`
        ExternalDoors = 101 => "externalDoors",
        /// `animalMissing`
        AnimalMissing = 201 => "animalMissing",
        /// `animalImmobile`
        AnimalImmobile = 210 => "animalImmobile",
        /// `thrashing`
        Thrashing = 301 => "thrashing",
        /// `deviceCommunication`
        DeviceCommunication = 401 => "deviceCommunication",
        /// `systemFault`
        SystemFault = 501 => "systemFault",
        /// `systemMaintenance`
        SystemMaintenance = 601 => "systemMaintenance",
        /// `animalEvasion`
        AnimalEvasion = 701 => "animalEvasion",
        /// `animalWelfare`
        AnimalWelfare = 801 => "animalWelfare",
    }
}

wire_code! {
    /// What the application is doing (0.12; replaces 0.9.11's `ApiAppStatus`).
    pub enum ApiApplicationMode: i64 {
        /// `IDLE`
        Idle = 0 => "IDLE",
        /// `RUNNING`
        Running = 100 => "RUNNING",
        /// `IN_DEVICE`
        InDevice = 200 => "IN_DEVICE",
        /// `IN_TRAINING`
        InTraining = 300 => "IN_TRAINING",
        /// `CALIBRATION_DCS`
        CalibrationDcs = 1000 => "CALIBRATION_DCS",
        /// `CALIBRATION_3D`
        Calibration3d = 1100 => "CALIBRATION_3D",
    }
}

wire_code! {
    /// What stopped a run: the `reasonCode` of an `emergencyStop` event.
    pub enum ApiEmergencyStopReason: i64 {
        /// `unknown`: the source does not match a known reason (named
        /// `Unspecified` here, as `Unknown(n)` holds numbers the catalog does
        /// not know).
        Unspecified = 0 => "unknown",
        /// `alarm_monitor`
        AlarmMonitor = 101 => "alarm_monitor",
        /// `diamond_coord_check`
        DiamondCoordCheck = 201 => "diamond_coord_check",
        /// `user_button`
        UserButton = 301 => "user_button",
        /// `rpc_service`
        RpcService = 401 => "rpc_service",
    }
}

wire_code! {
    /// What resumed a run: the `reasonCode` of an `emergencyResume` event.
    pub enum ApiEmergencyResumeReason: i64 {
        /// `unknown`: the source does not match a known reason (named
        /// `Unspecified` here, as `Unknown(n)` holds numbers the catalog does
        /// not know).
        Unspecified = 0 => "unknown",
        /// `alarm_monitor_resume`
        AlarmMonitorResume = 101 => "alarm_monitor_resume",
        /// `alarm_monitor_status_change`
        AlarmMonitorStatusChange = 201 => "alarm_monitor_status_change",
        /// `user_button`
        UserButton = 301 => "user_button",
        /// `rpc_service`
        RpcService = 401 => "rpc_service",
    }
}

wire_code! {
    /// What drove an `intertrialPelletShift`.
    pub enum ApiPelletShiftSource: i64 {
        /// `REACH_FAILURES`
        ReachFailures = 1 => "REACH_FAILURES",
        /// `TONGUE_EATEN`
        TongueEaten = 2 => "TONGUE_EATEN",
    }
}

impl ApiEventKind {
    /// Whether an EVENT of this kind is also published on the EMERGENCY topic
    /// (`emergencyStop`, `emergencyResume`).
    pub const fn is_emergency(self) -> bool {
        super::super::event::is_emergency_kind(self.value())
    }
}

generation_catalog! {
    ApiCommand => V0_12,
    ApiEventKind => V0_12,
}
