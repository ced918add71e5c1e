//! Starling's domain core: identifiers, validated value types, the error model
//! and the ports (traits) that adapters implement. Nothing here knows about
//! HTTP, SQL or any particular backend.

pub mod cursor;
pub mod error;
pub mod events;
pub mod id;
pub mod live;
pub mod messaging;
pub mod model;
pub mod moderation;
pub mod page;
pub mod ports;
pub mod time;
pub mod types;

pub use error::{Error, Result};
pub use id::{
    AuditId, CommentId, EventId, IdGenerator, InviteId, MediaId, MessageId, NotificationId, PostId,
    PushSubscriptionId, ReportId, RoomId, Snowflake, UserId,
};
pub use time::Timestamp;
pub mod testing;
