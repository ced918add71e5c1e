//! `starling-bench chat`: many Socket.IO clients in many rooms, each
//! sending at a steady rate, and a maximum-throughput run, against Starling
//! and (in the same run) the reference Node.js server in bench/chat-node.
//! `starling-bench chat-hold`: many idle Socket.IO connections and the
//! server's memory per connection.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cpu::{
    CpuProbe, CpuUse, Memory, check_fd_limit, check_server_fd_limit, kib_per, memory,
};
use crate::hold::{Held, open_all, wait_for_count};
use crate::http::HttpUrl;
use crate::load::{Histogram, histogram};
use crate::report::{LatencyMs, median, mib, round1};
use crate::seed::{Account, PhaseReport, Seeder, ids_of};
use crate::sio::{EioPacket, Incoming, SioClient, SioPacket, decode, event_name, first_arg};
use crate::spawn::{NodePeer, ServerArgs, SpawnedServer, interruptible};
use crate::{EXIT_FAILED, TOKEN_BUDGET, print_json, seconds};

/// How long a connection and its join-room ack may take during setup.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// join-room is sent again if unanswered after this long, at most
/// JOIN_ATTEMPTS times in all.
const JOIN_RETRY_AFTER: Duration = Duration::from_secs(3);
const JOIN_ATTEMPTS: u64 = 10;
/// The first ack id of the measurements (join-room used the ones below).
const FIRST_ACK: u64 = 100;
/// How long the Node peer may take to listen.
const NODE_START: Duration = Duration::from_secs(30);
/// Delay between announcing a measurement and its first send, so every
/// client task has seen the plan.
const LEAD_IN: Duration = Duration::from_millis(200);
/// How often the end of the grace period is checked.
const POLL: Duration = Duration::from_millis(20);

pub const CHAT_AFTER: &str = "\
Examples:
  cargo build --release -p starling-server -p starling-bench
  (cd bench/chat-node && npm ci)
  # Starling and the Node peer in one run: 1,000 clients in rooms of 10,
  # 1 message/s each, then the maximum-throughput run; 3 rounds
  target/release/starling-bench chat --spawn target/release/starling \\
      --node-peer bench/chat-node/server.js
  # the Node peer alone, while developing
  target/release/starling-bench chat --skip-starling --node-peer bench/chat-node/server.js
  # a running Starling (give its pid for CPU figures), 2 messages/s each
  target/release/starling-bench chat --base-url http://127.0.0.1:8080 --pid 12345 --rate 2

What it does, for each server (Starling, then the Node peer):
  1. Registers --clients users (POST /api/auth/register; the Node peer
     answers without hashing) and creates a group room for each
     --room-size of them (POST /api/chat/rooms {name, memberIds} by the
     first member).
  2. Opens one Socket.IO connection per user (WebSocket transport,
     auth {token}), emits join-room {roomId} and waits for every ack.
Then for --rounds rounds, for each mode, for each server:
  3. rate: every client emits send-message {roomId, text, clientMsgId}
     --rate times a second (open loop, evenly spread) for --warmup +
     --duration seconds. max: every client keeps --window messages in
     flight, sending the next when an ack arrives (closed loop).
     The text carries the send time; each receiver of receive-message takes
     the delivery latency as its arrival minus that time. new-message events
     (the members' personal channels) are counted, not timed.
  4. Waits up to --grace seconds for the deliveries still missing.
  5. Reports deliveries per second in the measured window (receive-message
     at members other than the sender), delivery latency p50/p99, acks,
     missing deliveries, and the CPU use of server and load generator.
Finally the medians across rounds, and Starling/Node: PASS if in the max run
Starling delivers at least --min-ratio times the Node peer's messages per
second at an equal or lower p99.";

pub const CHAT_HOLD_AFTER: &str = "\
Examples:
  cargo build --release -p starling-server -p starling-bench
  ulimit -n 65536   # or as high as the hard limit allows
  target/release/starling-bench chat-hold --spawn target/release/starling
  # and the Node peer, for comparison
  target/release/starling-bench chat-hold --spawn target/release/starling \\
      --node-peer bench/chat-node/server.js

What it does, for each server:
  1. Registers --users users; the first creates a room with up to 9 others.
  2. Reads the server's VmRSS (/proc/PID/status) after a --settle pause.
  3. Opens --connections Socket.IO connections (auth {token}, no room
     joined), spread round-robin over the users, --open-concurrency at a
     time, and waits for each connect.
  4. After another --settle pause reads VmRSS again: (after - before) /
     connections in KiB.
  5. Checks the connections are alive: one more connection of the room's
     owner sends a message, and every held connection of the room's members
     must get new-message on its personal channel.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every client sends --rate messages per second (open loop)
    Rate,
    /// Every client keeps --window messages in flight (closed loop)
    Max,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Rate => "rate",
            Mode::Max => "max",
        }
    }
}

/// Which servers to measure, shared by both chat scenarios.
#[derive(Args)]
pub struct Servers {
    #[command(flatten)]
    server: ServerArgs,

    /// Starling's process id, for its CPU and memory when it was not spawned
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    pid: Option<u32>,

    /// Measure only the Node peer (no Starling)
    #[arg(long)]
    skip_starling: bool,

    /// Start the reference Node.js server (`node PATH --port 0`), e.g. bench/chat-node/server.js
    #[arg(long, value_name = "PATH")]
    node_peer: Option<PathBuf>,

    /// A Node peer that is already running, e.g. http://127.0.0.1:3000
    #[arg(long, value_name = "URL", conflicts_with = "node_peer")]
    node_url: Option<String>,

    /// The running Node peer's process id, for its CPU and memory
    #[arg(long, value_name = "PID", requires = "node_url")]
    node_pid: Option<u32>,

    /// The Node.js executable
    #[arg(long, value_name = "PATH", default_value = "node")]
    node: PathBuf,
}

#[derive(Args)]
pub struct ChatArgs {
    #[command(flatten)]
    servers: Servers,

    /// Clients, one user and one Socket.IO connection each
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(2..=100_000))]
    clients: u32,

    /// Members per room (the clients must divide into whole rooms)
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..=256))]
    room_size: u32,

    /// Messages per second per client in the rate mode
    #[arg(long, value_name = "PER_SEC", default_value_t = 1.0, value_parser = per_client_rate)]
    rate: f64,

    /// Messages in flight per client in the max mode
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    window: u32,

    /// Modes to measure, in this order each round
    #[arg(long, value_enum, value_delimiter = ',', default_value = "rate,max")]
    modes: Vec<Mode>,

    /// Rounds; every round measures each mode on each server
    #[arg(short, long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,

    /// Measured seconds per measurement
    #[arg(short, long, default_value_t = 10.0, value_parser = crate::positive_seconds)]
    duration: f64,

    /// Warm-up seconds before each measurement (sent and delivered, not counted)
    #[arg(short, long, default_value_t = 2.0, value_parser = seconds)]
    warmup: f64,

    /// Seconds to wait after the last send for deliveries still missing
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds)]
    grace: f64,

    /// Bytes of each message's text (at least what the timestamp needs)
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    text_bytes: u32,

    /// PASS threshold: Starling's max-mode deliveries/s over the Node peer's
    #[arg(long, default_value_t = 3.0, value_parser = seconds)]
    min_ratio: f64,

    /// Concurrent registrations while seeding (each costs Starling a password hash)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    register_concurrency: u32,

    /// Connections being opened at the same time
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connect_concurrency: u32,

    /// Worker threads of the load generator
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Print one JSON object for the run on stdout (progress goes to stderr)
    #[arg(long)]
    json: bool,
}

fn per_client_rate(raw: &str) -> Result<f64, String> {
    let v: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if !v.is_finite() || !(0.001..=10_000.0).contains(&v) {
        return Err(format!("{raw} is out of range (0.001 to 10000)"));
    }
    Ok(v)
}

/// A server under test: Starling or the Node peer.
struct Target {
    name: &'static str,
    base: HttpUrl,
    addr: SocketAddr,
    pid: Option<u32>,
}

/// The servers started for a run, stopped at its end.
struct Started {
    starling: Option<SpawnedServer>,
    node: Option<NodePeer>,
    targets: Vec<Target>,
}

impl Started {
    async fn start(s: &Servers) -> anyhow::Result<Self> {
        let mut started = Self {
            starling: None,
            node: None,
            targets: Vec::new(),
        };
        if !s.skip_starling {
            let (server, base) = s.server.connect().await?;
            let pid = server.as_ref().and_then(SpawnedServer::pid).or(s.pid);
            started.starling = server;
            let addr = base.resolve().await?;
            started.targets.push(Target {
                name: "starling",
                base,
                addr,
                pid,
            });
        }
        let node = match (&s.node_peer, &s.node_url) {
            (Some(script), _) => {
                let peer = NodePeer::start(&s.node, script, NODE_START).await;
                match peer {
                    Ok(p) => Some((p.base_url.clone(), p.pid(), Some(p))),
                    Err(e) => {
                        started.stop().await;
                        return Err(e);
                    }
                }
            }
            (None, Some(url)) => Some((HttpUrl::parse(url)?, s.node_pid, None)),
            (None, None) => None,
        };
        if let Some((base, pid, peer)) = node {
            started.node = peer;
            let addr = base.resolve().await?;
            started.targets.push(Target {
                name: "node",
                base,
                addr,
                pid,
            });
        }
        if started.targets.is_empty() {
            bail!("nothing to measure: --skip-starling without --node-peer or --node-url");
        }
        Ok(started)
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.starling.as_mut()
            && !s.check_alive()
        {
            bail!("the Starling server exited during the run");
        }
        if let Some(n) = self.node.as_mut()
            && !n.is_alive()
        {
            bail!("the Node peer exited during the run\n{}", n.log_tail());
        }
        Ok(())
    }

    async fn stop(self) {
        if let Some(s) = self.starling {
            s.stop().await;
        }
        if let Some(n) = self.node {
            n.stop().await;
        }
    }
}

/// Registers `users` users and creates one group room per `room_size` of
/// them (the first member creates it, naming the others); returns the
/// seeder and the room ids.
async fn seed_rooms(
    target: &Target,
    users: usize,
    room_size: usize,
    register_concurrency: usize,
) -> anyhow::Result<(Seeder, Vec<String>)> {
    let mut seeder =
        Seeder::register(target.addr, &target.base, users, register_concurrency, 8).await?;
    let rooms = users / room_size;
    let requests: Vec<(String, String)> = seeder
        .accounts
        .chunks(room_size)
        .take(rooms)
        .enumerate()
        .map(|(r, members)| {
            let owner = members.first().map_or(String::new(), Account::bearer);
            let ids: Vec<&str> = members.iter().skip(1).map(|a| a.id.as_str()).collect();
            let body = serde_json::json!({
                "name": format!("bench room {r}"),
                "memberIds": ids,
            });
            (owner, body.to_string())
        })
        .collect();
    let url = target.base.join("/api/chat/rooms");
    eprintln!("creating {rooms} rooms of {room_size}");
    let bodies = seeder
        .phase("rooms", rooms, 3, move |i| {
            let (bearer, body) = requests
                .get(i)
                .map_or(("", ""), |(b, body)| (b.as_str(), body.as_str()));
            url.request(
                "POST",
                &[("Authorization", bearer)],
                Some(body.to_owned().into()),
            )
        })
        .await?;
    let rooms = ids_of("POST /api/chat/rooms", &bodies)?;
    Ok((seeder, rooms))
}

/// Emits `name` and waits for its ack, emitting again (ack ids `first`,
/// `first + 1`, ...) while none comes: the ack's frame and how many emits
/// were sent again. (An event sent right after the connect answer can go
/// unanswered if the server registers its event handlers in a task that
/// has not run yet.)
async fn call_retrying(
    sio: &mut SioClient,
    name: &str,
    payload: &serde_json::Value,
    first: u64,
) -> anyhow::Result<(tokio_tungstenite::tungstenite::Utf8Bytes, u64)> {
    let mut attempt = 0;
    loop {
        match sio
            .call(name, payload, first + attempt, JOIN_RETRY_AFTER)
            .await
        {
            Ok(frame) => return Ok((frame, attempt)),
            Err(e) if attempt + 1 < JOIN_ATTEMPTS && e.to_string().starts_with("no ack") => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One measurement, shared by the client tasks while it runs.
struct Run {
    /// Distinguishes this run's messages from late ones of an earlier run.
    id: u64,
    mode: Mode,
    /// Time origin of the message stamps.
    epoch: Instant,
    /// Sends start here and stop at `window_end`.
    start: Instant,
    window_start: Instant,
    window_end: Instant,
    /// Seconds between two sends of one client (rate mode).
    period: Duration,
    /// Messages in flight per client (max mode).
    window: u32,
    /// Padding appended to each text.
    pad: String,
    room_size: u64,
    sent: AtomicU64,
    sent_in_window: AtomicU64,
    acked: AtomicU64,
    ack_errors: AtomicU64,
    /// receive-message at members other than the sender, whenever.
    delivered: AtomicU64,
    delivered_in_window: AtomicU64,
    /// receive-message at the sender itself.
    echoes: AtomicU64,
    new_messages: AtomicU64,
    new_messages_in_window: AtomicU64,
    /// receive-message of an earlier run.
    stale: AtomicU64,
    latency: Mutex<Histogram>,
    ack_latency: Mutex<Histogram>,
}

impl Run {
    fn in_window(&self, t: Instant) -> bool {
        t >= self.window_start && t < self.window_end
    }

    fn expected(&self) -> u64 {
        self.sent.load(Ordering::Relaxed) * (self.room_size - 1)
    }
}

#[derive(Clone)]
enum Plan {
    Idle,
    Run(Arc<Run>),
    Quit,
}

/// Per-server state shared by its client tasks.
#[derive(Default)]
struct Health {
    /// Connections the server closed, or that failed, after setup.
    closed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Events other than receive-message and new-message (presence, ...).
    other_events: AtomicU64,
}

impl Health {
    fn error(&self, e: &anyhow::Error) {
        let text: String = format!("{e:#}").chars().take(200).collect();
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(text).or_default() += 1;
        }
    }
}

/// A client's view of a receive-message.
#[derive(Deserialize)]
struct Delivered<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// `{message}` or `{error}`.
#[derive(Deserialize)]
struct AckBody {
    error: Option<serde::de::IgnoredAny>,
}

/// Parses `RUN NANOS CLIENT SEQ ...`.
fn parse_text(text: &str) -> Option<(u64, u64, usize)> {
    let mut it = text.split(' ');
    let run = it.next()?.parse().ok()?;
    let nanos = it.next()?.parse().ok()?;
    let client = it.next()?.parse().ok()?;
    Some((run, nanos, client))
}

fn nanos_since(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

struct Client {
    sio: SioClient,
    index: usize,
    /// The room id, JSON-quoted.
    room_json: String,
    next_ack: u64,
    seq: u64,
    /// Acks awaited for send-message: (ack id, run id, sent at).
    pending: VecDeque<(u64, u64, Instant)>,
    health: Arc<Health>,
}

impl Client {
    async fn send(&mut self, run: &Run, stamp: Instant) -> anyhow::Result<()> {
        self.seq += 1;
        let ack = self.next_ack;
        self.next_ack += 1;
        let mut text = format!(
            "{} {} {} {}",
            run.id,
            nanos_since(run.epoch, stamp),
            self.index,
            self.seq
        );
        if text.len() < run.pad.len() {
            text.push(' ');
            text.push_str(run.pad.get(text.len()..).unwrap_or_default());
        }
        let packet = format!(
            "42{ack}[\"send-message\",{{\"roomId\":{},\"text\":\"{text}\",\"clientMsgId\":\"b{}-{}-{}\"}}]",
            self.room_json, self.index, run.id, self.seq
        );
        self.pending.push_back((ack, run.id, Instant::now()));
        run.sent.fetch_add(1, Ordering::Relaxed);
        if run.in_window(stamp) {
            run.sent_in_window.fetch_add(1, Ordering::Relaxed);
        }
        self.sio.emit_raw(packet).await
    }

    /// Accounts for one incoming event or ack; returns whether it was the
    /// ack of a send-message of `run` (so max mode can send the next).
    fn handle(&mut self, incoming: &Incoming, run: Option<&Run>) -> bool {
        let now = Instant::now();
        match incoming {
            Incoming::Ack(id, frame) => {
                let Some(pos) = self.pending.iter().position(|(a, _, _)| a == id) else {
                    return false;
                };
                let Some((_, run_id, sent_at)) = self.pending.remove(pos) else {
                    return false;
                };
                let Some(run) = run.filter(|r| r.id == run_id) else {
                    return false;
                };
                run.acked.fetch_add(1, Ordering::Relaxed);
                let failed = match decode(frame) {
                    Ok(EioPacket::Message(SioPacket::Ack { data, .. })) => {
                        first_arg::<AckBody>(data, false).map_or(true, |b| b.error.is_some())
                    }
                    _ => true,
                };
                if failed {
                    run.ack_errors.fetch_add(1, Ordering::Relaxed);
                    if run.ack_errors.load(Ordering::Relaxed) <= 3 {
                        eprintln!("  send-message failed: {}", frame.as_str());
                    }
                } else if run.in_window(now)
                    && let Ok(mut h) = run.ack_latency.lock()
                {
                    h.saturating_record(nanos_since(sent_at, now));
                }
                true
            }
            Incoming::Event(frame) => {
                let Ok(EioPacket::Message(SioPacket::Event { data, .. })) = decode(frame) else {
                    return false;
                };
                match event_name(data).as_deref() {
                    Some("receive-message") => {
                        let Some(run) = run else {
                            return false;
                        };
                        let Ok(msg) = first_arg::<Delivered>(data, true) else {
                            self.health
                                .error(&anyhow!("undecodable receive-message: {data}"));
                            return false;
                        };
                        let Some((run_id, nanos, sender)) = parse_text(&msg.text) else {
                            return false;
                        };
                        if run_id != run.id {
                            run.stale.fetch_add(1, Ordering::Relaxed);
                        } else if sender == self.index {
                            run.echoes.fetch_add(1, Ordering::Relaxed);
                        } else {
                            run.delivered.fetch_add(1, Ordering::Relaxed);
                            if run.in_window(now) {
                                run.delivered_in_window.fetch_add(1, Ordering::Relaxed);
                                let latency = nanos_since(run.epoch, now).saturating_sub(nanos);
                                if let Ok(mut h) = run.latency.lock() {
                                    h.saturating_record(latency);
                                }
                            }
                        }
                    }
                    Some("new-message") => {
                        if let Some(run) = run {
                            run.new_messages.fetch_add(1, Ordering::Relaxed);
                            if run.in_window(now) {
                                run.new_messages_in_window.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    _ => {
                        self.health.other_events.fetch_add(1, Ordering::Relaxed);
                    }
                }
                false
            }
        }
    }

    /// Lives until the plan says Quit or the connection fails.
    async fn run(mut self, mut plan: watch::Receiver<Plan>) {
        loop {
            let current = plan.borrow_and_update().clone();
            let result = match current {
                Plan::Quit => {
                    self.sio.close().await;
                    return;
                }
                Plan::Idle => self.idle(&mut plan).await,
                Plan::Run(run) => self.measure(&run, &mut plan).await,
            };
            match result {
                Ok(true) => {}
                Ok(false) => {
                    self.health.closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    self.health.closed.fetch_add(1, Ordering::Relaxed);
                    self.health.error(&e);
                    return;
                }
            }
        }
    }

    /// Reads (and answers pings) until the plan changes; false if closed.
    async fn idle(&mut self, plan: &mut watch::Receiver<Plan>) -> anyhow::Result<bool> {
        loop {
            tokio::select! {
                r = self.sio.recv() => match r? {
                    Some(incoming) => { self.handle(&incoming, None); }
                    None => return Ok(false),
                },
                changed = plan.changed() => return Ok(changed.is_ok()),
            }
        }
    }

    async fn measure(
        &mut self,
        run: &Run,
        plan: &mut watch::Receiver<Plan>,
    ) -> anyhow::Result<bool> {
        // Rate mode: this client's sends are spread over the period by
        // its index (the golden ratio scatters neighbours).
        let phase = (self.index as f64 * 0.618_033_988_75).fract();
        let mut next = run.start + run.period.mul_f64(phase);
        let stop = run.window_end;
        if run.mode == Mode::Max {
            tokio::time::sleep_until(run.start).await;
            for _ in 0..run.window {
                self.send(run, Instant::now()).await?;
            }
        }
        loop {
            let sending = run.mode == Mode::Rate && next < stop;
            tokio::select! {
                r = self.sio.recv() => match r? {
                    Some(incoming) => {
                        let acked = self.handle(&incoming, Some(run));
                        if acked && run.mode == Mode::Max {
                            let now = Instant::now();
                            if now < stop {
                                self.send(run, now).await?;
                            }
                        }
                    }
                    None => return Ok(false),
                },
                _ = tokio::time::sleep_until(next), if sending => {
                    // Open loop: the stamp is the scheduled time, so a
                    // late send counts as latency.
                    self.send(run, next).await?;
                    next += run.period;
                }
                changed = plan.changed() => return Ok(changed.is_ok()),
            }
        }
    }
}

/// A server with its clients connected and in their rooms.
struct Side {
    target_index: usize,
    plan: watch::Sender<Plan>,
    health: Arc<Health>,
    clients: Held,
    phases: Vec<PhaseReport>,
    connect_seconds: f64,
    /// join-room emits sent again because the first got no ack.
    join_retries: u64,
}

async fn set_up(args: &ChatArgs, target: &Target, target_index: usize) -> anyhow::Result<Side> {
    let clients = args.clients as usize;
    let room_size = args.room_size as usize;
    eprintln!("{}: setting up at {}", target.name, target.base);
    let (seeder, rooms) = seed_rooms(
        target,
        clients,
        room_size,
        args.register_concurrency as usize,
    )
    .await?;

    let health = Arc::new(Health::default());
    let (plan_tx, plan_rx) = watch::channel(Plan::Idle);
    let retries = Arc::new(AtomicU64::new(0));
    eprintln!(
        "  connecting {clients} clients, {} at a time, and joining their rooms",
        args.connect_concurrency
    );
    let opened = open_all(
        clients,
        args.connect_concurrency as usize,
        "    ",
        |index| {
            let room = rooms.get(index / room_size).cloned().unwrap_or_default();
            let token = seeder
                .accounts
                .get(index)
                .map(|a| a.access.clone())
                .unwrap_or_default();
            let (addr, authority) = (target.addr, target.base.authority.clone());
            let retries = retries.clone();
            async move {
                let (sio, n) = connect_and_join(addr, &authority, &token, &room).await?;
                retries.fetch_add(n, Ordering::Relaxed);
                Ok((sio, index, room))
            }
        },
        {
            let (health, plan) = (health.clone(), plan_rx.clone());
            move |(sio, index, room): (SioClient, usize, String)| {
                let client = Client {
                    sio,
                    index,
                    room_json: serde_json::Value::from(room).to_string(),
                    next_ack: FIRST_ACK,
                    seq: 0,
                    pending: VecDeque::new(),
                    health: health.clone(),
                };
                client.run(plan.clone())
            }
        },
    )
    .await;
    let held = match opened {
        Ok(h) => h,
        Err((failed, first)) => bail!(
            "{failed} of {clients} clients could not connect and join; the first errors:\n  {}",
            first.join("\n  ")
        ),
    };
    eprintln!(
        "  {clients} clients in {} rooms after {:.1} s",
        rooms.len(),
        held.seconds
    );
    let join_retries = retries.load(Ordering::Relaxed);
    if join_retries > 0 {
        eprintln!(
            "  warning: {join_retries} join-room emits went unanswered and were sent again \
             (an event sent right after the connect answer was lost)"
        );
    }
    Ok(Side {
        target_index,
        plan: plan_tx,
        health,
        connect_seconds: held.seconds,
        clients: held,
        phases: seeder.phases,
        join_retries,
    })
}

/// Connects and joins the room; returns the connection and how many times
/// join-room had to be sent again. (A join-room sent right after the
/// connect answer can go unanswered if the server registers its event
/// handlers in a task that has not run yet; the benchmark then asks again,
/// and counts it.)
async fn connect_and_join(
    addr: SocketAddr,
    authority: &str,
    token: &str,
    room: &str,
) -> anyhow::Result<(SioClient, u64)> {
    let work = async {
        let mut sio = SioClient::connect(addr, authority, token).await?;
        let payload = serde_json::json!({ "roomId": room });
        let (frame, retries) = call_retrying(&mut sio, "join-room", &payload, 1).await?;
        let data = crate::sio::frame_data(&frame).unwrap_or_default();
        #[derive(Deserialize)]
        struct Joined {
            room: Option<serde::de::IgnoredAny>,
        }
        let joined: Joined =
            first_arg(data, false).with_context(|| format!("unexpected join-room ack {data}"))?;
        if joined.room.is_none() {
            bail!("join-room {room} failed: {data}");
        }
        Ok((sio, retries))
    };
    tokio::time::timeout(CONNECT_TIMEOUT * 2, work)
        .await
        .map_err(|_| anyhow!("connect and join-room took over {:?}", CONNECT_TIMEOUT * 2))?
}

/// One measurement, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ChatReport {
    pub target: String,
    pub mode: Mode,
    pub round: u32,
    pub clients: u64,
    pub room_size: u64,
    /// Rate mode: messages per second per client asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_client: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    pub duration_s: f64,
    /// Messages sent in the measured window, per second.
    pub sent_per_sec: f64,
    /// receive-message at members other than the sender, in the measured
    /// window, per second.
    pub delivered_per_sec: f64,
    pub new_message_per_sec: f64,
    pub latency_ms: LatencyMs,
    pub ack_latency_ms: LatencyMs,
    pub sent: u64,
    pub acked: u64,
    pub ack_errors: u64,
    /// sent x (room size - 1) - delivered, after the grace period.
    pub missing: u64,
    pub echoes: u64,
    pub stale: u64,
    pub cpu: CpuUse,
}

async fn measure(
    args: &ChatArgs,
    target: &Target,
    side: &Side,
    mode: Mode,
    round: u32,
    run_id: u64,
) -> ChatReport {
    let now = Instant::now();
    let start = now + LEAD_IN;
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let room_size = u64::from(args.room_size);
    let text_bytes = args.text_bytes as usize;
    let run = Arc::new(Run {
        id: run_id,
        mode,
        epoch: now,
        start,
        window_start: start + warmup,
        window_end: start + warmup + duration,
        period: Duration::from_secs_f64(1.0 / args.rate),
        window: args.window,
        pad: "x".repeat(text_bytes),
        room_size,
        sent: AtomicU64::new(0),
        sent_in_window: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        ack_errors: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        delivered_in_window: AtomicU64::new(0),
        echoes: AtomicU64::new(0),
        new_messages: AtomicU64::new(0),
        new_messages_in_window: AtomicU64::new(0),
        stale: AtomicU64::new(0),
        latency: Mutex::new(histogram()),
        ack_latency: Mutex::new(histogram()),
    });
    let _ = side.plan.send(Plan::Run(run.clone()));
    tokio::time::sleep_until(run.window_start).await;
    let probe = CpuProbe::start(target.pid);
    tokio::time::sleep_until(run.window_end).await;
    let cpu = probe.finish();
    let grace_end = Instant::now() + Duration::from_secs_f64(args.grace);
    while Instant::now() < grace_end {
        let acked = run.acked.load(Ordering::Relaxed) >= run.sent.load(Ordering::Relaxed);
        if acked && run.delivered.load(Ordering::Relaxed) >= run.expected() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let _ = side.plan.send(Plan::Idle);
    let secs = duration.as_secs_f64();
    let per_sec = |n: u64| round1(n as f64 / secs);
    let latency = run
        .latency
        .lock()
        .map(|h| LatencyMs::of(&h))
        .unwrap_or_else(|_| LatencyMs::of(&histogram()));
    let ack_latency = run
        .ack_latency
        .lock()
        .map(|h| LatencyMs::of(&h))
        .unwrap_or_else(|_| LatencyMs::of(&histogram()));
    ChatReport {
        target: target.name.to_owned(),
        mode,
        round,
        clients: u64::from(args.clients),
        room_size,
        rate_per_client: (mode == Mode::Rate).then_some(args.rate),
        window: (mode == Mode::Max).then_some(args.window),
        duration_s: secs,
        sent_per_sec: per_sec(run.sent_in_window.load(Ordering::Relaxed)),
        delivered_per_sec: per_sec(run.delivered_in_window.load(Ordering::Relaxed)),
        new_message_per_sec: per_sec(run.new_messages_in_window.load(Ordering::Relaxed)),
        latency_ms: latency,
        ack_latency_ms: ack_latency,
        sent: run.sent.load(Ordering::Relaxed),
        acked: run.acked.load(Ordering::Relaxed),
        ack_errors: run.ack_errors.load(Ordering::Relaxed),
        missing: run
            .expected()
            .saturating_sub(run.delivered.load(Ordering::Relaxed)),
        echoes: run.echoes.load(Ordering::Relaxed),
        stale: run.stale.load(Ordering::Relaxed),
        cpu,
    }
}

/// Medians across rounds of one server and mode.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMedian {
    pub target: String,
    pub mode: Mode,
    pub rounds: usize,
    pub delivered_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_cpu_percent: Option<f64>,
    pub bench_cpu_percent: Option<f64>,
}

#[derive(Serialize)]
struct ChatSummary {
    scenario: &'static str,
    clients: u32,
    room_size: u32,
    rate_per_client: f64,
    window: u32,
    threads: u16,
    setup: BTreeMap<String, Vec<PhaseReport>>,
    connect_seconds: BTreeMap<String, f64>,
    join_retries: BTreeMap<String, u64>,
    measurements: Vec<ChatReport>,
    medians: Vec<ChatMedian>,
    /// Per mode: Starling's median deliveries/s over the Node peer's.
    ratios: BTreeMap<String, f64>,
    connections_closed: BTreeMap<String, u64>,
    errors: BTreeMap<String, BTreeMap<String, u64>>,
    pass: Option<bool>,
}

fn medians_of(reports: &[ChatReport], target: &str, mode: Mode) -> Option<ChatMedian> {
    let rs: Vec<&ChatReport> = reports
        .iter()
        .filter(|r| r.target == target && r.mode == mode)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let m = |f: &dyn Fn(&ChatReport) -> f64| median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
    let opt = |f: &dyn Fn(&ChatReport) -> Option<f64>| {
        let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| median(&v))
    };
    Some(ChatMedian {
        target: target.to_owned(),
        mode,
        rounds: rs.len(),
        delivered_per_sec: m(&|r| r.delivered_per_sec),
        p50_ms: m(&|r| r.latency_ms.p50),
        p99_ms: m(&|r| r.latency_ms.p99),
        server_cpu_percent: opt(&|r| r.cpu.server_percent),
        bench_cpu_percent: opt(&|r| r.cpu.bench_percent),
    })
}

pub async fn cmd_chat(args: ChatArgs) -> anyhow::Result<ExitCode> {
    if !args.clients.is_multiple_of(args.room_size) {
        bail!(
            "--clients {} is not a whole number of rooms of {}",
            args.clients,
            args.room_size
        );
    }
    let targets = usize::from(!args.servers.skip_starling)
        + usize::from(args.servers.node_peer.is_some() || args.servers.node_url.is_some());
    let per = Duration::from_secs_f64(args.warmup + args.duration + args.grace) + LEAD_IN;
    let planned = per * args.rounds * args.modes.len() as u32 * targets as u32;
    if planned > TOKEN_BUDGET {
        bail!(
            "the measurements take {} s, more than the {} s an access token safely lasts; \
             lower --rounds, --duration, --warmup or --grace",
            planned.as_secs(),
            TOKEN_BUDGET.as_secs()
        );
    }
    check_fd_limit(u64::from(args.clients))?;
    let mut started = Started::start(&args.servers).await?;
    let result = interruptible(chat(&args, &mut started)).await;
    started.stop().await;
    result
}

async fn chat(args: &ChatArgs, started: &mut Started) -> anyhow::Result<ExitCode> {
    let mut sides = Vec::new();
    for (i, target) in started.targets.iter().enumerate() {
        sides.push(set_up(args, target, i).await?);
    }
    let set_up_at = Instant::now();
    let mut reports = Vec::new();
    let mut run_id = 1u64;
    for round in 1..=args.rounds {
        for &mode in &args.modes {
            for side in &sides {
                let target = started
                    .targets
                    .get(side.target_index)
                    .ok_or_else(|| anyhow!("no target"))?;
                eprintln!(
                    "round {round}/{}: {} {}",
                    args.rounds,
                    target.name,
                    mode.name()
                );
                let r = measure(args, target, side, mode, round, run_id).await;
                run_id += 1;
                eprintln!(
                    "  sent {:.0}/s, delivered {:.0}/s, latency p50 {:.2} ms p99 {:.2} ms, \
                     missing {}, ack errors {}; {}",
                    r.sent_per_sec,
                    r.delivered_per_sec,
                    r.latency_ms.p50,
                    r.latency_ms.p99,
                    r.missing,
                    r.ack_errors,
                    r.cpu.summary()
                );
                reports.push(r);
                started.check_alive()?;
            }
        }
    }
    if set_up_at.elapsed() > TOKEN_BUDGET {
        eprintln!("warning: the run outlasted the access token budget");
    }
    for side in &sides {
        let _ = side.plan.send(Plan::Quit);
    }
    for side in &mut sides {
        for t in side.clients.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }

    let mut medians = Vec::new();
    let mut ratios = BTreeMap::new();
    for &mode in &args.modes {
        let s = medians_of(&reports, "starling", mode);
        let n = medians_of(&reports, "node", mode);
        if let (Some(s), Some(n)) = (&s, &n)
            && n.delivered_per_sec > 0.0
        {
            ratios.insert(
                mode.name().to_owned(),
                (s.delivered_per_sec / n.delivered_per_sec * 100.0).round() / 100.0,
            );
        }
        medians.extend(s);
        medians.extend(n);
    }
    let max_of = |t: &str| {
        medians
            .iter()
            .find(|m| m.target == t && m.mode == Mode::Max)
    };
    let pass = match (max_of("starling"), max_of("node")) {
        (Some(s), Some(n)) => Some(
            n.delivered_per_sec > 0.0
                && s.delivered_per_sec / n.delivered_per_sec >= args.min_ratio
                && s.p99_ms <= n.p99_ms,
        ),
        _ => None,
    };
    let mut setup = BTreeMap::new();
    let mut connect_seconds = BTreeMap::new();
    let mut closed = BTreeMap::new();
    let mut join_retries = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for side in &sides {
        let name = started
            .targets
            .get(side.target_index)
            .map_or("?", |t| t.name)
            .to_owned();
        setup.insert(name.clone(), side.phases.clone());
        connect_seconds.insert(name.clone(), round1(side.connect_seconds));
        closed.insert(name.clone(), side.health.closed.load(Ordering::Relaxed));
        join_retries.insert(name.clone(), side.join_retries);
        errors.insert(
            name,
            side.health
                .errors
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
        );
    }
    let summary = ChatSummary {
        scenario: "chat",
        clients: args.clients,
        room_size: args.room_size,
        rate_per_client: args.rate,
        window: args.window,
        threads: args.threads,
        setup,
        connect_seconds,
        join_retries,
        measurements: reports,
        medians,
        ratios,
        connections_closed: closed,
        errors,
        pass,
    };
    if args.json {
        print_json(&summary)?;
    } else {
        print_chat(&summary, args.min_ratio);
    }
    let lossy = summary
        .measurements
        .iter()
        .any(|r| r.missing > 0 || r.ack_errors > 0);
    let closed_any = summary.connections_closed.values().any(|&n| n > 0);
    if lossy || closed_any {
        eprintln!("FAILED: messages were lost or refused, or connections closed");
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    if pass == Some(false) {
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}%"))
}

fn print_chat(s: &ChatSummary, min_ratio: f64) {
    println!(
        "chat: {} clients in rooms of {}, rate mode {} msg/s per client, max mode {} in flight \
         per client, load generator on {} thread(s)",
        s.clients, s.room_size, s.rate_per_client, s.window, s.threads
    );
    for (name, phases) in &s.setup {
        for p in phases {
            println!("  {name} {}", p.line());
        }
        if let Some(secs) = s.connect_seconds.get(name) {
            println!(
                "  {name} connect+join   {} clients in {secs:.1} s",
                s.clients
            );
        }
    }
    println!();
    println!(
        "{:<9} {:<4} {:>5} {:>10} {:>12} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "server",
        "mode",
        "round",
        "sent/s",
        "delivered/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "missing",
        "ack err",
        "srv cpu",
        "gen cpu"
    );
    for r in &s.measurements {
        println!(
            "{:<9} {:<4} {:>5} {:>10.0} {:>12.0} {:>9.2} {:>9.2} {:>9.1} {:>8} {:>8} {:>7} {:>7}",
            r.target,
            r.mode.name(),
            r.round,
            r.sent_per_sec,
            r.delivered_per_sec,
            r.latency_ms.p50,
            r.latency_ms.p99,
            r.latency_ms.max,
            r.missing,
            r.ack_errors,
            opt_pct(r.cpu.server_percent),
            opt_pct(r.cpu.bench_percent)
        );
    }
    println!();
    println!("medians across rounds:");
    for m in &s.medians {
        println!(
            "  {:<9} {:<4} delivered {:>9.0}/s  p50 {:>8.2} ms  p99 {:>8.2} ms  server cpu {}  \
             load generator cpu {}",
            m.target,
            m.mode.name(),
            m.delivered_per_sec,
            m.p50_ms,
            m.p99_ms,
            opt_pct(m.server_cpu_percent),
            opt_pct(m.bench_cpu_percent)
        );
    }
    for (mode, ratio) in &s.ratios {
        println!("  starling/node delivered/s, {mode}: {ratio:.2}x");
    }
    for (name, n) in &s.connections_closed {
        if *n > 0 {
            println!("{name}: {n} connections closed during the run");
        }
    }
    for (name, errs) in &s.errors {
        for (e, n) in errs {
            println!("{name} error x{n}: {e}");
        }
    }
    match s.pass {
        Some(true) => println!(
            "PASS: in the max run Starling delivers at least {min_ratio}x the Node peer's \
             messages/s at an equal or lower p99"
        ),
        Some(false) => println!(
            "FAIL: in the max run Starling does not deliver {min_ratio}x the Node peer's \
             messages/s at an equal or lower p99"
        ),
        None => {}
    }
}

// ---------------------------------------------------------------------------
// chat-hold

#[derive(Args)]
pub struct ChatHoldArgs {
    #[command(flatten)]
    servers: Servers,

    /// Idle Socket.IO connections to hold
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    connections: u32,

    /// Users the connections are spread over (round-robin)
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(2..=100_000))]
    users: u32,

    /// Connections being opened at the same time
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    open_concurrency: u32,

    /// Seconds to let the server settle before each memory reading
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = seconds)]
    settle: f64,

    /// Concurrent registrations while seeding
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    register_concurrency: u32,

    /// Open only the Engine.IO connections (WebSocket and open packet, no
    /// Socket.IO connect), to tell the transport's memory from the
    /// namespace socket's; no liveness sample (the server closes them
    /// after its connect timeout, 45 s by default)
    #[arg(long)]
    engine_only: bool,

    /// PASS threshold: KiB of server memory per connection
    #[arg(long, value_name = "KIB", default_value_t = 30.0, value_parser = seconds)]
    max_kib: f64,

    /// Worker threads of the load generator
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Print one JSON object for the run on stdout (progress goes to stderr)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Serialize)]
struct HoldReport {
    target: String,
    /// Engine.IO connections only (no Socket.IO connect).
    engine_only: bool,
    server_pid: Option<u32>,
    connections: u64,
    users: u64,
    seeding: Vec<PhaseReport>,
    open_seconds: f64,
    opened_per_sec: f64,
    before: Option<Memory>,
    after: Option<Memory>,
    kib_per_connection: Option<f64>,
    sample_connections: u64,
    sample_delivered: u64,
    sample_latency_ms: Option<f64>,
    closed: u64,
    server_fd_limit: Option<u64>,
}

pub async fn cmd_chat_hold(args: ChatHoldArgs) -> anyhow::Result<ExitCode> {
    check_fd_limit(u64::from(args.connections) + 1)?;
    let mut started = Started::start(&args.servers).await?;
    let result = interruptible(chat_hold(&args, &mut started)).await;
    started.stop().await;
    result
}

async fn chat_hold(args: &ChatHoldArgs, started: &mut Started) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    for target in &started.targets {
        reports.push(hold_one(args, target).await?);
    }
    started.check_alive()?;
    if args.json {
        print_json(&serde_json::json!({
            "scenario": "chat-hold",
            "max_kib": args.max_kib,
            "servers": reports,
        }))?;
    } else {
        for r in &reports {
            print_hold(r);
        }
    }
    let mut ok = true;
    for r in &reports {
        if r.sample_delivered < r.sample_connections || r.closed > 0 {
            eprintln!(
                "FAILED: {}: the sample reached {} of {} connections; {} closed",
                r.target, r.sample_delivered, r.sample_connections, r.closed
            );
            ok = false;
        }
        if r.target == "starling"
            && let Some(kib) = r.kib_per_connection
            && kib > args.max_kib
        {
            eprintln!(
                "FAIL: Starling holds {kib:.1} KiB per connection, more than {}",
                args.max_kib
            );
            ok = false;
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

async fn hold_one(args: &ChatHoldArgs, target: &Target) -> anyhow::Result<HoldReport> {
    let n = args.connections as usize;
    let users = args.users as usize;
    let server_limit = check_server_fd_limit(target.name, target.pid, n as u64)?;
    if target.pid.is_none() {
        eprintln!(
            "warning: no pid for {} (give --pid/--node-pid, or spawn it): no memory figures",
            target.name
        );
    }
    eprintln!("{}: registering {users} users", target.name);
    let room_size = users.min(10);
    let (seeder, rooms) =
        seed_rooms(target, users, room_size, args.register_concurrency as usize).await?;
    let room = rooms
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("no room was created"))?;
    let settle = Duration::from_secs_f64(args.settle);
    tokio::time::sleep(settle).await;
    let before = target.pid.and_then(memory);

    let received = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    eprintln!(
        "  opening {n} connections over {users} users, {} at a time",
        args.open_concurrency
    );
    let engine_only = args.engine_only;
    let opened = open_all(
        n,
        args.open_concurrency as usize,
        "    ",
        |k| {
            let token = seeder
                .accounts
                .get(k % users)
                .map(|a| a.access.clone())
                .unwrap_or_default();
            let (addr, authority) = (target.addr, target.base.authority.clone());
            async move {
                let connect = async {
                    if engine_only {
                        SioClient::open(addr, &authority).await
                    } else {
                        SioClient::connect(addr, &authority, &token).await
                    }
                };
                tokio::time::timeout(CONNECT_TIMEOUT, connect)
                    .await
                    .map_err(|_| anyhow!("no connect within {CONNECT_TIMEOUT:?}"))?
            }
        },
        {
            let (received, closed) = (received.clone(), closed.clone());
            move |sio| count_new_messages(sio, received.clone(), closed.clone())
        },
    )
    .await;
    let held = match opened {
        Ok(h) => h,
        Err((failed, first)) => bail!(
            "{}: {failed} of {n} connections failed; the first errors:\n  {}",
            target.name,
            first.join("\n  ")
        ),
    };
    let open_seconds = held.seconds;
    eprintln!(
        "  all {n} connected after {open_seconds:.1} s ({:.0}/s)",
        n as f64 / open_seconds.max(1e-3)
    );
    tokio::time::sleep(settle).await;
    let after = target.pid.and_then(memory);

    // The sample: one more connection of the room's owner sends a message;
    // every held connection of the room's members gets new-message.
    let sample_connections = if engine_only {
        0
    } else {
        (0..n).filter(|k| k % users < room_size).count() as u64
    };
    let owner = seeder
        .accounts
        .first()
        .map(|a| a.access.clone())
        .unwrap_or_default();
    let mut sample_latency = None;
    if !engine_only {
        sample_latency = send_sample(target, &owner, &room, &received, sample_connections).await?;
    }
    let report = HoldReport {
        target: target.name.to_owned(),
        engine_only,
        server_pid: target.pid,
        connections: n as u64,
        users: users as u64,
        seeding: seeder.phases,
        open_seconds: round1(open_seconds),
        opened_per_sec: (n as f64 / open_seconds.max(1e-3)).round(),
        before,
        after,
        kib_per_connection: kib_per(before, after, n),
        sample_connections,
        sample_delivered: received.load(Ordering::Relaxed),
        sample_latency_ms: sample_latency.map(round1),
        closed: closed.load(Ordering::Relaxed),
        server_fd_limit: server_limit,
    };
    // Close the connections before the next server is measured.
    held.close().await;
    Ok(report)
}

/// Counts a held connection's new-message events until it closes.
async fn count_new_messages(mut sio: SioClient, received: Arc<AtomicU64>, closed: Arc<AtomicU64>) {
    loop {
        match sio.recv().await {
            Ok(Some(Incoming::Event(frame))) => {
                if let Ok(EioPacket::Message(SioPacket::Event { data, .. })) = decode(&frame)
                    && event_name(data).as_deref() == Some("new-message")
                {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Some(Incoming::Ack(..))) => {}
            Ok(None) | Err(_) => {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// One message from a new connection of the room's owner; waits until
/// `expected` new-message events were counted in `received`, returns how
/// long that took (None if not within 10 s).
async fn send_sample(
    target: &Target,
    owner: &str,
    room: &str,
    received: &AtomicU64,
    expected: u64,
) -> anyhow::Result<Option<f64>> {
    let mut sender = SioClient::connect(target.addr, &target.base.authority, owner).await?;
    let sent = Instant::now();
    // Sent again (same clientMsgId, so at most one message) if the first
    // emit right after connecting goes unanswered; see connect_and_join.
    let payload =
        serde_json::json!({"roomId": room, "text": "are you there?", "clientMsgId": "hold-1"});
    let (frame, retries) = call_retrying(&mut sender, "send-message", &payload, 1).await?;
    if retries > 0 {
        eprintln!(
            "  warning: the sample send-message got no ack; it was sent {retries} more times"
        );
    }
    let data = crate::sio::frame_data(&frame).unwrap_or_default();
    if first_arg::<AckBody>(data, false).map_or(true, |b| b.error.is_some()) {
        bail!("{}: the sample send-message failed: {data}", target.name);
    }
    let sample_latency = wait_for_count(received, 0, expected, sent, Duration::from_secs(10)).await;
    sender.close().await;
    Ok(sample_latency)
}

fn print_hold(r: &HoldReport) {
    println!(
        "chat-hold {}: {} {} connections over {} users, opened in {:.1} s ({}/s)",
        r.target,
        r.connections,
        if r.engine_only {
            "Engine.IO-only"
        } else {
            "Socket.IO"
        },
        r.users,
        r.open_seconds,
        r.opened_per_sec
    );
    match (r.before, r.after) {
        (Some(b), Some(a)) => {
            println!(
                "  server VmRSS: {} before, {} with the connections (peak {})",
                mib(b.rss_kb),
                mib(a.rss_kb),
                mib(a.hwm_kb)
            );
            if let Some(kib) = r.kib_per_connection {
                println!("  {kib:.2} KiB per connection");
            }
        }
        _ => println!("  server memory: unknown (no pid)"),
    }
    let latency = r
        .sample_latency_ms
        .map_or_else(String::new, |ms| format!(", all within {ms:.1} ms"));
    println!(
        "  liveness: one message reached {} of the {} connections of its room's members{latency}",
        r.sample_delivered, r.sample_connections
    );
    println!(
        "  connections closed: {}; server file limit {}",
        r.closed,
        r.server_fd_limit
            .map_or_else(|| "?".to_owned(), |v| v.to_string())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_texts_carry_run_time_and_sender() {
        assert_eq!(
            parse_text("7 123456789 42 3 xxxxxxxx"),
            Some((7, 123_456_789, 42))
        );
        assert_eq!(parse_text("7 123"), None);
        assert_eq!(parse_text("hello there"), None);
    }

    #[test]
    fn medians_per_server_and_mode() {
        let cpu = CpuUse {
            cores: 2,
            server_percent: Some(100.0),
            bench_percent: None,
            other_percent: None,
            machine_busy_percent: None,
        };
        let lat = |p99: f64| LatencyMs {
            p50: 1.0,
            p90: 1.0,
            p99,
            p999: p99,
            max: p99,
            mean: 1.0,
        };
        let r = |target: &str, mode, delivered, p99| ChatReport {
            target: target.to_owned(),
            mode,
            round: 1,
            clients: 10,
            room_size: 10,
            rate_per_client: None,
            window: None,
            duration_s: 1.0,
            sent_per_sec: 0.0,
            delivered_per_sec: delivered,
            new_message_per_sec: 0.0,
            latency_ms: lat(p99),
            ack_latency_ms: lat(p99),
            sent: 0,
            acked: 0,
            ack_errors: 0,
            missing: 0,
            echoes: 0,
            stale: 0,
            cpu: cpu.clone(),
        };
        let reports = vec![
            r("node", Mode::Max, 10.0, 5.0),
            r("node", Mode::Max, 30.0, 9.0),
            r("node", Mode::Max, 20.0, 7.0),
            r("starling", Mode::Max, 60.0, 4.0),
        ];
        let m = medians_of(&reports, "node", Mode::Max).expect("node max");
        assert_eq!((m.rounds, m.delivered_per_sec, m.p99_ms), (3, 20.0, 7.0));
        assert_eq!(m.bench_cpu_percent, None);
        assert!(medians_of(&reports, "node", Mode::Rate).is_none());
    }
}
