//! Validated value types: parse, don't validate. A `Username` that exists is valid.

use std::fmt;

use crate::{Error, Result};

/// 3-30 characters of `[a-z0-9_]`. Input is lower-cased first, so usernames are
/// unique case-insensitively and stored in one canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim().to_ascii_lowercase();
        let n = s.chars().count();
        if !(3..=30).contains(&n) {
            return Err(Error::field("username", "must be 3 to 30 characters long"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(Error::field(
                "username",
                "may contain only letters a-z, digits and underscores",
            ));
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, structurally checked and lower-cased (unique case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim().to_lowercase();
        let bad = || Error::field("email", "must be a valid email address");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(bad());
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 8-256 characters. Never logged, never stored.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self> {
        let n = raw.chars().count();
        if !(8..=256).contains(&n) {
            return Err(Error::field("password", "must be 8 to 256 characters long"));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Whether `s` holds a control character; with `allow_newlines`, line breaks
/// (`\n`, `\r`) and tabs are not counted. The one rule for all user text
/// (`starling_services::text::plain` applies it to posts, comments, chat).
pub fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
}

/// 1-50 characters, no control characters. Empty input means "no display name".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX: usize = 50;

    /// `Ok(None)` for blank input: the user clears their display name.
    pub fn parse(raw: &str) -> Result<Option<Self>> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > Self::MAX {
            return Err(Error::field(
                "displayName",
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        if has_control(s, false) {
            return Err(Error::field(
                "displayName",
                "must not contain control characters",
            ));
        }
        Ok(Some(DisplayName(s.to_owned())))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Up to 500 characters; line breaks allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub const MAX: usize = 500;

    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        if s.chars().count() > Self::MAX {
            return Err(Error::field(
                "bio",
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        if has_control(s, true) {
            return Err(Error::field("bio", "must not contain control characters"));
        }
        Ok(Bio(s.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A page size: 1-100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: u32 = 20;
    pub const MAX: u32 = 100;

    pub fn parse(raw: Option<i64>) -> Result<Self> {
        match raw {
            None => Ok(Limit(Self::DEFAULT)),
            Some(n) if (1..=i64::from(Self::MAX)).contains(&n) => Ok(Limit(n as u32)),
            Some(_) => Err(Error::field("limit", "must be between 1 and 100")),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// Rows to fetch for a page: one more than it holds, to learn whether a
    /// next page exists.
    pub fn fetch(self) -> u32 {
        self.0 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Alice_01").unwrap().as_str(), "alice_01");
        for bad in ["ab", "a-b-c", "élodie", "has space", &"x".repeat(31), ""] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert!(Username::parse(&"x".repeat(30)).is_ok());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Bob@Example.ORG ").unwrap().as_str(),
            "bob@example.org"
        );
        for bad in [
            "bob",
            "bob@",
            "@x.org",
            "bob@localhost",
            "b b@x.org",
            "a@b@c.org",
            "a@-x.org",
            "a@x..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_count_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(256)).is_ok());
        assert!(Password::parse(&"é".repeat(257)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret123").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn profile_fields() {
        assert_eq!(DisplayName::parse("   ").unwrap(), None);
        assert!(DisplayName::parse(&"a".repeat(51)).is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(Bio::parse(&"b".repeat(500)).is_ok());
        assert!(Bio::parse(&"b".repeat(501)).is_err());
        assert!(Bio::parse("line one\nline two").is_ok());
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(101)).is_err());
        assert_eq!(Limit::parse(None).unwrap().get(), 20);
    }
}
