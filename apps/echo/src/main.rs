//! Echo (RFC 862) on the network server: every byte a TCP connection on port 7
//! brings is sent back on it, every UDP datagram to port 7 goes back to its
//! sender. Sockets `echo_tcp` and `echo_udp` of net.toml.
//!
//! A connection holds at most one data region's worth that it has read and not
//! yet sent back: while that waits (the peer does not read), the connection
//! reads nothing more, so TCP's window pushes back on the peer. One
//! notification gets one slice of work (`net_api::Slice`); what is left waits
//! for the notification the server sends back when asked (`NetClient::poke`).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use microkit::{Channel, Handler, debug_println};
use net_api::{ConnId, NetClient, NetError, Slice};

microkit::include_system!("echo");
include!(concat!(env!("OUT_DIR"), "/echo.net_sockets.rs"));

const NET: Channel = channel::NET;
/// Datagrams per notification, so a flood of them cannot keep the connections
/// waiting.
const DATAGRAMS: usize = 64;

struct Conn {
    id: ConnId,
    /// Read, not yet sent back.
    pending: Vec<u8>,
    peer_closed: bool,
}

struct Echo {
    net: NetClient,
    conns: Vec<Conn>,
    buf: Vec<u8>,
}

impl Echo {
    fn serve(&mut self) {
        let slice = Slice::start();
        let mut unfinished = self.udp();
        loop {
            match self.net.accept(net_sockets::ECHO_TCP) {
                Ok(id) => self.conns.push(Conn { id, pending: Vec::new(), peer_closed: false }),
                Err(NetError::WouldBlock) => break,
                Err(e) => {
                    debug_println!("echo: accept: {e}");
                    break;
                }
            }
        }
        let mut i = 0;
        while i < self.conns.len() {
            match self.step(i, &slice) {
                Some(true) => i += 1,
                Some(false) => {
                    self.conns.swap_remove(i);
                }
                None => {
                    // The rest next time; this one goes last.
                    let c = self.conns.remove(i);
                    self.conns.push(c);
                    unfinished = true;
                    break;
                }
            }
        }
        if unfinished {
            self.net.poke();
        }
    }

    /// Echoes waiting datagrams; `true` if some are left for the next time.
    fn udp(&mut self) -> bool {
        for _ in 0..DATAGRAMS {
            match self.net.recv_from(net_sockets::ECHO_UDP, &mut self.buf) {
                Ok((n, from)) => {
                    // A full send buffer drops the echo, as a busy UDP peer may.
                    let _ = self.net.send_to(net_sockets::ECHO_UDP, from, &self.buf[..n]);
                }
                Err(NetError::WouldBlock) => return false,
                // Too large for the region: dropped by the server; go on.
                Err(NetError::TooLarge) => {}
                Err(e) => {
                    debug_println!("echo: udp: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// `Some(false)`: the connection is finished and given back; `Some(true)`:
    /// it waits for the network; `None`: the slice ran out first.
    fn step(&mut self, i: usize, slice: &Slice) -> Option<bool> {
        let c = &mut self.conns[i];
        loop {
            if slice.over() {
                return None;
            }
            let mut progress = false;
            if !c.pending.is_empty() {
                match self.net.send(c.id, &c.pending) {
                    Ok(n) => {
                        c.pending.drain(..n);
                        progress = true;
                    }
                    Err(NetError::WouldBlock) => {}
                    Err(_) => {
                        let _ = self.net.abort(c.id);
                        return Some(false);
                    }
                }
            }
            if c.pending.is_empty() && !c.peer_closed {
                match self.net.recv(c.id, &mut self.buf) {
                    Ok(0) => {
                        c.peer_closed = true;
                        progress = true;
                    }
                    Ok(n) => {
                        c.pending.extend_from_slice(&self.buf[..n]);
                        progress = true;
                    }
                    Err(NetError::WouldBlock) => {}
                    Err(_) => {
                        let _ = self.net.abort(c.id);
                        return Some(false);
                    }
                }
            }
            if c.peer_closed && c.pending.is_empty() {
                let _ = self.net.close(c.id);
                return Some(false);
            }
            if !progress {
                return Some(true);
            }
        }
    }
}

impl Handler for Echo {
    fn notified(&mut self, channel: Channel) {
        if channel == NET {
            self.serve();
        }
    }
}

fn init() -> Echo {
    let net = NetClient::new(NET, region::net_echo_data());
    let buf = vec![0u8; net.max_transfer()];
    debug_println!("echo: serving TCP and UDP port 7");
    let mut echo = Echo { net, conns: Vec::new(), buf };
    echo.serve();
    echo
}

microkit::protection_domain!(init);
