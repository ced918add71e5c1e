//! Account standing at read time: a suspended author's posts and comments
//! are hidden from everyone, a silenced author's from the public surfaces
//! (the public feed, tag feeds, search) but not from followers or their
//! profile. Decided from the author records the views already carry (read
//! through the user cache), so cached timelines need no rebuild: lifting the
//! standing shows everything again.
//!
//! One small step applied after a page is assembled, apart from the
//! per-viewer filters (blocks and mutes) so each can change on its own.

use starling_core::model::{Feed, UserRecord};

use super::{CommentView, PostView};

/// Where content is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// Home feeds, profiles, single posts, comment lists.
    Personal,
    /// The public feed, tag feeds and search.
    Public,
}

impl Surface {
    pub(crate) fn of(feed: &Feed) -> Surface {
        match feed {
            Feed::Public | Feed::Tag(_) => Surface::Public,
            Feed::Home(_) | Feed::Author(_) | Feed::FollowedCelebrities { .. } => Surface::Personal,
        }
    }
}

/// Whether `author`'s content is shown on `surface`.
pub(crate) fn shown(author: &UserRecord, surface: Surface) -> bool {
    let hidden_here = match surface {
        Surface::Personal => false,
        Surface::Public => author.is_silenced(),
    };
    !author.is_suspended() && !hidden_here
}

/// Leaves out posts whose author is hidden on `surface`.
pub(crate) fn posts(items: &mut Vec<PostView>, surface: Surface) {
    items.retain(|p| shown(&p.author, surface));
}

/// Whether a comment is shown: not when its author is suspended.
pub(crate) fn comment_shown(c: &CommentView) -> bool {
    shown(&c.author, Surface::Personal)
}
