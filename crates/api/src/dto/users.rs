//! /api/users: users as others see them, pages of them, search.

use serde::{Deserialize, Serialize};
use starling_core::page::Page;
use starling_services::users::UserView;
use utoipa::{IntoParams, ToSchema};

use super::common::{media_url, rfc3339};

/// A user as the caller sees them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[schema(example = "7212470313345024")]
    pub id: String,
    pub username: String,
    /// Null when the user has not set one (show the username).
    pub display_name: Option<String>,
    pub bio: String,
    /// Null when the user has no avatar.
    pub avatar_url: Option<String>,
    pub follower_count: i64,
    pub following_count: i64,
    /// Whether the caller follows this user (false when anonymous or for yourself).
    pub followed_by_me: bool,
    /// Whether the caller blocks this user (false when anonymous or for
    /// yourself). Whether this user blocks the caller is never told.
    pub blocking: bool,
    /// Whether the caller mutes this user (false when anonymous or for yourself).
    pub muting: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl User {
    pub fn from_view(v: &UserView, public_url: &str) -> Self {
        let r = &v.record;
        User {
            id: r.id.to_string(),
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            bio: r.bio.clone(),
            avatar_url: r.avatar_key.as_deref().map(|k| media_url(public_url, k)),
            follower_count: r.follower_count,
            following_count: r.following_count,
            followed_by_me: v.followed_by_me,
            blocking: v.blocking,
            muting: v.muting,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl UserPage {
    pub fn from_page<P: starling_core::page::Position>(
        p: &Page<UserView, P>,
        public_url: &str,
    ) -> Self {
        UserPage {
            items: p
                .items
                .iter()
                .map(|u| User::from_view(u, public_url))
                .collect(),
            next_cursor: crate::paging::next_cursor(&p.next),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Matches usernames and display names; prefix matches come first. At
    /// most 100 characters; empty lists everyone.
    #[serde(default)]
    #[param(max_length = 100)]
    pub q: String,
    pub cursor: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<i64>,
}
