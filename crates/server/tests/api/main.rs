//! Black-box tests of the HTTP API against the real server.
#![allow(clippy::unwrap_used)]

mod helpers;
mod sessions;
mod sio;

mod account;
mod auth;
mod bad_input;
mod chat;
mod delivery;
mod fanout;
mod feeds;
mod limits;
mod media;
mod notifications;
mod ops;
mod posts;
mod profile;
mod transport;
mod users;
mod web;
mod web_types;
