//! Pages of a keyset-paginated list. Services take the typed position a
//! page starts from and return the position of the next page; only the HTTP
//! edge turns positions into opaque cursor strings and back
//! ([`Position::to_cursor`], [`Position::from_cursor`]).

use crate::cursor::Cursor;
use crate::model::{SearchPosition, UserPosition};
use crate::types::Limit;
use crate::{CommentId, MessageId, NotificationId, PostId, Result, Timestamp, UserId};

/// A place in a list: the sort key of the last item seen.
pub trait Position: Sized {
    fn to_cursor(&self) -> Cursor;
    fn from_cursor(cursor: Cursor) -> Result<Self>;

    /// Decodes an optional cursor parameter; an empty string means "from
    /// the start".
    fn from_param(raw: Option<&str>) -> Result<Option<Self>> {
        Cursor::decode_opt(raw)?.map(Self::from_cursor).transpose()
    }

    fn encode(&self) -> String {
        self.to_cursor().encode()
    }
}

/// Lists ordered by id: the position is the last id seen.
macro_rules! id_position {
    ($($t:ty),*) => {$(
        impl Position for $t {
            fn to_cursor(&self) -> Cursor {
                Cursor::new("", self.get())
            }
            fn from_cursor(cursor: Cursor) -> Result<Self> {
                Ok(<$t>::from_i64(cursor.id))
            }
        }
    )*};
}
id_position!(PostId, CommentId, MessageId, NotificationId);
id_position!(crate::ReportId, crate::AuditId, crate::InviteId, UserId);

impl Position for UserPosition {
    fn to_cursor(&self) -> Cursor {
        Cursor::new(self.at.0.to_string(), self.user_id.get())
    }
    fn from_cursor(cursor: Cursor) -> Result<Self> {
        Ok(UserPosition {
            at: Timestamp(cursor.key_i64()?),
            user_id: UserId::from_i64(cursor.id),
        })
    }
}

impl Position for SearchPosition {
    fn to_cursor(&self) -> Cursor {
        Cursor::new(self.username.clone(), self.rank)
    }
    fn from_cursor(cursor: Cursor) -> Result<Self> {
        Ok(SearchPosition {
            rank: cursor.id,
            username: cursor.key,
        })
    }
}

/// One page of a list, and where the next one starts (None on the last).
#[derive(Debug, Clone)]
pub struct Page<T, P> {
    pub items: Vec<T>,
    pub next: Option<P>,
}

impl Limit {
    /// Trims rows fetched with [`Limit::fetch`] (one more than a page) to
    /// the page; a next page exists when that extra row did.
    pub fn cut<R, P>(self, rows: &mut Vec<R>, position_of: impl Fn(&R) -> P) -> Option<P> {
        let more = rows.len() > self.get() as usize;
        rows.truncate(self.get() as usize);
        if more {
            rows.last().map(position_of)
        } else {
            None
        }
    }
}

impl<T, P> Page<T, P> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, P> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_cursors() {
        let p = UserPosition {
            at: Timestamp(1_700_000_000_123),
            user_id: UserId::from_i64(42),
        };
        assert_eq!(
            UserPosition::from_param(Some(&p.encode())).unwrap(),
            Some(p)
        );
        let s = SearchPosition {
            rank: 1,
            username: "alice".into(),
        };
        assert_eq!(
            SearchPosition::from_param(Some(&s.encode())).unwrap(),
            Some(s)
        );
        let m = MessageId::from_i64(7);
        assert_eq!(MessageId::from_param(Some(&m.encode())).unwrap(), Some(m));
        assert_eq!(PostId::from_param(Some("")).unwrap(), None);
        assert!(UserPosition::from_param(Some(&Cursor::new("x", 1).encode())).is_err());
        assert!(PostId::from_param(Some("!!")).is_err());
    }

    #[test]
    fn cut_keeps_a_page_and_says_where_the_next_starts() {
        let limit = Limit::parse(Some(2)).unwrap();
        let mut rows = vec![5, 4, 3];
        assert_eq!(limit.cut(&mut rows, |r| *r), Some(4));
        assert_eq!(rows, vec![5, 4]);
        let mut rows = vec![5, 4];
        assert_eq!(limit.cut(&mut rows, |r| *r), None);
        assert_eq!(rows, vec![5, 4]);
    }
}
