//! `--node-peer`: run the reference Node.js chat server
//! (bench/chat-node/server.js) beside Starling for a comparison.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::http::HttpUrl;

/// Lines of the peer's output kept for error messages.
const LOG_LINES: usize = 30;
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct NodePeer {
    child: Child,
    pub base_url: HttpUrl,
    log: Arc<Mutex<Vec<String>>>,
}

fn keep(log: &Mutex<Vec<String>>, line: String) {
    if let Ok(mut l) = log.lock() {
        if l.len() >= LOG_LINES {
            l.remove(0);
        }
        l.push(line);
    }
}

impl NodePeer {
    /// Runs `node SCRIPT --port 0` and waits for its
    /// `listening on http://HOST:PORT` line.
    pub async fn start(node: &Path, script: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let mut child = Command::new(node)
            .arg(script)
            .arg("--port")
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} {} (is Node.js installed, and `npm ci` run in {}?)",
                    node.display(),
                    script.display(),
                    script
                        .parent()
                        .map_or(".".into(), |p| p.display().to_string())
                )
            })?;
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    keep(&log, line);
                }
            });
        }
        let out = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout of the Node peer"))?;
        let mut lines = BufReader::new(out).lines();
        let url = tokio::time::timeout(timeout, async {
            while let Some(line) = lines.next_line().await? {
                keep(&log, line.clone());
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok::<_, anyhow::Error>(Some(url.trim().to_owned()));
                }
            }
            Ok(None)
        })
        .await;
        let tail = |log: &Mutex<Vec<String>>| log.lock().map(|l| l.join("\n")).unwrap_or_default();
        let url = match url {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) => bail!(
                "the Node peer exited before listening; its output:\n{}",
                tail(&log)
            ),
            Ok(Err(e)) => return Err(e.context("reading the Node peer's output")),
            Err(_) => bail!(
                "the Node peer did not listen within {timeout:?}; its output:\n{}",
                tail(&log)
            ),
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        {
            let log = log.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    keep(&log, line);
                }
            });
        }
        eprintln!(
            "started the Node peer {} at {url} (pid {})",
            script.display(),
            child.id().unwrap_or(0)
        );
        Ok(Self {
            child,
            base_url: HttpUrl::parse(&url)?,
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the peer is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self) -> String {
        let lines = self.log.lock().map(|l| l.join("\n")).unwrap_or_default();
        format!("last lines of the Node peer's output:\n{lines}")
    }

    /// SIGTERM, then SIGKILL after a few seconds.
    pub async fn stop(mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            if let Ok(Ok(_)) = tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}
