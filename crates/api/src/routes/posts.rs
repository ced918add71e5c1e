//! /api/posts, /api/comments, /api/feed, /api/tags: posts, loves, comments, feeds.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use starling_core::model::{Feed, LoveTarget};
use starling_core::page::Page;
use starling_core::{CommentId, Error, PostId, UserId};
use starling_services::posts::PostView;
use starling_services::text::normalise_tag;

use crate::dto::{
    Comment, CommentEditRequest, CommentPage, CommentRequest, CreatePostRequest, FeedParams,
    IdsParams, PageParams, Post, PostHistory, PostList, PostPage, PostTextRequest, PostVersion,
    SearchPostsParams, UserPage, rfc3339,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthUser, Json, MaybeUser, Path, Query};
use crate::paging;
use crate::state::AppState;

fn post_page(st: &AppState, p: &Page<PostView, PostId>) -> PostPage {
    PostPage {
        items: p
            .items
            .iter()
            .map(|v| Post::from_view(v, &st.config.public_url))
            .collect(),
        next_cursor: paging::next_cursor(&p.next),
        has_more: None,
    }
}

async fn feed_response(
    st: &AppState,
    viewer: Option<UserId>,
    feed: Feed,
    p: FeedParams,
) -> ApiResult<axum::Json<PostPage>> {
    let posts = &st.services.posts;
    if let Some(since) = p.since.as_deref().filter(|s| !s.is_empty()) {
        let since: PostId = since.parse()?;
        // An empty cursor is the first page, as everywhere: not a cursor.
        if p.cursor.as_deref().is_some_and(|c| !c.is_empty()) {
            return Err(Error::bad_request("invalid_query", "use either cursor or since").into());
        }
        let limit = starling_core::types::Limit::parse(p.limit)?;
        let newer = posts.newer(viewer, feed, since, limit).await?;
        return Ok(axum::Json(PostPage {
            items: newer
                .items
                .iter()
                .map(|v| Post::from_view(v, &st.config.public_url))
                .collect(),
            next_cursor: None,
            has_more: Some(newer.has_more),
        }));
    }
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = posts.feed(viewer, feed, before, limit).await?;
    Ok(axum::Json(post_page(st, &page)))
}

/// Publish a post, optionally with up to 4 of your uploads (`mediaIds`, from
/// `POST /api/media`). With an `Idempotency-Key` header, a retry returns the
/// same post (200) and attaches nothing again. A request that fails writes nothing.
#[utoipa::path(post, path = "/api/posts", tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CreatePostRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries return the same post")),
    responses(
        (status = 201, description = "Created", body = Post),
        (status = 200, description = "A retry with a used Idempotency-Key: the post it made", body = Post),
        (status = 400, description = "Malformed body, bad or repeated media ids", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "An upload in `mediaIds` is someone else's", body = ErrorBody),
        (status = 404, description = "An upload in `mediaIds` does not exist (or was cleaned up)", body = ErrorBody),
        (status = 409, description = "`media_already_attached`: an upload belongs to another post", body = ErrorBody),
        (status = 422, description = "`text_required`, `text_too_long` or `too_many_media`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn create_post(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    headers: HeaderMap,
    Json(req): Json<CreatePostRequest>,
) -> ApiResult<Response> {
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError(Error::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be visible ASCII",
                ))
            })
        })
        .transpose()?;
    let media_ids = req.media_ids.unwrap_or_default();
    let (view, created) = st
        .services
        .posts
        .create(me, req.text, media_ids, key)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(Post::from_view(&view, &st.config.public_url)),
    )
        .into_response())
}

/// Re-read posts by id (refetch): those that still exist, in the order asked.
#[utoipa::path(get, path = "/api/posts", tag = "posts",
    security((), ("bearer" = []), ("cookie" = [])), params(IdsParams),
    responses((status = 200, body = PostList), (status = 400, body = ErrorBody)))]
pub async fn refetch_posts(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(p): Query<IdsParams>,
) -> ApiResult<axum::Json<PostList>> {
    let ids = p
        .ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse::<PostId>)
        .collect::<Result<Vec<_>, _>>()?;
    let views = st.services.posts.refetch(viewer, &ids).await?;
    Ok(axum::Json(PostList {
        items: views
            .iter()
            .map(|v| Post::from_view(v, &st.config.public_url))
            .collect(),
    }))
}

/// One post.
#[utoipa::path(get, path = "/api/posts/{id}", tag = "posts",
    security((), ("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Post), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_post(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<PostId>,
) -> ApiResult<axum::Json<Post>> {
    let v = st.services.posts.get(viewer, id).await?;
    Ok(axum::Json(Post::from_view(&v, &st.config.public_url)))
}

/// Edit your post's text; the previous text is kept in its history.
#[utoipa::path(patch, path = "/api/posts/{id}", tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)), request_body = PostTextRequest,
    responses(
        (status = 200, body = Post),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not your post", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn edit_post(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<PostId>,
    Json(req): Json<PostTextRequest>,
) -> ApiResult<axum::Json<Post>> {
    let v = st.services.posts.edit(me, id, req.text).await?;
    Ok(axum::Json(Post::from_view(&v, &st.config.public_url)))
}

/// Delete your post: it leaves every feed, count and tag page.
#[utoipa::path(delete, path = "/api/posts/{id}", tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not your post", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete_post(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<PostId>,
) -> ApiResult<StatusCode> {
    st.services.posts.delete(me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of a post's text, oldest first.
#[utoipa::path(get, path = "/api/posts/{id}/history", tag = "posts", params(("id" = String, Path)),
    responses((status = 200, body = PostHistory), (status = 404, body = ErrorBody)))]
pub async fn post_history(
    State(st): State<AppState>,
    Path(id): Path<PostId>,
) -> ApiResult<axum::Json<PostHistory>> {
    let versions = st.services.posts.history(id).await?;
    Ok(axum::Json(PostHistory {
        items: versions
            .into_iter()
            .map(|v| PostVersion {
                version: v.version,
                text: v.text,
                created_at: rfc3339(v.created_at),
            })
            .collect(),
    }))
}

async fn love(st: &AppState, me: UserId, target: LoveTarget, on: bool) -> ApiResult<Response> {
    st.services.posts.love(me, target, on).await?;
    Ok(match target {
        LoveTarget::Post(id) => {
            let v = st.services.posts.get_fresh(Some(me), id).await?;
            axum::Json(Post::from_view(&v, &st.config.public_url)).into_response()
        }
        LoveTarget::Comment(id) => {
            let v = st.services.posts.get_comment(Some(me), id).await?;
            axum::Json(Comment::from_view(&v, &st.config.public_url)).into_response()
        }
    })
}

/// Love a post (idempotent).
#[utoipa::path(put, path = "/api/posts/{id}/love", tag = "posts",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "The post with its count", body = Post), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody)))]
pub async fn love_post(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<PostId>,
) -> ApiResult<Response> {
    love(&st, me, LoveTarget::Post(id), true).await
}

/// Take back a love (idempotent).
#[utoipa::path(delete, path = "/api/posts/{id}/love", tag = "posts",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Post), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody)))]
pub async fn unlove_post(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<PostId>,
) -> ApiResult<Response> {
    love(&st, me, LoveTarget::Post(id), false).await
}

/// Who loves a post, most recent first.
#[utoipa::path(get, path = "/api/posts/{id}/lovers", tag = "posts",
    security((), ("bearer" = []), ("cookie" = [])), params(("id" = String, Path), PageParams),
    responses((status = 200, body = UserPage), (status = 404, body = ErrorBody)))]
pub async fn post_lovers(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<PostId>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<UserPage>> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .posts
        .lovers(viewer, LoveTarget::Post(id), after, limit)
        .await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

fn comment_page(
    st: &AppState,
    p: &Page<starling_services::posts::CommentView, CommentId>,
) -> CommentPage {
    CommentPage {
        items: p
            .items
            .iter()
            .map(|c| Comment::from_view(c, &st.config.public_url))
            .collect(),
        next_cursor: paging::next_cursor(&p.next),
    }
}

/// Comment on a post, or reply to a comment with `parentId`.
#[utoipa::path(post, path = "/api/posts/{id}/comments", tag = "comments",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)), request_body = CommentRequest,
    responses(
        (status = 201, body = Comment),
        (status = 401, body = ErrorBody),
        (status = 404, description = "The post or the parent comment is gone", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
    ))]
pub async fn create_comment(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<PostId>,
    Json(req): Json<CommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<Comment>)> {
    let parent = req
        .parent_id
        .as_deref()
        .map(str::parse::<CommentId>)
        .transpose()?;
    let c = st.services.posts.comment(me, id, req.text, parent).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Comment::from_view(&c, &st.config.public_url)),
    ))
}

/// A post's top-level comments, oldest first, each with its `replyCount`.
#[utoipa::path(get, path = "/api/posts/{id}/comments", tag = "comments",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = CommentPage), (status = 404, body = ErrorBody)))]
pub async fn list_comments(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<PostId>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<CommentPage>> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .posts
        .comments(viewer, id, None, after, limit)
        .await?;
    Ok(axum::Json(comment_page(&st, &page)))
}

/// Replies to a comment, oldest first.
#[utoipa::path(get, path = "/api/comments/{id}/replies", tag = "comments",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = CommentPage), (status = 404, body = ErrorBody)))]
pub async fn list_replies(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<CommentId>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<CommentPage>> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st.services.posts.replies(viewer, id, after, limit).await?;
    Ok(axum::Json(comment_page(&st, &page)))
}

/// Edit your comment.
#[utoipa::path(patch, path = "/api/comments/{id}", tag = "comments",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path)), request_body = CommentEditRequest,
    responses(
        (status = 200, body = Comment),
        (status = 403, description = "Not your comment", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn edit_comment(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<CommentId>,
    Json(req): Json<CommentEditRequest>,
) -> ApiResult<axum::Json<Comment>> {
    let c = st.services.posts.edit_comment(me, id, req.text).await?;
    Ok(axum::Json(Comment::from_view(&c, &st.config.public_url)))
}

/// Delete a comment (its author, or the post's author). One with replies stays as a placeholder.
#[utoipa::path(delete, path = "/api/comments/{id}", tag = "comments",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete_comment(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<CommentId>,
) -> ApiResult<StatusCode> {
    st.services.posts.delete_comment(me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Love a comment (idempotent).
#[utoipa::path(put, path = "/api/comments/{id}/love", tag = "comments",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Comment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody)))]
pub async fn love_comment(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<CommentId>,
) -> ApiResult<Response> {
    love(&st, me, LoveTarget::Comment(id), true).await
}

/// Take back a love from a comment (idempotent).
#[utoipa::path(delete, path = "/api/comments/{id}/love", tag = "comments",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Comment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody)))]
pub async fn unlove_comment(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<CommentId>,
) -> ApiResult<Response> {
    love(&st, me, LoveTarget::Comment(id), false).await
}

/// Who loves a comment, most recent first.
#[utoipa::path(get, path = "/api/comments/{id}/lovers", tag = "comments",
    security((), ("bearer" = []), ("cookie" = [])), params(("id" = String, Path), PageParams),
    responses((status = 200, body = UserPage), (status = 404, body = ErrorBody)))]
pub async fn comment_lovers(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<CommentId>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<UserPage>> {
    let (after, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .posts
        .lovers(viewer, LoveTarget::Comment(id), after, limit)
        .await?;
    Ok(axum::Json(UserPage::from_page(
        &page,
        &st.config.public_url,
    )))
}

/// Your home feed: your posts and those of whom you follow, newest first.
/// With `since`, only posts newer than that one (the "N new posts" refresh).
#[utoipa::path(get, path = "/api/feed", tag = "feeds",
    security(("bearer" = []), ("cookie" = [])), params(FeedParams),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn home_feed(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<FeedParams>,
) -> ApiResult<axum::Json<PostPage>> {
    feed_response(&st, Some(me), Feed::Home(me), p).await
}

/// The community feed: everyone's posts, newest first.
#[utoipa::path(get, path = "/api/feed/public", tag = "feeds",
    security((), ("bearer" = []), ("cookie" = [])), params(FeedParams),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody)))]
pub async fn public_feed(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(p): Query<FeedParams>,
) -> ApiResult<axum::Json<PostPage>> {
    feed_response(&st, viewer, Feed::Public, p).await
}

/// One user's posts, newest first.
#[utoipa::path(get, path = "/api/users/{id}/posts", tag = "feeds",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), FeedParams),
    responses((status = 200, body = PostPage), (status = 404, body = ErrorBody)))]
pub async fn user_posts(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<UserId>,
    Query(p): Query<FeedParams>,
) -> ApiResult<axum::Json<PostPage>> {
    feed_response(&st, viewer, Feed::Author(id), p).await
}

/// Posts carrying a tag, newest first.
#[utoipa::path(get, path = "/api/tags/{tag}/posts", tag = "feeds",
    security((), ("bearer" = []), ("cookie" = [])),
    params(("tag" = String, Path), FeedParams),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody)))]
pub async fn tag_posts(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(tag): Path<String>,
    Query(p): Query<FeedParams>,
) -> ApiResult<axum::Json<PostPage>> {
    let tag = normalise_tag(&tag)
        .ok_or_else(|| ApiError(Error::bad_request("invalid_tag", "not a valid tag")))?;
    feed_response(&st, viewer, Feed::Tag(tag), p).await
}

/// Full-text search of posts (every word must match), newest first.
#[utoipa::path(get, path = "/api/search/posts", tag = "feeds",
    security((), ("bearer" = []), ("cookie" = [])), params(SearchPostsParams),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody)))]
pub async fn search_posts(
    State(st): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(p): Query<SearchPostsParams>,
) -> ApiResult<axum::Json<PostPage>> {
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let page = st
        .services
        .posts
        .search(viewer, &p.q, before, limit)
        .await?;
    Ok(axum::Json(post_page(&st, &page)))
}
