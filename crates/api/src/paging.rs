//! Cursors at the HTTP edge: a request's `cursor` and `limit` become the
//! typed position and page size the services take, and a page's next
//! position becomes its `nextCursor`.

use starling_core::Result;
use starling_core::page::Position;
use starling_core::types::Limit;

/// The page size, then the position (so a bad limit is reported first).
pub fn query<P: Position>(cursor: Option<&str>, limit: Option<i64>) -> Result<(Option<P>, Limit)> {
    let limit = Limit::parse(limit)?;
    Ok((P::from_param(cursor)?, limit))
}

/// The opaque cursor of the next page, if there is one.
pub fn next_cursor<P: Position>(next: &Option<P>) -> Option<String> {
    next.as_ref().map(Position::encode)
}
