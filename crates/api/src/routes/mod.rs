pub mod auth;
pub mod media;
pub mod ops;
pub mod profile;
pub mod users;
