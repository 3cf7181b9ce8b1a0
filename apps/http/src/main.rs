//! The HTTP server PD: the core ([`http::Connection`]) on the network server's
//! socket `http` (net.toml), and the component table from the data store.
//!
//! Everything is driven by notifications: from the network server when a
//! socket's readiness changed (then every connection is moved as far as it
//! goes: accept, send, receive, close), from DS when a `component.*` key
//! changed (then the table is brought up to date).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use ds_api::DsClient;
use http::{COMPONENT_PREFIX, ComponentTable, Connection};
use microkit::{Channel, Handler, debug_println};
use net_api::{ConnId, NetClient, NetError};

microkit::include_system!("http");
include!(concat!(env!("OUT_DIR"), "/http.net_sockets.rs"));

const NET: Channel = channel::NET;
const DS: Channel = channel::DS;
/// Rounds of sends and receives one connection gets per notification before
/// the next is served (each round moves up to a data region's worth).
const ROUNDS: usize = 64;

struct Http {
    net: NetClient,
    ds: DsClient,
    table: ComponentTable,
    /// The last DS change seen.
    seq: u64,
    conns: Vec<(ConnId, Connection)>,
    buf: Vec<u8>,
    served: u64,
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
        let mut i = 0;
        while i < self.conns.len() {
            if self.step(i) {
                i += 1;
            } else {
                let (_, conn) = self.conns.swap_remove(i);
                self.served += conn.requests();
            }
        }
    }

    /// Moves connection `i` as far as it goes now; `false`: it is finished and
    /// given back to the server.
    fn step(&mut self, i: usize) -> bool {
        let (id, conn) = &mut self.conns[i];
        let id = *id;
        for _ in 0..ROUNDS {
            let mut progress = false;
            loop {
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
                        return false;
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
                        return false;
                    }
                }
            }
            if conn.is_done() {
                let _ = self.net.close(id);
                return false;
            }
            if !progress {
                return true;
            }
        }
        true
    }
}

impl Handler for Http {
    fn notified(&mut self, channel: Channel) {
        match channel {
            NET => self.serve(),
            DS => self.refresh_table(),
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
    let mut http = Http { net, ds, table: ComponentTable::new(), seq: 0, conns: Vec::new(), buf, served: 0 };
    http.refresh_table();
    debug_println!("http: serving port 80 ({} components known)", http.table.len());
    http.serve();
    http
}

microkit::protection_domain!(init);
