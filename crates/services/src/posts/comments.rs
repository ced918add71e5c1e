//! Comments and replies: writing, editing, deleting (by the comment's or
//! the post's author), and paging them oldest first.

use std::collections::HashSet;

use starling_core::model::{CommentRecord, NewComment};
use starling_core::page::Page;
use starling_core::types::Limit;
use starling_core::{CommentId, Error, PostId, Result, Timestamp, UserId};

use starling_core::events::DomainEvent;
use starling_core::model::Subject;

use super::{COMMENT_MAX_CHARS, CommentView, Posts, check_text, visibility};
use crate::limits::Action;
use crate::relations::refill;

impl Posts {
    pub async fn comment(
        &self,
        author: UserId,
        post: PostId,
        text: String,
        parent: Option<CommentId>,
    ) -> Result<CommentView> {
        check_text(&text, COMMENT_MAX_CHARS, false)?;
        self.limits
            .check(Action::Comment, &author.to_string())
            .await?;
        // Nobody comments across a block: on the post's author's post, or
        // in reply to the parent's author.
        let owner = self.get(None, post).await?.record.author_id;
        self.relations.ensure_not_blocked(author, owner).await?;
        if let Some(parent) = parent {
            let p = self.ports.comments.comment(parent).await?;
            self.relations
                .ensure_not_blocked(author, p.author_id)
                .await?;
        }
        let id = CommentId(self.ids.next());
        let event = self.outbox.event(&DomainEvent::CommentCreated {
            actor: author,
            comment: id,
            post,
            parent,
            mentions: self.resolve_mentions(&text).await?,
        })?;
        let record = self
            .ports
            .comments
            .create_comment(NewComment {
                id,
                post_id: post,
                parent_id: parent,
                author_id: author,
                text,
                created_at: Timestamp::now(),
                event,
            })
            .await;
        self.invalidate(post).await;
        let record = record?;
        self.outbox.committed();
        Ok(self
            .comment_views(Some(author), vec![record])
            .await?
            .remove(0))
    }

    pub async fn get_comment(&self, viewer: Option<UserId>, id: CommentId) -> Result<CommentView> {
        let record = self.ports.comments.comment(id).await?;
        Ok(self.comment_views(viewer, vec![record]).await?.remove(0))
    }

    /// Top-level comments of a post (`parent` None) or replies to a comment, oldest first.
    pub async fn comments(
        &self,
        viewer: Option<UserId>,
        post: PostId,
        parent: Option<CommentId>,
        after: Option<CommentId>,
        limit: Limit,
    ) -> Result<Page<CommentView, CommentId>> {
        // Comments by those the viewer blocks or mutes, or who block the
        // viewer, and by suspended accounts, are left out.
        let rel = self.relations.of(viewer).await?;
        refill(
            after,
            limit,
            |c: &CommentView| !rel.hides(c.record.author_id) && visibility::comment_shown(c),
            |c: &CommentView| c.record.id,
            |after, limit| async move {
                let mut rows = self
                    .ports
                    .comments
                    .comments(post, parent, after, limit.fetch())
                    .await?;
                let next = limit.cut(&mut rows, |c| c.id);
                let items = self.comment_views(viewer, rows).await?;
                Ok(Page { items, next })
            },
        )
        .await
    }

    pub async fn replies(
        &self,
        viewer: Option<UserId>,
        comment: CommentId,
        after: Option<CommentId>,
        limit: Limit,
    ) -> Result<Page<CommentView, CommentId>> {
        let parent = self.ports.comments.comment(comment).await?;
        self.comments(viewer, parent.post_id, Some(comment), after, limit)
            .await
    }

    pub async fn edit_comment(
        &self,
        user: UserId,
        id: CommentId,
        text: String,
    ) -> Result<CommentView> {
        check_text(&text, COMMENT_MAX_CHARS, false)?;
        self.limits.check(Action::Edit, &user.to_string()).await?;
        let c = self.ports.comments.comment(id).await?;
        if c.deleted {
            return Err(Error::not_found("comment"));
        }
        if c.author_id != user {
            return Err(Error::forbidden("only the author can edit a comment"));
        }
        let record = self
            .ports
            .comments
            .edit_comment(id, &text, Timestamp::now())
            .await?;
        Ok(self
            .comment_views(Some(user), vec![record])
            .await?
            .remove(0))
    }

    /// Its author or the post's author may delete a comment.
    pub async fn delete_comment(&self, user: UserId, id: CommentId) -> Result<()> {
        self.limits.check(Action::Edit, &user.to_string()).await?;
        let c = self.ports.comments.comment(id).await?;
        if c.deleted {
            return Err(Error::not_found("comment"));
        }
        if c.author_id != user {
            let post = self.get(None, c.post_id).await?;
            if post.record.author_id != user {
                return Err(Error::forbidden(
                    "only the comment's author or the post's author can delete it",
                ));
            }
        }
        let r = self
            .ports
            .comments
            .delete_comment(id, Timestamp::now())
            .await;
        self.invalidate(c.post_id).await;
        r?;
        self.notifications.forget(Subject::Comment(id)).await;
        Ok(())
    }

    pub(super) async fn comment_views(
        &self,
        viewer: Option<UserId>,
        records: Vec<CommentRecord>,
    ) -> Result<Vec<CommentView>> {
        let authors = self
            .authors(records.iter().map(|c| c.author_id).collect())
            .await?;
        let loved = match viewer {
            Some(v) => {
                let raw: Vec<i64> = records.iter().map(|c| c.id.get()).collect();
                self.loved_among(v, &raw, true).await?
            }
            None => HashSet::new(),
        };
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let author = authors.get(&record.author_id)?.clone();
                Some(CommentView {
                    loved_by_me: loved.contains(&record.id.get()),
                    author,
                    record,
                })
            })
            .collect())
    }
}
