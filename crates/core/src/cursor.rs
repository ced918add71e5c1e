//! Opaque pagination cursors. Clients get a base64url string and hand it back;
//! what is inside (a sort key and a tiebreaker) is ours to change.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Result};

/// A keyset position: the sort key of the last item seen and its id as tiebreaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub id: i64,
}

impl Cursor {
    pub fn new(key: impl Into<String>, id: i64) -> Self {
        Cursor {
            key: key.into(),
            id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.id, self.key))
    }

    pub fn decode(raw: &str) -> Result<Self> {
        let bad = || Error::bad_request("invalid_cursor", "the cursor is not valid");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (id, key) = text.split_once('\n').ok_or_else(bad)?;
        let id = id.parse().map_err(|_| bad())?;
        Ok(Cursor {
            key: key.to_owned(),
            id,
        })
    }

    /// Decodes an optional query parameter; an empty string means "first page".
    pub fn decode_opt(raw: Option<&str>) -> Result<Option<Self>> {
        match raw {
            None | Some("") => Ok(None),
            Some(s) => Self::decode(s).map(Some),
        }
    }

    pub fn key_i64(&self) -> Result<i64> {
        self.key
            .parse()
            .map_err(|_| Error::bad_request("invalid_cursor", "the cursor is not valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let c = Cursor::new("0\nalice", 42);
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode("aGVsbG8").is_err());
        assert_eq!(Cursor::decode_opt(Some("")).unwrap(), None);
    }
}
