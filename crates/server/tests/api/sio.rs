//! Real Socket.IO clients for the chat tests: python-socketio (PyPI), driven
//! through `sio_driver.py` over stdin/stdout. Without python-socketio the
//! socket tests skip with a message, and fail under `CI=true`.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Mutex, oneshot};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// One python process holding any number of named clients.
pub struct Sio {
    stdin: Mutex<ChildStdin>,
    pending: Pending,
    seq: AtomicU64,
    base: String,
    _child: Child,
}

/// A named client of a driver.
#[derive(Clone)]
pub struct SioClient {
    sio: Arc<Sio>,
    name: String,
}

fn available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import socketio, aiohttp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Sio {
    /// A driver for the server at `base`; None (skip) without python-socketio.
    pub async fn start(base: &str) -> Option<Arc<Sio>> {
        if !available() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "the chat tests need python-socketio under CI=true \
                     (pip install python-socketio aiohttp)"
                );
            }
            starling_core::testing::skipped(format_args!(
                "python-socketio is not installed (pip install python-socketio aiohttp)"
            ));
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/sio_driver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let pending: Pending = Arc::default();
        let readers = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).expect("driver answers JSON");
                let seq = v["seq"].as_u64().expect("seq");
                if let Some(tx) = readers.lock().await.remove(&seq) {
                    let _ = tx.send(v);
                }
            }
        });
        Some(Arc::new(Sio {
            stdin: Mutex::new(stdin),
            pending,
            seq: AtomicU64::new(1),
            base: base.to_owned(),
            _child: child,
        }))
    }

    async fn call(&self, mut cmd: Value) -> Value {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        cmd["seq"] = json!(seq);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(seq, tx);
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .lock()
            .await
            .write_all(line.as_bytes())
            .await
            .expect("driver alive");
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("driver answers within 30 s")
            .expect("driver answered")
    }

    /// Connects client `name` with `auth: {token}`; panics if refused.
    pub async fn connect(self: &Arc<Self>, name: &str, token: &str) -> SioClient {
        let c = self
            .try_connect(name, json!({"auth": {"token": token}}))
            .await;
        match c {
            Ok(c) => c,
            Err(e) => panic!("{name} could not connect: {e}"),
        }
    }

    /// Connects with extra options (`auth`, `headers`, `reconnection`, `url`);
    /// Err carries the `connect_error` message.
    pub async fn try_connect(
        self: &Arc<Self>,
        name: &str,
        opts: Value,
    ) -> Result<SioClient, String> {
        let mut cmd = json!({"op": "connect", "client": name, "url": self.base});
        if let Value::Object(o) = opts {
            for (k, v) in o {
                cmd[k] = v;
            }
        }
        let r = self.call(cmd).await;
        if r["ok"] == json!(true) {
            Ok(SioClient {
                sio: self.clone(),
                name: name.to_owned(),
            })
        } else {
            Err(r["error"].as_str().unwrap_or_default().to_owned())
        }
    }
}

impl SioClient {
    async fn op(&self, op: &str, extra: Value) -> Value {
        let mut cmd = json!({"op": op, "client": self.name});
        if let Value::Object(o) = extra {
            for (k, v) in o {
                cmd[k] = v;
            }
        }
        self.sio.call(cmd).await
    }

    /// Emits and returns the server's ack (panics if none comes).
    pub async fn call(&self, event: &str, data: Value) -> Value {
        let r = self.op("emit", json!({"event": event, "data": data})).await;
        assert_eq!(r["ok"], json!(true), "{} {event}: {r}", self.name);
        r["ack"].clone()
    }

    /// Emits without asking for an ack.
    pub async fn send(&self, event: &str, data: Value) {
        let r = self.op("send", json!({"event": event, "data": data})).await;
        assert_eq!(r["ok"], json!(true), "{r}");
    }

    /// The next `event` whose payload contains `pattern`, within 10 s.
    pub async fn expect(&self, event: &str, pattern: Value) -> Value {
        let r = self
            .op(
                "wait",
                json!({"event": event, "match": pattern, "timeout": 10}),
            )
            .await;
        assert_eq!(
            r["ok"],
            json!(true),
            "{} got no {event} matching {pattern}: {r}",
            self.name
        );
        r["data"].clone()
    }

    /// Asserts no `event` matching `pattern` arrives within `wait`.
    pub async fn expect_none(&self, event: &str, pattern: Value, wait: Duration) {
        let r = self
            .op(
                "wait",
                json!({"event": event, "match": pattern, "timeout": wait.as_secs_f64()}),
            )
            .await;
        assert_eq!(
            r["ok"],
            json!(false),
            "{} got an unexpected {event}: {r}",
            self.name
        );
    }

    /// Every buffered `event`, cleared.
    pub async fn drain(&self, event: &str) -> Vec<Value> {
        let r = self.op("drain", json!({"event": event})).await;
        r["items"].as_array().cloned().unwrap_or_default()
    }

    /// (successful connects so far, connected now)
    pub async fn connects(&self) -> (u64, bool) {
        let r = self.op("connects", json!({})).await;
        (
            r["count"].as_u64().unwrap_or(0),
            r["connected"] == json!(true),
        )
    }

    pub async fn disconnect(&self) {
        self.op("disconnect", json!({})).await;
    }
}
