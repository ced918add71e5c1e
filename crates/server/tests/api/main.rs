//! Black-box tests of the HTTP API against the real server.
#![allow(clippy::unwrap_used)]

mod helpers;
mod sessions;
mod sio;

mod account;
mod auth;
mod bad_input;
mod blocks;
mod chat;
mod deletion;
mod delivery;
mod fanout;
mod feeds;
mod limits;
mod media;
mod moderation;
mod notifications;
mod ops;
mod posts;
mod profile;
mod transport;
mod users;
mod web;
mod web_types;
