//! /api/chat: rooms, members, messages, read marks, search; and presence.
//! The chat service announces each change to connected sockets itself, as
//! it does for the socket events.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use starling_core::live::MessageView;
use starling_core::page::Page;
use starling_core::{MessageId, RoomId, UserId};
use starling_services::chat::Destination;

use crate::dto::{
    AddMemberRequest, ChatMessage, ChatMessagePage, ChatPageParams, ChatRoom, ChatRoomList,
    ChatSearchParams, ChatUnread, CreateRoomRequest, MessageIds, Presence, ReadMark, ReadRequest,
    RenameRoomRequest, RoomUnread, SendMessageRequest,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, Json, Path, Query};
use crate::paging;
use crate::state::AppState;

fn page(st: &AppState, p: Page<MessageView, MessageId>) -> ChatMessagePage {
    ChatMessagePage {
        items: p
            .items
            .iter()
            .map(|m| ChatMessage::from_view(m, &st.config.public_url))
            .collect(),
        next_cursor: paging::next_cursor(&p.next),
    }
}

/// Your rooms, latest activity first.
#[utoipa::path(get, path = "/api/chat/rooms", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ChatRoomList), (status = 401, body = ErrorBody)))]
pub async fn list_rooms(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<axum::Json<ChatRoomList>> {
    let rooms = st.services.chat.rooms(me).await?;
    Ok(axum::Json(ChatRoomList {
        items: rooms
            .iter()
            .map(|r| ChatRoom::from_view(r, &st.config.public_url))
            .collect(),
    }))
}

/// Create a group channel; you are its owner and a member.
#[utoipa::path(post, path = "/api/chat/rooms", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), request_body = CreateRoomRequest,
    responses(
        (status = 201, body = ChatRoom),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "`rate_limited`: see Retry-After", body = ErrorBody),
        (status = 404, description = "`not_found`: a member id is nobody's", body = ErrorBody),
    ))]
pub async fn create_room(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<CreateRoomRequest>,
) -> ApiResult<impl IntoResponse> {
    let room = st
        .services
        .chat
        .create_group(me, &req.name, &req.member_ids)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ChatRoom::from_view(&room, &st.config.public_url)),
    ))
}

/// One of your rooms.
#[utoipa::path(get, path = "/api/chat/rooms/{id}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ChatRoom), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_room(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
) -> ApiResult<axum::Json<ChatRoom>> {
    let room = st.services.chat.room(me, id).await?;
    Ok(axum::Json(ChatRoom::from_view(
        &room,
        &st.config.public_url,
    )))
}

/// Rename a group (its owner only).
#[utoipa::path(patch, path = "/api/chat/rooms/{id}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    request_body = RenameRoomRequest,
    responses(
        (status = 200, body = ChatRoom),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`direct_room`: a direct chat has no name, owner or members to change", body = ErrorBody),
    ))]
pub async fn rename_room(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<RenameRoomRequest>,
) -> ApiResult<axum::Json<ChatRoom>> {
    let room = st.services.chat.rename(me, id, &req.name).await?;
    Ok(axum::Json(ChatRoom::from_view(
        &room,
        &st.config.public_url,
    )))
}

/// Delete a group (its owner only).
#[utoipa::path(delete, path = "/api/chat/rooms/{id}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`direct_room`: a direct chat has no name, owner or members to change", body = ErrorBody)))]
pub async fn delete_room(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
) -> ApiResult<StatusCode> {
    st.services.chat.delete(me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a member to a group (its owner only).
#[utoipa::path(post, path = "/api/chat/rooms/{id}/members", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    request_body = AddMemberRequest,
    responses(
        (status = 200, body = ChatRoom),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The group is full", body = ErrorBody),
        (status = 422, description = "`direct_room`: a direct chat has no name, owner or members to change", body = ErrorBody),
    ))]
pub async fn add_member(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<AddMemberRequest>,
) -> ApiResult<axum::Json<ChatRoom>> {
    let room = st.services.chat.add_member(me, id, req.user_id).await?;
    Ok(axum::Json(ChatRoom::from_view(
        &room,
        &st.config.public_url,
    )))
}

/// Remove a member (the owner), or leave (yourself).
#[utoipa::path(delete, path = "/api/chat/rooms/{id}/members/{userId}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), ("userId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`direct_room`: a direct chat has no name, owner or members to change", body = ErrorBody)))]
pub async fn remove_member(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, user)): Path<(RoomId, UserId)>,
) -> ApiResult<StatusCode> {
    st.services.chat.remove_member(me, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your direct room with a user, if you have one. Deprecated: it used to
/// create the room, which a GET must not do; it no longer creates (404 until
/// `POST /api/chat/direct/{partnerId}` has opened the room).
#[utoipa::path(get, path = "/api/chat/direct/{partnerId}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("partnerId" = String, Path)),
    responses((status = 200, body = ChatRoom),
        (status = 404, description = "No such user, or no direct room with them yet", body = ErrorBody),
        (status = 422, description = "`self_chat`", body = ErrorBody)))]
pub async fn direct_room(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(partner): Path<UserId>,
) -> ApiResult<axum::Json<ChatRoom>> {
    let room = st.services.chat.existing_direct(me, partner).await?;
    Ok(axum::Json(ChatRoom::from_view(
        &room,
        &st.config.public_url,
    )))
}

/// Opens your direct room with a user: creates it on first use and returns
/// the same room every time after (from either side).
#[utoipa::path(post, path = "/api/chat/direct/{partnerId}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("partnerId" = String, Path)),
    responses((status = 200, body = ChatRoom),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "`self_chat`", body = ErrorBody)))]
pub async fn open_direct_room(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(partner): Path<UserId>,
) -> ApiResult<axum::Json<ChatRoom>> {
    let room = st.services.chat.direct(me, partner).await?;
    Ok(axum::Json(ChatRoom::from_view(
        &room,
        &st.config.public_url,
    )))
}

/// A room's messages, newest first.
#[utoipa::path(get, path = "/api/chat/rooms/{id}/messages", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), ChatPageParams),
    responses((status = 200, body = ChatMessagePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
    Query(p): Query<ChatPageParams>,
) -> ApiResult<axum::Json<ChatMessagePage>> {
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let items = st.services.chat.history(me, id, before, limit).await?;
    Ok(axum::Json(page(&st, items)))
}

/// Send a message over HTTP (delivered live like a socket's). A retry with
/// the same `clientMsgId` answers 200 with the stored message.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/messages", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    request_body = SendMessageRequest,
    responses(
        (status = 201, body = ChatMessage),
        (status = 200, description = "A retry: the message sent before", body = ChatMessage),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn send_message(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<SendMessageRequest>,
) -> ApiResult<impl IntoResponse> {
    let sent = st
        .services
        .chat
        .send(me, Destination::Room(id), &req.text, &req.client_msg_id)
        .await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(ChatMessage::from_view(&sent.message, &st.config.public_url)),
    ))
}

/// Mark everything up to a message read.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/read", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    request_body = ReadRequest,
    responses((status = 200, body = ReadMark), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<RoomId>,
    Json(req): Json<ReadRequest>,
) -> ApiResult<axum::Json<ReadMark>> {
    let mark = st.services.chat.read(me, id, req.message_id).await?;
    Ok(axum::Json(ReadMark::from(&mark)))
}

/// Hide messages for yourself.
#[utoipa::path(post, path = "/api/chat/messages/remove", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), request_body = MessageIds,
    responses((status = 200, body = MessageIds), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_messages(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<MessageIds>,
) -> ApiResult<axum::Json<MessageIds>> {
    let message_ids = st.services.chat.remove(me, &req.message_ids).await?;
    Ok(axum::Json(MessageIds { message_ids }))
}

/// Retract your own messages for everyone; a marker stays.
#[utoipa::path(post, path = "/api/chat/messages/retract", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), request_body = MessageIds,
    responses(
        (status = 200, body = MessageIds),
        (status = 400, body = ErrorBody),
        (status = 403, description = "Not all are yours; nothing changed", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn retract_messages(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Json(req): Json<MessageIds>,
) -> ApiResult<axum::Json<MessageIds>> {
    let message_ids = st.services.chat.retract(me, &req.message_ids).await?;
    Ok(axum::Json(MessageIds { message_ids }))
}

/// Your unread messages, in total and per room.
#[utoipa::path(get, path = "/api/chat/unread-count", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ChatUnread), (status = 401, body = ErrorBody)))]
pub async fn unread_count(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<axum::Json<ChatUnread>> {
    let (total, rooms) = st.services.chat.unread(me).await?;
    Ok(axum::Json(ChatUnread {
        total,
        rooms: rooms
            .into_iter()
            .map(|(room, count)| RoomUnread {
                room_id: room.to_string(),
                count,
            })
            .collect(),
    }))
}

/// Full-text search over the messages of your rooms.
#[utoipa::path(get, path = "/api/chat/search", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(ChatSearchParams),
    responses((status = 200, body = ChatMessagePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Query(p): Query<ChatSearchParams>,
) -> ApiResult<axum::Json<ChatMessagePage>> {
    let (before, limit) = paging::query(p.cursor.as_deref(), p.limit)?;
    let items = st
        .services
        .chat
        .search(me, &p.q, p.room_id, before, limit)
        .await?;
    Ok(axum::Json(page(&st, items)))
}

/// Whether a user is connected to chat, and when they were last seen.
#[utoipa::path(get, path = "/api/users/{id}/presence", tag = "chat",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Presence), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn presence(
    State(st): State<AppState>,
    AuthUser(_me): AuthUser,
    Path(user): Path<UserId>,
) -> ApiResult<axum::Json<Presence>> {
    Ok(axum::Json(st.services.chat.presence(user).await?.into()))
}
