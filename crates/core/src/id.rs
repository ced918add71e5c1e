//! 64-bit, time-ordered identifiers (snowflake layout):
//! 41 bits of milliseconds since 2024-01-01, 10 bits of node id, 12 bits of sequence.
//! Several nodes with distinct `STARLING_NODE_ID`s never mint the same id.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::{Error, Timestamp};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: i64 = 1_704_067_200_000;
pub const MAX_NODE_ID: u16 = 1023;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;
const SEQ_MASK: i64 = (1 << SEQ_BITS) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(pub i64);

impl Snowflake {
    /// The creation time encoded in the id.
    pub fn timestamp(self) -> Timestamp {
        Timestamp((self.0 >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS)
    }

    pub fn node(self) -> u16 {
        ((self.0 >> SEQ_BITS) & i64::from(MAX_NODE_ID)) as u16
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Snowflake {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.parse::<i64>() {
            // Canonical decimal only: "01" or "+1" would be a second name for 1.
            Ok(v) if v > 0 && !s.starts_with(['+', '0']) => Ok(Snowflake(v)),
            _ => Err(Error::bad_request(
                "invalid_id",
                format!("'{s}' is not a valid id"),
            )),
        }
    }
}

/// Mints ids for one node. Monotonic even if the wall clock steps back.
pub struct IdGenerator {
    node: i64,
    state: Mutex<(i64, i64)>,
}

impl IdGenerator {
    pub fn new(node: u16) -> Result<Self, Error> {
        if node > MAX_NODE_ID {
            return Err(Error::field(
                "node_id",
                format!("must be between 0 and {MAX_NODE_ID}"),
            ));
        }
        Ok(Self {
            node: i64::from(node),
            state: Mutex::new((0, 0)),
        })
    }

    pub fn next(&self) -> Snowflake {
        let now = Timestamp::now().0 - EPOCH_MS;
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (last, seq) = *st;
        let (ms, seq) = if now > last {
            (now, 0)
        } else if seq < SEQ_MASK {
            (last, seq + 1)
        } else {
            // Sequence exhausted within this millisecond: borrow the next one.
            (last + 1, 0)
        };
        *st = (ms, seq);
        Snowflake((ms << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | seq)
    }
}

macro_rules! id_newtype {
    ($name:ident, $what:literal) => {
        #[doc = concat!("Identifier of a ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Snowflake);

        impl $name {
            pub fn get(self) -> i64 {
                self.0.0
            }
            pub fn from_i64(v: i64) -> Self {
                Self(Snowflake(v))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                s.parse::<Snowflake>().map(Self).map_err(|_| {
                    Error::bad_request("invalid_id", format!("'{s}' is not a valid {} id", $what))
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_newtype!(UserId, "user");
id_newtype!(PostId, "post");
id_newtype!(CommentId, "comment");
id_newtype!(TokenFamilyId, "token family");
id_newtype!(MediaId, "media upload");
id_newtype!(EventId, "event");
id_newtype!(NotificationId, "notification");
id_newtype!(PushSubscriptionId, "push subscription");
id_newtype!(RoomId, "chat room");
id_newtype!(MessageId, "message");
id_newtype!(ReportId, "report");
id_newtype!(AuditId, "audit entry");
id_newtype!(InviteId, "invite");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_increasing_and_carry_node_and_time() {
        let g = IdGenerator::new(7).unwrap();
        let before = Timestamp::now();
        let mut prev = g.next();
        for _ in 0..20_000 {
            let id = g.next();
            assert!(id > prev, "{id} after {prev}");
            assert_eq!(id.node(), 7);
            prev = id;
        }
        assert!(prev.timestamp().0 >= before.0);
    }

    #[test]
    fn two_nodes_never_collide() {
        let a = IdGenerator::new(1).unwrap();
        let b = IdGenerator::new(2).unwrap();
        let ids: std::collections::HashSet<_> =
            (0..5000).flat_map(|_| [a.next(), b.next()]).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn node_id_is_bounded_and_ids_parse_strictly() {
        assert!(IdGenerator::new(1024).is_err());
        assert!("abc".parse::<UserId>().is_err());
        assert!("-5".parse::<UserId>().is_err());
        assert!("0".parse::<UserId>().is_err());
        assert!("01".parse::<UserId>().is_err());
        assert!("+1".parse::<UserId>().is_err());
        assert_eq!("42".parse::<UserId>().unwrap().get(), 42);
    }
}
