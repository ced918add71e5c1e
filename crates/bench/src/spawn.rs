//! The servers under test: a Starling started for the run (`--spawn`) or
//! already running (`--base-url`), and the reference Node.js chat server
//! (`--node-peer`, bench/chat-node/server.js).

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::http::{HttpUrl, fetch};

/// How long the server gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A directory removed (with its contents) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "starling-bench-{}-{}",
            std::process::id(),
            crate::random_digits()
        ));
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct SpawnedServer {
    child: Child,
    pub base_url: HttpUrl,
    log_path: PathBuf,
    // Dropped after `child` (kill on drop) so the server is gone first.
    _dir: TempDir,
}

/// A free loopback port: bind port 0, note the port, release it.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    let tail = lines.get(start..).unwrap_or_default().join("\n");
    if tail.is_empty() {
        "(the server wrote no output)".to_owned()
    } else {
        format!("last lines of the server's output:\n{tail}")
    }
}

/// What to do besides `serve`: seed the data first, set variables.
#[derive(Default)]
pub struct SpawnOptions {
    /// Run `binary seed --data-dir DIR <these arguments>` before serving;
    /// its JSON output is returned by [`SpawnedServer::start_with`].
    pub seed: Option<Vec<String>>,
    /// Extra environment of the seed command and the server.
    pub env: Vec<(String, String)>,
}

/// Runs `binary seed --data-dir DIR ARGS` and parses the JSON it prints.
async fn run_seed(
    binary: &Path,
    data_dir: &Path,
    args: &[String],
    env: &[(String, String)],
) -> anyhow::Result<serde_json::Value> {
    eprintln!("seeding: {} seed {}", binary.display(), args.join(" "));
    let out = Command::new(binary)
        .arg("seed")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("STARLING_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {} seed", binary.display()))?;
    if !out.status.success() {
        bail!(
            "{} seed failed ({}): {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let report: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("unexpected output of the seed command: {text}"))?;
    eprintln!("seeded: {report}");
    Ok(report)
}

impl SpawnedServer {
    /// Starts `binary serve --bind 127.0.0.1:PORT --data-dir DIR` with
    /// `STARLING_LOG=warn` and `STARLING_WRITE_LIMITS=false`, and waits until
    /// `GET /health` answers 200.
    pub async fn start(binary: &Path, startup_timeout: Duration) -> anyhow::Result<Self> {
        let (server, _) =
            Self::start_with(binary, startup_timeout, &SpawnOptions::default()).await?;
        Ok(server)
    }

    /// Like [`start`](Self::start), after seeding the fresh data dir if
    /// `options.seed` says so (returns the seed command's JSON report).
    pub async fn start_with(
        binary: &Path,
        startup_timeout: Duration,
        options: &SpawnOptions,
    ) -> anyhow::Result<(Self, Option<serde_json::Value>)> {
        let port = free_port()?;
        let dir = TempDir::create()?;
        let data_dir = dir.0.join("data");
        std::fs::create_dir(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let seeded = match &options.seed {
            Some(args) => Some(run_seed(binary, &data_dir, args, &options.env).await?),
            None => None,
        };
        let log_path = dir.0.join("server.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let log_err = log.try_clone()?;
        let bind = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .arg("serve")
            .arg("--bind")
            .arg(&bind)
            .arg("--data-dir")
            .arg(&data_dir)
            // A benchmark drives many writes from few users and one address:
            // the per-user write limits would measure themselves instead.
            .env("STARLING_WRITE_LIMITS", "false")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("STARLING_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            child,
            base_url: HttpUrl::parse(&format!("http://{bind}"))?,
            log_path,
            _dir: dir,
        };
        eprintln!(
            "started {} on {bind} (pid {}, data dir {})",
            binary.display(),
            server.child.id().unwrap_or(0),
            data_dir.display()
        );
        server.wait_ready(port, startup_timeout).await?;
        Ok((server, seeded))
    }

    async fn wait_ready(&mut self, port: u16, timeout: Duration) -> anyhow::Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let health = self.base_url.join("/health");
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited during start-up ({status})\n{}",
                    log_tail(&self.log_path)
                );
            }
            let request = health.request("GET", &[], None)?;
            let last = match fetch(addr, request, Duration::from_secs(2)).await {
                Ok((200, _)) => {
                    eprintln!(
                        "server ready after {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(());
                }
                Ok((status, _)) => format!("GET /health answered {status}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "the server was not ready after {} s (last attempt: {last})\n{}",
                    timeout.as_secs_f64(),
                    log_tail(&self.log_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the server's output, for an error message.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// The server's process id (None once it has exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the server is still running; if not, says so on stderr.
    pub fn check_alive(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                eprintln!(
                    "warning: the server exited during the benchmark ({status})\n{}",
                    log_tail(&self.log_path)
                );
                false
            }
            Err(e) => {
                eprintln!("warning: cannot check the server process: {e}");
                true
            }
        }
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL; the temp dir is removed.
    pub async fn stop(mut self) {
        if self.check_alive() {
            terminate(&mut self.child, STOP_GRACE, "the server").await;
        }
    }
}

/// SIGTERM, up to `grace` to exit, then SIGKILL.
async fn terminate(child: &mut Child, grace: Duration, what: &str) {
    let mut terminated = false;
    if let Some(pid) = child.id() {
        terminated = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
    }
    if terminated && let Ok(Ok(_)) = tokio::time::timeout(grace, child.wait()).await {
        return;
    }
    if terminated {
        eprintln!(
            "warning: {what} did not exit within {} s of SIGTERM; killing it",
            grace.as_secs()
        );
    }
    if let Err(e) = child.kill().await {
        eprintln!("warning: cannot kill {what}: {e}");
    }
}

/// Which server a scenario measures: one already listening, or one it starts.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// Where the Starling server listens (start it with STARLING_WRITE_LIMITS=false:
    /// the write limits would refuse a benchmark's load; --spawn does that)
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        conflicts_with = "spawn"
    )]
    base_url: String,

    /// Start this Starling binary ('PATH serve --bind 127.0.0.1:PORT --data-dir TEMP') for the run, and stop it afterwards
    #[arg(long, value_name = "PATH")]
    spawn: Option<PathBuf>,

    /// Seconds to wait for a spawned server to answer GET /health with 200
    #[arg(long, default_value_t = 60.0, value_parser = crate::positive_seconds)]
    startup_timeout: f64,
}

impl ServerArgs {
    /// Starts the server if asked to; returns it (to stop after the run) and
    /// the base URL to measure.
    pub async fn connect(&self) -> anyhow::Result<(Option<SpawnedServer>, HttpUrl)> {
        let server = match &self.spawn {
            Some(binary) => Some(
                SpawnedServer::start(binary, Duration::from_secs_f64(self.startup_timeout)).await?,
            ),
            None => None,
        };
        let base = match &server {
            Some(s) => s.base_url.clone(),
            None => HttpUrl::parse(&self.base_url)?,
        };
        Ok((server, base))
    }

    /// Starts the server if asked to and runs `scenario` on it, until it ends
    /// or Ctrl-C; then stops the server. `pid` is the process id of a server
    /// that was not spawned (for its CPU and memory figures).
    pub async fn run<F>(&self, pid: Option<u32>, scenario: F) -> anyhow::Result<ExitCode>
    where
        F: AsyncFnOnce(&mut Session) -> anyhow::Result<ExitCode>,
    {
        let (mut server, base) = self.connect().await?;
        let result = match base.resolve().await {
            Ok(addr) => {
                let mut session = Session {
                    pid: server.as_ref().and_then(SpawnedServer::pid).or(pid),
                    addr,
                    base,
                    server: server.take(),
                };
                let result = interruptible(scenario(&mut session)).await;
                server = session.server.take();
                result
            }
            Err(e) => Err(e),
        };
        if let Some(server) = server {
            server.stop().await;
        }
        result
    }
}

/// A server under test while a scenario runs.
pub struct Session {
    pub base: HttpUrl,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The server's process id (spawned, or given).
    pub pid: Option<u32>,
    pub server: Option<SpawnedServer>,
}

impl Session {
    /// An error if a spawned server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.server.as_mut()
            && !s.check_alive()
        {
            bail!("the server exited during the run");
        }
        Ok(())
    }

    /// The last lines of a spawned server's output ("" otherwise).
    pub fn log_tail(&self) -> String {
        self.server.as_ref().map_or(String::new(), |s| s.log_tail())
    }
}

/// `work`, or an error on Ctrl-C.
pub async fn interruptible<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    }
}

/// Lines of the Node peer's output kept for error messages.
const NODE_LOG_LINES: usize = 30;
const NODE_STOP_GRACE: Duration = Duration::from_secs(5);

/// The reference Node.js chat server, run beside Starling for a comparison.
pub struct NodePeer {
    child: Child,
    pub base_url: HttpUrl,
    log: Arc<Mutex<Vec<String>>>,
}

fn keep(log: &Mutex<Vec<String>>, line: String) {
    if let Ok(mut l) = log.lock() {
        if l.len() >= NODE_LOG_LINES {
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
        let peer_log =
            |log: &Mutex<Vec<String>>| log.lock().map(|l| l.join("\n")).unwrap_or_default();
        let url = match url {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) => bail!(
                "the Node peer exited before listening; its output:\n{}",
                peer_log(&log)
            ),
            Ok(Err(e)) => return Err(e.context("reading the Node peer's output")),
            Err(_) => bail!(
                "the Node peer did not listen within {timeout:?}; its output:\n{}",
                peer_log(&log)
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
        if self.is_alive() {
            terminate(&mut self.child, NODE_STOP_GRACE, "the Node peer").await;
        }
    }
}
