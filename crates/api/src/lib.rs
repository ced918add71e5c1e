//! The HTTP API: axum routers per area with thin handlers (extract, authorise,
//! call one service, map to a DTO), one error mapping, OpenAPI from the code.

pub mod dto;
pub mod error;
pub mod extract;
pub mod fanout;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod realtime;
pub mod router;
pub mod routes;
pub mod state;
pub mod web;

pub use router::{api_router, ops_router};
pub use state::{ApiConfig, AppState, AppStateInner, NamedCheck};
