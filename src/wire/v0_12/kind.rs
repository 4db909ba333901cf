//! One marker type per 0.12 event kind, tying the kind to its context type:
//! `build_event(kind::TrialStarted, TrialStartedContext { .. })` compiles,
//! `build_event(kind::TrialStarted, ReasonContext::new(".."))` does not.
//! This is what the reference's 107 `build_event` overloads do for Python
//! type checkers.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::catalog::ApiEventKind;
#[allow(unused_imports)] // every context type is named by some marker
use super::context::*;
use super::status::{ApiAlarmStatus, ApiAnimalStatus, ApiDetectorStatus, ApiSystemStatus};

/// A 0.12 event kind as a type, with the type of its context.
pub trait EventKindMarker: Copy + Default + Send + Sync + 'static {
    /// The context's type: `()` for kinds without one (`null` on the wire).
    type Context: Serialize + DeserializeOwned;
    /// The kind.
    const KIND: ApiEventKind;
}

/// Work done with the marker of a kind known only at run time, typed by
/// that kind's context: see [`visit`].
pub trait MarkerVisitor {
    /// What a visit returns.
    type Output;
    /// Called with the marker of the visited kind.
    fn visit<M: EventKindMarker>(self, kind: M) -> Self::Output;
}

/// Declares the markers: `Kind => ContextType`.
macro_rules! markers {
    ($($kind:ident => $context:ty,)+) => {
        $(
            #[doc = concat!("The kind [`ApiEventKind::", stringify!($kind), "`], whose context is `", stringify!($context), "`.")]
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
            pub struct $kind;

            impl EventKindMarker for $kind {
                type Context = $context;
                const KIND: ApiEventKind = ApiEventKind::$kind;
            }
        )+

        /// Calls `visitor` with the marker of `kind`, so code that gets a
        /// kind at run time (an event read from the wire) can handle its
        /// context with the kind's type; `None` for a kind the 0.12 catalog
        /// does not know.
        ///
        /// ```
        /// use auto_trainer_api::v0_12::kind::{self, EventKindMarker, MarkerVisitor};
        /// use auto_trainer_api::v0_12::{self, ApiEventKind};
        ///
        /// /// Reads an event's context with its kind's type and writes it back.
        /// struct Retype<'a>(&'a v0_12::ApiEvent);
        /// impl MarkerVisitor for Retype<'_> {
        ///     type Output = serde_json::Value;
        ///     fn visit<M: EventKindMarker>(self, kind: M) -> serde_json::Value {
        ///         let context = self.0.context_of(kind).unwrap().unwrap();
        ///         serde_json::to_value(context).unwrap()
        ///     }
        /// }
        ///
        /// let event = v0_12::build_event(kind::ApplicationTerminating, v0_12::ReasonContext::new("done"));
        /// let context = kind::visit(event.kind, Retype(&event)).unwrap();
        /// assert_eq!(context, serde_json::json!({"reason": "done"}));
        /// assert!(kind::visit(ApiEventKind::Unknown(5), Retype(&event)).is_none());
        /// ```
        pub fn visit<V: MarkerVisitor>(kind: ApiEventKind, visitor: V) -> Option<V::Output> {
            match kind {
                $(ApiEventKind::$kind => Some(visitor.visit($kind)),)+
                ApiEventKind::Unknown(_) => None,
            }
        }

        /// The schema of every kind's context, in catalog order.
        #[cfg(feature = "schema")]
        pub(crate) fn context_schemas(
            generator: &mut schemars::SchemaGenerator,
        ) -> Vec<(ApiEventKind, schemars::Schema)> {
            vec![$((ApiEventKind::$kind, generator.subschema_for::<$context>()),)+]
        }
    };
}

markers! {
    EmergencyStop => EmergencyStopContext,
    EmergencyResume => EmergencyResumeContext,
    ApplicationLaunched => VersionContext,
    ApplicationTerminating => ReasonContext,
    ApplicationModeChanged => ApplicationModeContext,
    CalibrationDcsCompleted => (),
    CalibrationDcsFailed => ReasonContext,
    Calibration3dCompleted => (),
    Calibration3dFailed => ReasonContext,
    PropertyChanged => PropertyChangedContext,
    SystemStatus => ApiSystemStatus,
    ProjectChanged => ProjectChangedContext,
    ProjectTrialChanged => ProjectTrialChangedContext,
    AlgorithmPause => (),
    AlgorithmResume => (),
    TunnelEnter => (),
    TunnelExit => (),
    PelletLoadBegin => CommandContext,
    PelletLoadEnd => CommandContext,
    PelletSendBegin => CommandContext,
    PelletSendEnd => CommandContext,
    PelletCoverBegin => CommandContext,
    PelletCoverEnd => CommandContext,
    PelletReleaseBegin => CommandContext,
    PelletReleaseEnd => CommandContext,
    PelletHomeBegin => CommandContext,
    PelletHomeEnd => CommandContext,
    PelletRetractBegin => CommandContext,
    PelletRetractEnd => CommandContext,
    PelletHomeReset => PelletHomeResetContext,
    PelletDriftReset => PelletDriftResetContext,
    TunnelGateOpenBegin => CommandContext,
    TunnelGateOpenEnd => CommandContext,
    TunnelGateCloseBegin => CommandContext,
    TunnelGateCloseEnd => CommandContext,
    TunnelFanOnBegin => CommandContext,
    TunnelFanOnEnd => CommandContext,
    TunnelFanOffBegin => CommandContext,
    TunnelFanOffEnd => CommandContext,
    SessionStarted => SessionStartedContext,
    SessionEnded => SessionEndedContext,
    TrialStarted => TrialStartedContext,
    TrialCaptureEnded => SessionTrialContext,
    TrialEnded => TrialEndedContext,
    BatchAnalysisStarted => BatchAnalysisStartedContext,
    BatchAnalysisEnded => BatchAnalysisEndedContext,
    HeadfixLoadCellEnabledChanged => IsEnabledContext,
    HeadfixLoadCellChangedInIntersession => IsEnabledContext,
    HeadfixLoadCellChangedWrongState => IsEnabledContext,
    HeadfixAutoTare => (),
    HeadFixationForceDetectorChanged => IsEnabledContext,
    TrialAnimalSeen => TrialSeenContext,
    TrialRightHandSeen => TrialSeenContext,
    TrialPelletSeen => TrialSeenContext,
    HeadfixBaselineChanged => BaselineContext,
    AutoClampEnabledChanged => IsEnabledContext,
    AutoClampIntensityChanged => IntensityContext,
    AutoClampReleaseToneFreqChanged => FrequencyContext,
    AutoClampReleaseDelayChanged => DelayContext,
    AutoClampEngaged => IntensityContext,
    AutoClampPreDisengage => IntensityContext,
    AutoClampPlayReleaseTone => ReleaseToneContext,
    AutoClampDisengaged => IntensityContext,
    IntertrialSegmentationBegin => AnalysisTrialContext,
    IntertrialSegmentationEnd => AnalysisTrialContext,
    IntertrialSegmentationError => IntertrialErrorContext,
    IntertrialSegmentationSave => IntertrialSaveContext,
    IntertrialSegmentationSaveError => IntertrialErrorContext,
    IntertrialDetectionBegin => AnalysisTrialContext,
    IntertrialDetectionEnd => AnalysisTrialContext,
    IntertrialDetectionError => IntertrialErrorContext,
    IntertrialDetectionSave => IntertrialSaveContext,
    IntertrialDetectionSaveError => IntertrialErrorContext,
    IntertrialResponse => IntertrialResponseContext,
    PelletPresentedCountChanged => CountChangeContext,
    PelletConsumedCountChanged => CountChangeContext,
    ReachCountChanged => CountChangeContext,
    SuccessfulReachesCountChanged => CountChangeContext,
    DayStarted => DayStartedContext,
    DayPelletPresentedCountChanged => CountChangeContext,
    DayPelletConsumedCountChanged => CountChangeContext,
    DayReachCountChanged => CountChangeContext,
    DaySuccessfulReachesCountChanged => CountChangeContext,
    TrialPelletPresented => SessionTrialContext,
    TrialReachEvents => TrialReachEventsContext,
    IntertrialPelletShift => PelletShiftContext,
    DeviceCommandSend => CommandContext,
    DeviceCommandAcknowledge => CommandContext,
    LoadCellEngagedChanged => IsEngagedContext,
    HeadbarPressureEngagedChanged => IsEngagedContext,
    TrainingModeChanged => TrainingModeContext,
    TrainingPlanLoad => TrainingPlanContext,
    TrainingPhaseEnter => TrainingPhaseContext,
    TrainingPhaseExit => TrainingPhaseContext,
    TrainingProgressUpdate => TrainingPhaseContext,
    ProtocolEvent => Option<serde_json::Value>,
    ProtocolPlanEvent => Option<serde_json::Value>,
    ProtocolPhaseEvent => Option<serde_json::Value>,
    ProtocolPredicateEvent => Option<serde_json::Value>,
    ProtocolActionEvent => Option<serde_json::Value>,
    ProtocolProgressEvent => Option<serde_json::Value>,
    DetectorChanged => ApiDetectorStatus,
    AlarmChanged => ApiAlarmStatus,
    AnimalCreated => ApiAnimalStatus,
    AnimalUpdated => ApiAnimalStatus,
    AnimalSelected => Option<ApiAnimalStatus>,
    Unspecified => (),
}
