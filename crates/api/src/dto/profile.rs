//! /api/profile: your own profile and its changes.

use serde::{Deserialize, Deserializer, Serialize};
use starling_services::users::UserView;
use utoipa::ToSchema;

use super::users::User;

/// Your own profile: a user plus what only you see.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(flatten)]
    pub user: User,
    pub email: String,
    /// `user`, `moderator` or `admin`.
    #[schema(example = "user")]
    pub role: String,
}

impl Profile {
    pub fn from_view(v: &UserView, public_url: &str) -> Self {
        Profile {
            email: v.record.email.clone(),
            role: v.record.role.as_str().to_owned(),
            user: User::from_view(v, public_url),
        }
    }
}

/// Distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// Up to 50 characters, no control characters; null or blank clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 50, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<Option<String>>,
    /// Up to 500 characters, no control characters but line breaks and tabs; null clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500, pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub bio: Option<Option<String>>,
}

/// Multipart form with one field, `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AvatarUploadRequest {
    /// PNG, JPEG, WebP or GIF; at most 5 MiB by default.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// Your current password.
    #[schema(min_length = 1)]
    pub password: String,
}

/// The account is deleted; its data is being removed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDeletion {
    /// Always `deleting`.
    #[schema(example = "deleting")]
    pub status: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(min_length = 1)]
    pub current_password: String,
    /// 8-256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}
