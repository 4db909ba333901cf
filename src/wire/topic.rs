//! Topics of published messages and their 4-byte frame.

use super::code::wire_code;

wire_code! {
    /// The topic of a published message. Subscribers filter on its 4-byte
    /// little-endian frame.
    pub enum ApiTopic: u32 {
        /// Subscribe-all; never published.
        Any = 0 => "ANY",
        /// Heartbeat: the service is up and serving.
        Heartbeat = 1001 => "HEARTBEAT",
        /// Emergency messages (a copy of emergency events, sent first).
        Emergency = 2001 => "EMERGENCY",
        /// Application events ([`crate::ApiEvent`]).
        Event = 4001 => "EVENT",
        /// Application-defined property changes.
        PropertyChange = 5001 => "PROPERTY_CHANGE",
        /// Results of commands that answered `PENDING_WITH_NOTIFICATION`.
        CommandResult = 6001 => "COMMAND_RESULT",
    }
}

impl ApiTopic {
    /// The first frame of a message on this topic: the value as 4 bytes, little-endian.
    ///
    /// ```
    /// use auto_trainer_api::ApiTopic;
    /// assert_eq!(ApiTopic::Event.to_frame(), [0xa1, 0x0f, 0, 0]);
    /// ```
    pub const fn to_frame(self) -> [u8; 4] {
        self.value().to_le_bytes()
    }

    /// The topic of a first frame; `None` unless it is exactly 4 bytes.
    ///
    /// ```
    /// use auto_trainer_api::ApiTopic;
    /// assert_eq!(ApiTopic::from_frame(&[0x71, 0x17, 0, 0]), Some(ApiTopic::CommandResult));
    /// assert_eq!(ApiTopic::from_frame(b"abc"), None);
    /// ```
    pub fn from_frame(frame: &[u8]) -> Option<Self> {
        let bytes: [u8; 4] = frame.try_into().ok()?;
        Some(Self::from_value(u32::from_le_bytes(bytes)))
    }
}
