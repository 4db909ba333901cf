//! The EVENT message, for either generation's catalog of kinds.

use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::{Catalog, WireCode};
use super::generation::Generation;
use super::v0_9;

/// The kinds `emergencyStop` (101) and `emergencyResume` (102), the same
/// numbers in every generation: events of these kinds are also published
/// on the EMERGENCY topic.
pub(crate) const fn is_emergency_kind(kind: i64) -> bool {
    matches!(kind, 101 | 102)
}

/// An EVENT message: `{"kind", "when", "index", "context", "repeat"}`.
///
/// `K` is the catalog its kind is read with: [`v0_9::ApiEventKind`] (the
/// default), [`crate::v0_12::ApiEventKind`], the operator side's tagged
/// [`crate::EventKind`], or `i64` for the bare number. `repeat` is on the
/// wire in 0.12 (always) and left out in 0.9.11, which does not have it,
/// unless it is not 0.
///
/// ```
/// use auto_trainer_api::{v0_12, ApiEvent};
/// use serde_json::json;
///
/// let launched = ApiEvent::new(v0_12::ApiEventKind::ApplicationLaunched, Some(json!({"version": "1.4"})));
/// let wire = serde_json::to_value(&launched).unwrap();
/// assert_eq!((wire["kind"].clone(), wire["repeat"].clone()), (json!(201), json!(0)));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
#[serde(bound(deserialize = "K: DeserializeOwned"))]
pub struct ApiEvent<K = v0_9::ApiEventKind> {
    /// What happened.
    pub kind: K,
    /// Wall-clock time, epoch seconds.
    pub when: f64,
    /// Monotonic timestamp in nanoseconds; increases from event to event.
    pub index: i64,
    /// Kind-specific payload (for instance `{"reason": ...}` for
    /// `emergencyStop`); its keys are camelized on the wire.
    #[serde(default, with = "super::keys::camel_on_wire")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Value>"))]
    pub context: Option<Value>,
    /// How many more times the same event happened since the last one sent
    /// (0.12); `when` and `index` are those of the last repeat.
    #[serde(default)]
    pub repeat: i64,
}

impl<K: WireCode> ApiEvent<K> {
    /// An event of `kind` that happened now, with an optional context.
    pub fn new(kind: K, context: Option<Value>) -> Self {
        Self {
            kind,
            when: super::clock::epoch_seconds(),
            index: super::clock::monotonic_nanos(),
            context,
            repeat: 0,
        }
    }

    /// This event with `repeat` set.
    pub fn with_repeat(mut self, repeat: i64) -> Self {
        self.repeat = repeat;
        self
    }

    /// Whether it is also published on the EMERGENCY topic.
    pub fn is_emergency(&self) -> bool {
        is_emergency_kind(self.kind.code())
    }

    /// The same event with its kind read by another catalog (for instance a
    /// bare `i64` kind given a generation's meaning).
    pub fn map_kind<L>(self, read: impl FnOnce(K) -> L) -> ApiEvent<L> {
        ApiEvent {
            kind: read(self.kind),
            when: self.when,
            index: self.index,
            context: self.context,
            repeat: self.repeat,
        }
    }

    /// Writes it as `generation` does: `repeat` always in 0.12, only when
    /// not 0 in 0.9.11.
    pub(crate) fn serialize_as<S: serde::Serializer>(
        &self,
        generation: Option<Generation>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let with_repeat = self.repeat != 0 || generation == Some(Generation::V0_12);
        let mut map = serializer.serialize_map(Some(4 + usize::from(with_repeat)))?;
        map.serialize_entry("kind", &self.kind.code())?;
        map.serialize_entry("when", &self.when)?;
        map.serialize_entry("index", &self.index)?;
        map.serialize_entry(
            "context",
            &self.context.as_ref().map(super::keys::CamelKeys),
        )?;
        if with_repeat {
            map.serialize_entry("repeat", &self.repeat)?;
        }
        map.end()
    }

    /// Reads `context` as the type of `kind` when this event is of that kind
    /// (in that kind's generation); `None` for an event of another kind.
    ///
    /// ```
    /// use auto_trainer_api::{v0_12, v0_12::kind, ApiEvent};
    ///
    /// let event = v0_12::build_event(kind::ApplicationTerminating, v0_12::ReasonContext::new("maintenance"));
    /// let reason = event.context_of(kind::ApplicationTerminating).unwrap().unwrap();
    /// assert_eq!(reason.reason, "maintenance");
    /// assert!(event.context_of(kind::EmergencyStop).is_none());
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::InvalidReply`] when the context does not have the
    /// kind's shape.
    pub fn context_of<M: crate::v0_12::EventKindMarker>(
        &self,
        kind: M,
    ) -> Option<Result<M::Context, crate::Error>> {
        let _ = kind;
        let same_kind = self.kind.generation() == WireCode::generation(M::KIND)
            && self.kind.code() == M::KIND.value();
        same_kind.then(|| super::payload::decode_payload_value(self.context.as_ref()))
    }
}

impl<K: Catalog> ApiEvent<K> {
    /// Reads an EVENT body (wire bytes, camelCase keys kept) with `K`'s
    /// catalog.
    ///
    /// # Errors
    /// The `serde_json` error when the bytes are not an event.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// As the generation of its kind writes it (see [`ApiEvent`]).
impl<K: WireCode> Serialize for ApiEvent<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_as(self.kind.generation(), serializer)
    }
}
