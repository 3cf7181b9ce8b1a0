//! A TCP port of the machine forwarded into a network namespace, as QEMU's
//! `hostfwd`: each connection accepted on the listening address is connected,
//! from inside the namespace, to the target, and bytes are copied both ways; an
//! end that finishes sending is passed on as a half-close (`shutdown(Write)`),
//! so a client may stop sending and still read the answer.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use super::{Namespace, enter};

/// Where the relay listens unless told otherwise: the machine's loopback, port 8080.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// Where the relay's messages go (its failures: a target that refuses, a
/// connection turned away at the cap); one line each, without a newline.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// How a relay behaves.
#[derive(Clone)]
pub struct RelayOptions {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long a connection to the target may take to be made.
    pub connect_timeout: Duration,
    /// Where messages go; `None`: standard error.
    pub log: Option<Log>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions { max_connections: 64, connect_timeout: Duration::from_secs(5), log: None }
    }
}

/// A running relay; dropping it stops it: it stops accepting, closes every
/// connection it relays and waits for its threads (at most the connect timeout,
/// for a connection still being made).
pub struct Relay {
    local: SocketAddr,
    /// Written once to stop the accepting thread.
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

/// What every thread of one relay shares.
struct Shared {
    what: String,
    target: SocketAddr,
    namespace: Option<(Arc<OwnedFd>, String)>,
    options: RelayOptions,
    open: Mutex<Open>,
}

/// The connections being relayed, so that stopping can close them.
#[derive(Default)]
struct Open {
    stopping: bool,
    next: u64,
    streams: HashMap<u64, Vec<TcpStream>>,
}

impl Shared {
    fn log(&self, line: String) {
        let line = format!("relay {}: {line}", self.what);
        match &self.options.log {
            Some(log) => log(line),
            None => eprintln!("{line}"),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Relay {
    /// Listens on `listen` (port 0: any free port, see [`Relay::local_addr`]) in
    /// this process's namespace and relays each connection to `target`, connected
    /// from inside `namespace` (`None`: from this process's namespace too).
    pub fn start(
        listen: SocketAddr,
        target: SocketAddr,
        namespace: Option<&Namespace>,
        options: RelayOptions,
    ) -> io::Result<Relay> {
        let what = match namespace {
            Some(ns) => format!("{listen} -> {target} in network namespace {}", ns.name),
            None => format!("{listen} -> {target}"),
        };
        if options.max_connections == 0 {
            return Err(io::Error::other(format!("relay {what}: max_connections must be at least 1")));
        }
        let listener = TcpListener::bind(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("relay {what}: cannot listen on {listen}: {e}")))?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let (wait, wake) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let shared = Arc::new(Shared {
            what,
            target,
            namespace: namespace.map(|ns| (ns.handle.clone(), ns.name.clone())),
            options,
            open: Mutex::default(),
        });
        let thread = std::thread::Builder::new()
            .name(format!("relay {local}"))
            .spawn(move || accept_loop(&listener, &wait, &shared))?;
        Ok(Relay { local, wake, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // A pipe with room for a byte; should the write fail, the thread is gone already.
        let _ = rustix::io::write(&self.wake, &[1]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts until `wait` is readable, then closes what is open and joins every
/// connection's thread.
fn accept_loop(listener: &TcpListener, wait: &OwnedFd, shared: &Arc<Shared>) {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let mut fds = [PollFd::new(listener, PollFlags::IN), PollFd::new(wait, PollFlags::IN)];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                shared.log(format!("stops: poll: {e}"));
                break;
            }
        }
        if !fds[1].revents().is_empty() {
            break;
        }
        threads.retain(|t| !t.is_finished());
        let (client, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of descriptors, say: give it a moment rather than spin.
                shared.log(format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if threads.len() >= shared.options.max_connections {
            shared.log(format!("turned away a connection from {peer}: {} connections are open already", threads.len()));
            continue;
        }
        match start_connection(client, peer, shared) {
            Ok(t) => threads.push(t),
            Err(e) => shared.log(format!("connection from {peer}: {e}")),
        }
    }
    let mut open = shared.open();
    open.stopping = true;
    for s in open.streams.values().flatten() {
        let _ = s.shutdown(Shutdown::Both);
    }
    drop(open);
    for t in threads {
        let _ = t.join();
    }
}

fn start_connection(client: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) -> io::Result<JoinHandle<()>> {
    client.set_nonblocking(false)?;
    let id = {
        let mut open = shared.open();
        let id = open.next;
        open.next += 1;
        open.streams.insert(id, vec![client.try_clone()?]);
        id
    };
    let mine = shared.clone();
    let spawned = std::thread::Builder::new().name(format!("relay {peer}")).spawn(move || {
        let shared = mine;
        let result = relay_connection(id, &client, &shared);
        let stopping = shared.open().stopping;
        // (Stopping shuts every stream down; what that breaks is no news.)
        if let (Err(e), false) = (result, stopping) {
            shared.log(format!("connection from {peer}: {e}"));
        }
        let _ = client.shutdown(Shutdown::Both);
        shared.open().streams.remove(&id);
    });
    if spawned.is_err() {
        shared.open().streams.remove(&id);
    }
    spawned
}

/// Connects to the target (from inside the namespace: this thread joins it) and
/// copies both ways until both ends have finished sending.
fn relay_connection(id: u64, client: &TcpStream, shared: &Shared) -> io::Result<()> {
    if let Some((handle, name)) = &shared.namespace {
        enter(handle, name)?;
    }
    // (The namespace is named in every message, by `Shared::log`.)
    let target = TcpStream::connect_timeout(&shared.target, shared.options.connect_timeout)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {}: {e}", shared.target)))?;
    {
        let mut open = shared.open();
        if open.stopping {
            return Ok(());
        }
        if let Some(streams) = open.streams.get_mut(&id) {
            streams.push(target.try_clone()?);
        }
    }
    let (client_back, target_back) = (client.try_clone()?, target.try_clone()?);
    let back = std::thread::Builder::new()
        .name(format!("relay {} back", shared.target))
        .spawn(move || copy_then_half_close(&target_back, &client_back))?;
    let sent = copy_then_half_close(client, &target);
    let received = back.join().unwrap_or_else(|_| Err(io::Error::other("the copying thread panicked")));
    let _ = target.shutdown(Shutdown::Both);
    match (sent, received) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), _) => Err(io::Error::new(e.kind(), format!("to {}: {e}", shared.target))),
        (_, Err(e)) => Err(io::Error::new(e.kind(), format!("from {}: {e}", shared.target))),
    }
}

/// Copies `from` to `to` until `from` finishes sending, then finishes sending on
/// `to`. On an error both are shut down both ways, so the other direction ends too.
fn copy_then_half_close(mut from: &TcpStream, mut to: &TcpStream) -> io::Result<u64> {
    match io::copy(&mut from, &mut to) {
        Ok(n) => {
            // The peer may have gone already; nothing left to tell it then.
            let _ = to.shutdown(Shutdown::Write);
            Ok(n)
        }
        Err(e) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            Err(e)
        }
    }
}
