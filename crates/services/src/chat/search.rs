//! Full-text search over the messages of `me`'s rooms.

use starling_core::live::MessageView;
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{MessageId, Result, RoomId, UserId};

use super::Chat;

impl Chat {
    /// Messages matching every word of `query`, newest first, in one room
    /// of `me`'s or all of them.
    pub async fn search(
        &self,
        me: UserId,
        query: &str,
        room: Option<RoomId>,
        before: Option<MessageId>,
        limit: Limit,
    ) -> Result<Page<MessageView, MessageId>> {
        let words = crate::text::search_words(query)?;
        self.limits
            .check(crate::limits::Action::Search, &me.to_string())
            .await?;
        if let Some(room) = room {
            self.check_member(me, room).await?;
        }
        let mut rows = self
            .store
            .search_messages(me, &words, room, before, limit.fetch())
            .await?;
        let next = limit.cut(&mut rows, |m| m.id);
        Ok(Page {
            items: self.message_views(rows).await?,
            next,
        })
    }
}
