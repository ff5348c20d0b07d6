//! A TCP proxy the test controls, in front of a real provider: faults are injected
//! outside the service's process, on the wire, as production meets them.
//!
//! Modes, switchable at any time; each switch returns once it is in effect:
//! - [`pass`](FaultProxy::pass): bytes are forwarded both ways;
//! - [`refuse`](FaultProxy::refuse): the port stops listening, so `connect()` fails with
//!   ECONNREFUSED, and existing connections are cut (reset);
//! - [`black_hole`](FaultProxy::black_hole): connections are accepted and then nothing is
//!   forwarded or answered, and existing connections go silent too (a hung provider).
//!   Nothing sent during the black hole ever reaches the provider: when it ends, the
//!   connections that went through it are cut, never resumed;
//! - [`restore`](FaultProxy::restore): pass again, on the same port.
//!
//! Loopback only. Dropping the proxy stops its tasks, which close the port and every
//! connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    BlackHole,
}

/// The acceptor's entry in [`Shared::seen`]; connections count from 1.
const ACCEPTOR: u64 = 0;

struct Shared {
    /// The generation each live task (the acceptor, each connection) has applied; a
    /// task's entry leaves with it, after its sockets are closed.
    seen: watch::Sender<HashMap<u64, u64>>,
    accepted: AtomicUsize,
    next_id: AtomicU64,
}

impl Shared {
    fn applied(&self, task: u64, generation: u64) {
        self.seen.send_modify(|seen| {
            seen.insert(task, generation);
        });
    }
}

/// Removes a task's entry from [`Shared::seen`] when the task ends or is dropped.
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.seen.send_modify(|seen| {
            seen.remove(&self.id);
        });
    }
}

/// A fault-injecting TCP proxy on `127.0.0.1`, in front of `upstream`.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// The mode and its generation: every switch is a new generation, even to the same
    /// mode, so a switch can wait for every task to have seen it. Only the proxy holds
    /// the sender: when it is dropped, every task sees the channel closed and ends.
    mode: watch::Sender<(u64, Mode)>,
    shared: Arc<Shared>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Every task also ends when it sees the mode sender gone (with this struct);
        // aborting the acceptor closes the port without waiting for it to be polled.
        self.acceptor.abort();
    }
}

impl FaultProxy {
    /// Starts the proxy in pass mode on a free loopback port. The port is chosen
    /// below the kernel's ephemeral range when possible, so that while it is refused no
    /// outgoing connection can take it as its source port and block `restore()`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = bind_free_port().await;
        let addr = listener.local_addr().unwrap();
        let (mode, mode_rx) = watch::channel((0, Mode::Pass));
        let (seen, _) = watch::channel(HashMap::from([(ACCEPTOR, 0)]));
        let shared = Arc::new(Shared {
            seen,
            accepted: AtomicUsize::new(0),
            next_id: AtomicU64::new(ACCEPTOR + 1),
        });
        let acceptor = tokio::spawn(accept_loop(
            shared.clone(),
            mode_rx,
            listener,
            addr,
            upstream,
        ));
        FaultProxy {
            addr,
            upstream,
            mode,
            shared,
            acceptor,
        }
    }

    /// Where clients connect: always the same port, whatever the mode.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address being proxied.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far, in any mode.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now (accepted and not yet closed).
    pub fn open_connections(&self) -> usize {
        self.shared
            .seen
            .borrow()
            .keys()
            .filter(|&&id| id != ACCEPTOR)
            .count()
    }

    pub fn mode(&self) -> Mode {
        self.mode.borrow().1
    }

    /// Forwards bytes both ways.
    pub async fn pass(&self) {
        self.switch(Mode::Pass).await;
    }

    /// Stops listening (connect() gets ECONNREFUSED) and cuts existing connections.
    pub async fn refuse(&self) {
        self.switch(Mode::Refuse).await;
    }

    /// Accepts connections and never answers; existing connections go silent.
    pub async fn black_hole(&self) {
        self.switch(Mode::BlackHole).await;
    }

    /// Back to [`pass`](Self::pass), on the same port.
    pub async fn restore(&self) {
        self.switch(Mode::Pass).await;
    }

    /// Sets the mode, then waits until the acceptor and every connection have applied
    /// it (a connection that closes has nothing left to apply).
    async fn switch(&self, mode: Mode) {
        let mut generation = 0;
        self.mode.send_modify(|current| {
            current.0 += 1;
            current.1 = mode;
            generation = current.0;
        });
        let mut seen = self.shared.seen.subscribe();
        let applied = seen.wait_for(|seen| seen.values().all(|&g| g >= generation));
        tokio::time::timeout(Duration::from_secs(10), applied)
            .await
            .unwrap_or_else(|_| panic!("the proxy did not switch to {mode:?} within 10 s"))
            .expect("the proxy's state outlives its tasks");
    }
}

/// Binds a loopback port outside the ephemeral range, or any free port.
async fn bind_free_port() -> TcpListener {
    for _ in 0..50 {
        let Some(port) = port_outside_ephemeral_range() else {
            break;
        };
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            return listener;
        }
    }
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// A random port below the kernel's ephemeral range (which the kernel never hands
/// out as a source port), never returned before in this process, so that the proxies
/// and service processes of tests running side by side do not pick the same one.
/// None when the range leaves no room below it.
pub fn port_outside_ephemeral_range() -> Option<u16> {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    const LOWEST: u16 = 10_000;
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if low < LOWEST + 1_000 {
        return None;
    }
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = LOWEST + rand::random::<u16>() % (low - LOWEST);
        if !given.contains(&port) {
            given.push(port);
            return Some(port);
        }
    }
}

/// Binds `addr` again after a refusal, retrying while the port is briefly in use.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..200 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the proxy could not listen on {addr} again: {last:?}");
}

async fn accept_loop(
    shared: Arc<Shared>,
    mut mode: watch::Receiver<(u64, Mode)>,
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
) {
    let mut listener = Some(listener);
    loop {
        let (generation, current) = *mode.borrow_and_update();
        match current {
            Mode::Refuse => {
                // Closed before the switch returns: the port no longer listens.
                listener = None;
                shared.applied(ACCEPTOR, generation);
            }
            Mode::Pass | Mode::BlackHole => {
                if listener.is_none() {
                    listener = Some(rebind(addr).await);
                }
                shared.applied(ACCEPTOR, generation);
            }
        }
        let Some(open) = &listener else {
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = open.accept() => {
                let Ok((client, _)) = accepted else { continue };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
                // Registered before the next switch can be made to wait for it.
                shared.applied(id, generation);
                let registration = Registration { shared: shared.clone(), id };
                let conn = Connection { client, upstream: None, cut: true, registration };
                // A clone has seen what the acceptor has seen: a switch made since is
                // still news to the connection.
                tokio::spawn(conn.run(mode.clone(), upstream, (generation, current)));
            }
        }
    }
}

/// One accepted connection. The sockets are declared before the registration, so
/// they are closed before the switch waiting on it is released.
struct Connection {
    client: TcpStream,
    upstream: Option<TcpStream>,
    /// Whether closing is a cut (a reset, as a dead peer's), rather than the end of a
    /// conversation both sides finished.
    cut: bool,
    registration: Registration,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.cut {
            let _ = self.client.set_zero_linger();
            self.cut_upstream();
        }
    }
}

impl Connection {
    async fn run(
        mut self,
        mut mode: watch::Receiver<(u64, Mode)>,
        upstream: SocketAddr,
        // The generation and mode the acceptor recorded for this connection.
        (mut generation, mut current): (u64, Mode),
    ) {
        loop {
            match current {
                Mode::Refuse => return,
                Mode::BlackHole => {
                    self.cut_upstream();
                    self.apply(generation);
                    // Silent: nothing is read or written until the black hole ends,
                    // and then this connection is cut.
                    loop {
                        if mode.changed().await.is_err() {
                            return;
                        }
                        let (g, next) = *mode.borrow_and_update();
                        if next != Mode::BlackHole {
                            return;
                        }
                        self.apply(g);
                    }
                }
                Mode::Pass => {
                    if self.upstream.is_none() {
                        match TcpStream::connect(upstream).await {
                            Ok(stream) => {
                                let _ = stream.set_nodelay(true);
                                self.upstream = Some(stream);
                            }
                            Err(_) => return,
                        }
                    }
                    self.apply(generation);
                    let upstream = self.upstream.as_mut().expect("connected above");
                    let forward = tokio::io::copy_bidirectional(&mut self.client, upstream);
                    tokio::pin!(forward);
                    // Switches to pass (a restore while passing) must not interrupt
                    // the copy, or bytes in its buffers would be lost.
                    let next = loop {
                        tokio::select! {
                            _ = &mut forward => {
                                self.cut = false;
                                return;
                            }
                            changed = mode.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                                let (g, next) = *mode.borrow_and_update();
                                generation = g;
                                if next != Mode::Pass {
                                    break next;
                                }
                                self.registration.shared.applied(self.registration.id, g);
                            }
                        }
                    };
                    current = next;
                }
            }
        }
    }

    fn apply(&self, generation: u64) {
        self.registration
            .shared
            .applied(self.registration.id, generation);
    }

    /// Resets the connection to the provider, so nothing more reaches it.
    fn cut_upstream(&mut self) {
        if let Some(upstream) = self.upstream.take() {
            let _ = upstream.set_zero_linger();
        }
    }
}
