//! The in-process event bus: `publish` runs the handlers of every matching
//! consumer group before it returns, so the outbox relay that calls it is the
//! only place events wait and are retried.
//!
//! There is no queue and no retry here. A handler's `Err` makes `publish`
//! return `Err`; the relay keeps the event and publishes it again later, when
//! every matching group is called again (also those that already succeeded:
//! handlers are idempotent). The relay counts attempts and gives up after its
//! limit; `Envelope.attempt` is passed through as the relay sets it.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures::FutureExt;
use starling_core::messaging::{Envelope, EventBus, EventHandler};
use starling_core::{Error, Result};
use tokio::sync::Notify;

/// Whether a routing `key` matches an AMQP topic `pattern`: both are
/// dot-separated words; in the pattern `*` stands for exactly one word and
/// `#` for zero or more words. Every other word must be equal.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    // reachable[j]: the pattern words seen so far can match the first j key words.
    let mut reachable = vec![false; key.len() + 1];
    reachable[0] = true;
    for word in pattern {
        let mut next = vec![false; key.len() + 1];
        match word {
            "#" => {
                let mut any = false;
                for j in 0..=key.len() {
                    any |= reachable[j];
                    next[j] = any;
                }
            }
            "*" => {
                next[1..].copy_from_slice(&reachable[..key.len()]);
            }
            literal => {
                for j in 0..key.len() {
                    next[j + 1] = reachable[j] && key[j] == literal;
                }
            }
        }
        reachable = next;
    }
    reachable[key.len()]
}

/// Checks the arguments of `EventBus::consume` the same way for every adapter.
pub(crate) fn check_consume_args(group: &str, patterns: &[&str]) -> Result<()> {
    if group.is_empty() {
        return Err(Error::internal("event bus: a consumer group needs a name"));
    }
    if patterns.is_empty() {
        return Err(Error::internal(format!(
            "event bus: consumer group `{group}` needs at least one pattern"
        )));
    }
    Ok(())
}

/// Calls `handler`, turning a panic into an error (so it is retried and
/// eventually dead-lettered like any failure, and never takes the caller down).
pub(crate) async fn call(handler: &dyn EventHandler, event: &Envelope) -> Result<()> {
    match AssertUnwindSafe(handler.handle(event)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            Err(Error::internal(format!("event handler panicked: {what}")))
        }
    }
}

struct Group {
    name: String,
    patterns: Vec<String>,
    handlers: Vec<Arc<dyn EventHandler>>,
    /// Round robin over `handlers`.
    next: AtomicUsize,
}

impl Group {
    fn matches(&self, key: &str) -> bool {
        self.patterns.iter().any(|p| topic_matches(p, key))
    }

    fn pick(&self) -> Option<Arc<dyn EventHandler>> {
        if self.handlers.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handlers.len();
        Some(self.handlers[i].clone())
    }
}

#[derive(Default)]
struct Inner {
    groups: RwLock<Vec<Group>>,
    closed: AtomicBool,
    /// `publish` calls past the `closed` check; `shutdown` waits for zero.
    in_flight: AtomicUsize,
    idle: Notify,
}

/// Counts one `publish` as in flight until dropped.
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    /// `None` once the bus is shut down. The count goes up before `closed` is
    /// read, so `shutdown` (which sets `closed`, then reads the count) either
    /// sees this call or this call sees `closed`.
    fn enter(inner: &'a Inner) -> Option<Self> {
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(inner);
        if inner.closed.load(Ordering::SeqCst) {
            return None;
        }
        Some(guard)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// In-process [`EventBus`]; cheap to clone (clones share consumers).
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }
}

fn closed_error() -> Error {
    Error::Unavailable {
        message: "event bus is shut down".to_owned(),
    }
}

/// [`call`] for a batch: a panic fails every event of it.
async fn call_batch(handler: &dyn EventHandler, events: &[Envelope]) -> Vec<Result<()>> {
    match AssertUnwindSafe(handler.handle_batch(events))
        .catch_unwind()
        .await
    {
        Ok(results) if results.len() == events.len() => results,
        Ok(results) => events
            .iter()
            .map(|_| {
                Err(Error::internal(format!(
                    "event handler answered {} results for {} events",
                    results.len(),
                    events.len()
                )))
            })
            .collect(),
        Err(_) => events
            .iter()
            .map(|_| Err(Error::internal("event handler panicked")))
            .collect(),
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    /// Each consumer group gets its matching events in one `handle_batch`
    /// (the groups run concurrently); an event fails if any group failed it.
    async fn publish_batch(&self, events: &[Envelope], _concurrency: usize) -> Vec<Result<()>> {
        let Some(_in_flight) = InFlight::enter(&self.inner) else {
            return events.iter().map(|_| Err(closed_error())).collect();
        };
        // Per group: its handler and the indexes of the events it takes.
        let chosen: Vec<(String, Arc<dyn EventHandler>, Vec<usize>)> = {
            let groups = match self.inner.groups.read() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            groups
                .iter()
                .filter_map(|g| {
                    let mine: Vec<usize> = (0..events.len())
                        .filter(|i| g.matches(&events[*i].key))
                        .collect();
                    if mine.is_empty() {
                        return None;
                    }
                    g.pick().map(|h| (g.name.clone(), h, mine))
                })
                .collect()
        };
        let runs = chosen.iter().map(|(_, handler, mine)| {
            let batch: Vec<Envelope> = mine.iter().map(|i| events[*i].clone()).collect();
            async move { call_batch(handler.as_ref(), &batch).await }
        });
        let outcomes = futures::future::join_all(runs).await;
        let mut failures: Vec<Vec<String>> = vec![Vec::new(); events.len()];
        for ((group, _, mine), results) in chosen.iter().zip(outcomes) {
            for (i, result) in mine.iter().zip(results) {
                if let Err(e) = result {
                    failures[*i].push(format!("{group}: {e}"));
                }
            }
        }
        events
            .iter()
            .zip(failures)
            .map(|(event, failed)| {
                if failed.is_empty() {
                    Ok(())
                } else {
                    tracing::debug!(event = %event.id, key = %event.key, failures = ?failed, "event handlers failed; the publisher will retry");
                    Err(Error::Unavailable {
                        message: format!(
                            "event {} ({}): {} consumer group(s) failed: {}",
                            event.id,
                            event.key,
                            failed.len(),
                            failed.join("; ")
                        ),
                    })
                }
            })
            .collect()
    }

    async fn publish(&self, event: &Envelope) -> Result<()> {
        let Some(_in_flight) = InFlight::enter(&self.inner) else {
            return Err(closed_error());
        };
        let chosen: Vec<(String, Arc<dyn EventHandler>)> = {
            let groups = match self.inner.groups.read() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            groups
                .iter()
                .filter(|g| g.matches(&event.key))
                .filter_map(|g| g.pick().map(|h| (g.name.clone(), h)))
                .collect()
        };
        let results = futures::future::join_all(
            chosen
                .iter()
                .map(|(_, handler)| call(handler.as_ref(), event)),
        )
        .await;
        let failures: Vec<String> = chosen
            .iter()
            .zip(results)
            .filter_map(|((group, _), result)| result.err().map(|e| format!("{group}: {e}")))
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            tracing::debug!(
                event = %event.id,
                key = %event.key,
                attempt = event.attempt,
                failures = ?failures,
                "event handlers failed; the publisher will retry"
            );
            Err(Error::Unavailable {
                message: format!(
                    "event {} ({}): {} consumer group(s) failed: {}",
                    event.id,
                    event.key,
                    failures.len(),
                    failures.join("; ")
                ),
            })
        }
    }

    async fn consume(
        &self,
        group: &str,
        patterns: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<()> {
        check_consume_args(group, patterns)?;
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(closed_error());
        }
        let mut groups = match self.inner.groups.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let index = match groups.iter().position(|g| g.name == group) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    name: group.to_owned(),
                    patterns: Vec::new(),
                    handlers: Vec::new(),
                    next: AtomicUsize::new(0),
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[index];
        // Like a queue's bindings, a group's patterns are the union of what
        // its consumers asked for.
        for p in patterns {
            if !g.patterns.iter().any(|q| q == p) {
                g.patterns.push((*p).to_owned());
            }
        }
        g.handlers.push(handler);
        Ok(())
    }

    async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            idle.await;
        }
    }

    async fn check(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(closed_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn literal_words_must_be_equal() {
        assert!(topic_matches("love.created", "love.created"));
        assert!(!topic_matches("love.created", "love.deleted"));
        assert!(!topic_matches("love.created", "love.created.extra"));
        assert!(!topic_matches("love.created", "love"));
        assert!(!topic_matches("love", "lovely"));
    }

    #[test]
    fn star_is_exactly_one_word() {
        assert!(topic_matches("*.created", "love.created"));
        assert!(topic_matches("love.*", "love.created"));
        assert!(topic_matches("*.*", "a.b"));
        assert!(!topic_matches("*.created", "created"));
        assert!(!topic_matches("*.created", "a.b.created"));
        assert!(!topic_matches("love.*", "love"));
        assert!(!topic_matches("love.*", "love.a.b"));
        assert!(topic_matches("a.*.c", "a.b.c"));
        assert!(!topic_matches("a.*.c", "a.c"));
    }

    #[test]
    fn hash_is_zero_or_more_words() {
        assert!(topic_matches("#", "love.created"));
        assert!(topic_matches("#", "a"));
        assert!(topic_matches("love.#", "love"));
        assert!(topic_matches("love.#", "love.created"));
        assert!(topic_matches("love.#", "love.created.twice"));
        assert!(!topic_matches("love.#", "lovely.created"));
        assert!(topic_matches("#.created", "created"));
        assert!(topic_matches("#.created", "a.b.created"));
        assert!(!topic_matches("#.created", "a.created.b"));
        assert!(topic_matches("a.#.z", "a.z"));
        assert!(topic_matches("a.#.z", "a.b.c.z"));
        assert!(!topic_matches("a.#.z", "a.b.c"));
    }

    #[test]
    fn wildcards_combine() {
        assert!(topic_matches("#.*", "a"));
        assert!(!topic_matches("*.#.*", "a"));
        assert!(topic_matches("*.#.*", "a.b"));
        assert!(topic_matches("*.#.*", "a.b.c.d"));
        assert!(topic_matches("#.#", "a.b"));
        assert!(topic_matches("#.b.#", "a.b.c"));
        assert!(topic_matches("#.b.#", "b"));
        assert!(!topic_matches("#.b.#", "a.c"));
        // Many `#` stay cheap (the matcher is not a backtracking search).
        let many = vec!["#"; 40].join(".") + ".x";
        let long = vec!["a"; 40].join(".");
        assert!(!topic_matches(&many, &long));
    }
}
