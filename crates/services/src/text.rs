//! User text: the characters it may hold, and what a post's text refers to
//! (`@username` mentions and `#tags`).

use starling_core::types::has_control;
use starling_core::{Error, Result};

/// Refuses control characters in user text, as profiles do (display names and
/// bios use the same rule): `multiline` text (posts, comments, messages, bios)
/// may hold line breaks and tabs, single-line text (names, ids) nothing.
/// A 400 `validation_failed` naming `field`.
pub fn plain(field: &str, text: &str, multiline: bool) -> Result<()> {
    if has_control(text, multiline) {
        return Err(Error::field(field, "must not contain control characters"));
    }
    Ok(())
}

/// Usernames mentioned as `@name` (lower-cased, unique, in order; at most `max`).
/// A mention starts at the beginning or after a character that cannot be part
/// of a name, so `mail@example.org` mentions nobody.
pub fn mentions(text: &str, max: usize) -> Vec<String> {
    scan(text, '@', max, |c| c.is_ascii_alphanumeric() || c == '_')
        .into_iter()
        .filter(|n| (3..=30).contains(&n.len()))
        .collect()
}

/// Tags written as `#tag` (letters, digits, underscores; lower-cased, unique, at most `max`).
pub fn tags(text: &str, max: usize) -> Vec<String> {
    scan(text, '#', max, |c| c.is_alphanumeric() || c == '_')
        .into_iter()
        .filter(|t| t.chars().count() <= 50 && t.chars().any(|c| !c.is_ascii_digit()))
        .collect()
}

/// Normalises a tag given in a URL the same way.
pub fn normalise_tag(raw: &str) -> Option<String> {
    let t = raw.trim_start_matches('#').to_lowercase();
    let ok = !t.is_empty()
        && t.chars().count() <= 50
        && t.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then_some(t)
}

fn scan(text: &str, sigil: char, max: usize, part: impl Fn(char) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary = prev.is_none_or(|p| !part(p) && p != sigil);
        if c == sigil && boundary {
            let start = i + c.len_utf8();
            let mut end = start;
            while let Some(&(j, d)) = chars.peek() {
                if part(d) {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = text[start..end].to_lowercase();
            if !word.is_empty() && !out.contains(&word) {
                out.push(word);
                if out.len() == max {
                    break;
                }
            }
            prev = text[..end].chars().next_back();
            continue;
        }
        prev = Some(c);
    }
    out
}

/// The words of a full-text query, lower-cased: 1 to 10 of at most 50 characters.
pub fn search_words(query: &str) -> Result<Vec<String>> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Err(Error::field("q", "give at least one word to search for"));
    }
    if words.len() > 10 || words.iter().any(|w| w.chars().count() > 50) {
        return Err(Error::field(
            "q",
            "at most 10 words of at most 50 characters",
        ));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_and_tags() {
        let t = "Hi @Alice and @bob_2! mail@example.org @al #Rust #rust #2024 #Café, (#x_y)";
        assert_eq!(mentions(t, 10), ["alice", "bob_2"]);
        assert_eq!(tags(t, 10), ["rust", "café", "x_y"]);
        assert_eq!(mentions("@aaa @bbb @ccc", 2), ["aaa", "bbb"]);
        assert_eq!(normalise_tag("#Rust"), Some("rust".into()));
        assert_eq!(normalise_tag("no spaces"), None);
    }

    #[test]
    fn user_text_has_no_control_characters() {
        assert!(plain("text", "line one\nline two\r\n\tindented", true).is_ok());
        assert!(plain("name", "Room\tname", false).is_err());
        for bad in ["\0", "a\u{7}b", "\u{1b}[31m", "x\u{7f}", "\u{85}"] {
            let e = plain("text", bad, true).unwrap_err();
            assert!(e.to_string().contains("text"), "{bad:?}: {e}");
        }
    }
}
