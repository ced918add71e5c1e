//! Wire types: JSON in camelCase, ids as strings, times as RFC 3339 UTC.
//!
//! One module per file of `routes/`, holding the types that file sends and
//! takes; [`common`] holds what several share. Everything is re-exported
//! here, so `crate::dto::Post` names a type wherever it lives.
//!
//! # Naming
//!
//! A wire type is named for what it is on the wire, never for its role in
//! the code: no `Dto` (or `Response`) suffix, so `Post`, `Media`, `Session`,
//! `ReadMark`. The OpenAPI schema takes the same name, so every name is
//! unique across this module. Three kinds carry a suffix:
//!
//! - a JSON or multipart body a client sends ends in `Request`
//!   (`CreatePostRequest`, `MediaUploadRequest`);
//! - a query string ends in `Params` (`FeedParams`);
//! - a page of a list, `{items, nextCursor}`, ends in `Page` (`PostPage`);
//!   a whole list without a cursor ends in `List` (`ChatRoomList`).
//!
//! A body that goes both ways is named for its content (`MessageIds`).
//! Elsewhere, core's stored rows are `…Record` and the services' composed
//! read models `…View`; the types here are built from those.

pub mod auth;
pub mod chat;
pub mod common;
pub mod media;
pub mod moderation;
pub mod notifications;
pub mod ops;
pub mod posts;
pub mod profile;
pub mod users;

pub use auth::*;
pub use chat::*;
pub use common::*;
pub use media::*;
pub use moderation::*;
pub use notifications::*;
pub use ops::*;
pub use posts::*;
pub use profile::*;
pub use users::*;
