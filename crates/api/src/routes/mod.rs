pub mod auth;
pub mod media;
pub mod ops;
pub mod posts;
pub mod profile;
pub mod users;
