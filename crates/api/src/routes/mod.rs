pub mod auth;
pub mod chat;
pub mod media;
pub mod notifications;
pub mod ops;
pub mod posts;
pub mod profile;
pub mod users;
