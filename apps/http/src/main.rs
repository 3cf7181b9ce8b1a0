//! The HTTP server PD: the core ([`http::Connection`]) on the network server's
//! socket `http` (net.toml), and the component table from the data store.
//!
//! Everything is driven by notifications: from the network server when a
//! socket's readiness changed (then every connection is moved as far as it
//! goes: accept, send, receive, close), from DS when a `component.*` key
//! changed (then the table is brought up to date). One notification gets one
//! slice of work (`net_api::Slice`); what is left then waits for the next,
//! which the server sends when asked (`NetClient::poke`), so the event loop
//! answers heartbeats however busy the connections are. Each slice starts
//! with another connection, so none waits behind a busy one for long.
//!
//! Files (`GET`/`PUT /files/`): the file system server takes one request of
//! ours at a time, so the connections that need a file call are served in
//! turn: the call is started, and when vfs notifies, its result goes to the
//! connection that asked (or, if it is gone, a handle it opened is closed).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use ds_api::DsClient;
use http::{COMPONENT_PREFIX, ComponentTable, Connection, FileAnswer, FileCall};
use microkit::{Channel, Handler, debug_println};
use net_api::{ConnId, NetClient, NetError, Slice};
use vfs_api::{Handle, VfsClient, VfsError};

microkit::include_system!("http");
include!(concat!(env!("OUT_DIR"), "/http.net_sockets.rs"));

const NET: Channel = channel::NET;
const DS: Channel = channel::DS;
const VFS: Channel = channel::VFS;

/// What the file call in flight will answer.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Stat,
    Open,
    Read,
    Write,
    Done,
}

struct Http {
    net: NetClient,
    ds: DsClient,
    table: ComponentTable,
    /// The last DS change seen.
    seq: u64,
    conns: Vec<(ConnId, Connection)>,
    buf: Vec<u8>,
    /// The connection the next slice starts with.
    next: usize,
    vfs: VfsClient,
    /// The file call in flight: for which connection (`None`: closing a
    /// handle whose connection is gone), and what it answers.
    file_call: Option<(Option<ConnId>, Pending)>,
    /// Handles of connections that went away, to close.
    orphans: Vec<Handle>,
}

impl Http {
    fn refresh_table(&mut self) {
        let (mut key, mut value) = ([0u8; ds_api::KEY_MAX], [0u8; ds_api::VALUE_MAX]);
        while let Ok(Some(c)) = self.ds.next_change(self.seq, &mut key, &mut value) {
            self.seq = c.seq;
            self.table.apply(&key[..c.key_len], &value[..c.value_len], c.deleted);
        }
    }

    fn serve(&mut self) {
        loop {
            match self.net.accept(net_sockets::HTTP) {
                Ok(c) => self.conns.push((c, Connection::new())),
                Err(NetError::WouldBlock) => break,
                Err(e) => {
                    debug_println!("http: accept: {e}");
                    break;
                }
            }
        }
        let slice = Slice::start();
        let n = self.conns.len();
        let mut finished = Vec::new();
        let mut unfinished = false;
        for k in 0..n {
            let i = (self.next + k) % n;
            match self.step(i, &slice) {
                Some(true) => {}
                Some(false) => finished.push(i),
                None => {
                    unfinished = true;
                    self.next = i;
                    break;
                }
            }
        }
        if !unfinished {
            self.next = self.next.wrapping_add(1);
        }
        finished.sort_unstable();
        for i in finished.into_iter().rev() {
            let (_, conn) = self.conns.swap_remove(i);
            self.orphans.extend(conn.file_handle());
        }
        self.start_file_call();
        if unfinished {
            self.net.poke();
        }
    }

    /// Starts the next file call if none is in flight: a gone connection's
    /// handle first, then the connections in turn.
    fn start_file_call(&mut self) {
        while self.file_call.is_none() {
            if let Some(h) = self.orphans.pop() {
                if self.vfs.start_close(h).is_ok() {
                    self.file_call = Some((None, Pending::Done));
                }
                continue;
            }
            let n = self.conns.len();
            let Some((i, call)) =
                (0..n).map(|k| (self.next + k) % n).find_map(|i| Some((i, self.conns[i].1.file_call()?)))
            else {
                return;
            };
            let vfs = &self.vfs;
            let (started, pending) = match &call {
                FileCall::Stat(path) => (vfs.start_stat(path), Pending::Stat),
                FileCall::Open(path, flags) => (vfs.start_open(path, *flags), Pending::Open),
                FileCall::Read(h, len) => (vfs.start_read(*h, (*len).min(self.buf.len())), Pending::Read),
                FileCall::Write(h, data) => (vfs.start_write(*h, data), Pending::Write),
                FileCall::Fsync(h) => (vfs.start_fsync(*h), Pending::Done),
                FileCall::Close(h) => (vfs.start_close(*h), Pending::Done),
            };
            let (id, conn) = &mut self.conns[i];
            match started {
                Ok(()) => self.file_call = Some((Some(*id), pending)),
                // Refused at once: the connection answers the error.
                Err(e) => conn.file_answer(Err(e), &self.table),
            }
        }
    }

    /// vfs notified: the result of the call in flight, to whom it belongs.
    fn file_result(&mut self) {
        let Some((owner, pending)) = self.file_call else { return };
        let vfs = &self.vfs;
        let result = match pending {
            Pending::Stat => vfs.take_stat().map(FileAnswer::Stat),
            Pending::Open => vfs.take_handle().map(FileAnswer::Handle),
            Pending::Read => vfs.take_read(&mut self.buf).map(|n| FileAnswer::Data(self.buf[..n].to_vec())),
            Pending::Write => vfs.take_value().map(FileAnswer::Written),
            Pending::Done => vfs.take_done().map(|()| FileAnswer::Done),
        };
        if result == Err(VfsError::WouldBlock) {
            return;
        }
        self.file_call = None;
        match owner.and_then(|id| self.conns.iter_mut().find(|(c, _)| *c == id)) {
            Some((_, conn)) => conn.file_answer(result, &self.table),
            None => {
                // Gone meanwhile: a handle it was given is closed, nothing else.
                if let Ok(FileAnswer::Handle(h)) = result {
                    self.orphans.push(h);
                }
            }
        }
        self.serve();
    }

    /// Moves connection `i` as far as it goes now: `Some(false)`: it is
    /// finished and given back to the server; `Some(true)`: it waits for the
    /// network; `None`: the slice ran out first.
    fn step(&mut self, i: usize, slice: &Slice) -> Option<bool> {
        let (id, conn) = &mut self.conns[i];
        let id = *id;
        loop {
            if slice.over() {
                return None;
            }
            let mut progress = false;
            loop {
                // The server drains what it takes to the wire within the call, so
                // this could go on for a whole download: the slice bounds it.
                if progress && slice.over() {
                    return None;
                }
                let out = conn.pending_output();
                if out.is_empty() {
                    break;
                }
                match self.net.send(id, out) {
                    Ok(n) => {
                        conn.advance(n, &self.table);
                        progress = true;
                    }
                    Err(NetError::WouldBlock) => break,
                    // Reset by the peer, or gone: nothing more to send.
                    Err(_) => {
                        let _ = self.net.abort(id);
                        return Some(false);
                    }
                }
            }
            let room = conn.input_room().min(self.buf.len());
            if room > 0 {
                match self.net.recv(id, &mut self.buf[..room]) {
                    Ok(0) => {
                        conn.peer_closed();
                        progress = true;
                    }
                    Ok(n) => {
                        conn.receive(&self.buf[..n], &self.table);
                        progress = true;
                    }
                    Err(NetError::WouldBlock) => {}
                    Err(_) => {
                        let _ = self.net.abort(id);
                        return Some(false);
                    }
                }
            }
            if conn.is_done() {
                let _ = self.net.close(id);
                return Some(false);
            }
            if !progress {
                return Some(true);
            }
        }
    }
}

impl Handler for Http {
    fn notified(&mut self, channel: Channel) {
        match channel {
            NET => self.serve(),
            DS => self.refresh_table(),
            VFS => self.file_result(),
            _ => {}
        }
    }
}

fn init() -> Http {
    let net = NetClient::new(NET, region::net_http_data());
    let ds = DsClient::new(DS, region::ds_http());
    if let Err(e) = ds.subscribe(COMPONENT_PREFIX) {
        debug_println!("http: cannot subscribe to {COMPONENT_PREFIX}* in DS: {e}; the table stays empty");
    }
    let buf = vec![0u8; net.max_transfer()];
    let vfs = VfsClient::new(VFS, region::vfs_http_data());
    let mut http = Http {
        net,
        ds,
        table: ComponentTable::new(),
        seq: 0,
        conns: Vec::new(),
        buf,
        next: 0,
        vfs,
        file_call: None,
        orphans: Vec::new(),
    };
    http.refresh_table();
    debug_println!("http: serving port 80 ({} components known)", http.table.len());
    http.serve();
    http
}

microkit::protection_domain!(init);
