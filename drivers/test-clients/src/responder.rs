//! Answers ARP requests, ICMP echo requests (ping) and UDP datagrams to port 7
//! (echo) addressed to one IPv4 address: enough for `ping` and `nc -u` to reach
//! a PD through the net driver. Frames from the network are untrusted: every
//! length and offset is checked; anything else is ignored.

use alloc::vec::Vec;

const ETH_HDR: usize = 14;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_ICMP: u8 = 1;
const PROTO_UDP: u8 = 17;
pub const ECHO_PORT: u16 = 7;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word =
            if pair.len() == 2 { u16::from_be_bytes([pair[0], pair[1]]) } else { u16::from_be_bytes([pair[0], 0]) };
        sum += word as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What the responder did with a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Arp(Vec<u8>),
    Ping(Vec<u8>),
    UdpEcho(Vec<u8>),
}

impl Answer {
    pub fn frame(&self) -> &[u8] {
        match self {
            Answer::Arp(f) | Answer::Ping(f) | Answer::UdpEcho(f) => f,
        }
    }
}

/// The reply to `frame`, if it asks something of `mac`/`ip`.
pub fn answer(frame: &[u8], mac: [u8; 6], ip: [u8; 4]) -> Option<Answer> {
    if frame.len() < ETH_HDR {
        return None;
    }
    let src_mac: [u8; 6] = frame[6..12].try_into().ok()?;
    match be16(frame, 12)? {
        ETHERTYPE_ARP => {
            let arp = &frame[ETH_HDR..];
            // Ethernet/IPv4 request for our address.
            if arp.len() < 28
                || be16(arp, 0)? != 1
                || be16(arp, 2)? != 0x0800
                || be16(arp, 6)? != 1
                || arp[24..28] != ip
            {
                return None;
            }
            let mut out = Vec::with_capacity(42);
            out.extend_from_slice(&src_mac);
            out.extend_from_slice(&mac);
            out.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
            out.extend_from_slice(&arp[0..6]);
            out.extend_from_slice(&2u16.to_be_bytes());
            out.extend_from_slice(&mac);
            out.extend_from_slice(&ip);
            out.extend_from_slice(&arp[8..14]); // the asker's MAC and IP
            out.extend_from_slice(&arp[14..18]);
            Some(Answer::Arp(out))
        }
        ETHERTYPE_IPV4 => {
            let ip_pkt = &frame[ETH_HDR..];
            let ihl = (*ip_pkt.first()? as usize & 0xf) * 4;
            let total = be16(ip_pkt, 2)? as usize;
            if *ip_pkt.first()? >> 4 != 4 || ihl < 20 || total < ihl || total > ip_pkt.len() || ip_pkt[16..20] != ip {
                return None;
            }
            let proto = ip_pkt[9];
            let mut out = Vec::with_capacity(ETH_HDR + total);
            out.extend_from_slice(&src_mac);
            out.extend_from_slice(&mac);
            out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            out.extend_from_slice(&ip_pkt[..total]);
            let o = ETH_HDR;
            // Swap the addresses, fresh TTL, recompute the header checksum.
            let (src, dst) = (ip_pkt[12..16].to_vec(), ip_pkt[16..20].to_vec());
            out[o + 12..o + 16].copy_from_slice(&dst);
            out[o + 16..o + 20].copy_from_slice(&src);
            out[o + 8] = 64;
            out[o + 10..o + 12].copy_from_slice(&[0, 0]);
            let c = checksum(&out[o..o + ihl]);
            out[o + 10..o + 12].copy_from_slice(&c.to_be_bytes());
            let l4 = o + ihl;
            match proto {
                PROTO_ICMP if out.len() >= l4 + 8 && out[l4] == 8 => {
                    out[l4] = 0; // echo reply
                    out[l4 + 2..l4 + 4].copy_from_slice(&[0, 0]);
                    let c = checksum(&out[l4..]);
                    out[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
                    Some(Answer::Ping(out))
                }
                PROTO_UDP if out.len() >= l4 + 8 && be16(&out, l4 + 2)? == ECHO_PORT => {
                    let (sport, dport) = (out[l4..l4 + 2].to_vec(), out[l4 + 2..l4 + 4].to_vec());
                    out[l4..l4 + 2].copy_from_slice(&dport);
                    out[l4 + 2..l4 + 4].copy_from_slice(&sport);
                    out[l4 + 6..l4 + 8].copy_from_slice(&[0, 0]); // no UDP checksum (IPv4 allows it)
                    Some(Answer::UdpEcho(out))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::vec;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const IP: [u8; 4] = [10, 0, 2, 15];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![];
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let total = 20 + payload.len();
        let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 2, 2];
        ip.extend_from_slice(&IP);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn answers_an_arp_request_for_its_address() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&[10, 0, 2, 2]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&IP);
        let Some(Answer::Arp(r)) = answer(&f, MAC, IP) else { panic!() };
        assert_eq!(&r[0..6], &PEER);
        assert_eq!(be16(&r, 20), Some(2));
        assert_eq!(&r[22..28], &MAC);
        assert_eq!(&r[28..32], &IP);
        assert_eq!(&r[38..42], &[10, 0, 2, 2]);
        // Not for us: no answer.
        let mut other = f.clone();
        other[41] = 99;
        assert_eq!(answer(&other, MAC, IP), None);
    }

    #[test]
    fn answers_ping_with_valid_checksums() {
        let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c'];
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let Some(Answer::Ping(r)) = answer(&ipv4(PROTO_ICMP, &icmp), MAC, IP) else { panic!() };
        assert_eq!(&r[26..30], &IP); // source is now us
        assert_eq!(&r[30..34], &[10, 0, 2, 2]);
        assert_eq!(checksum(&r[14..34]), 0);
        assert_eq!(r[34], 0);
        assert_eq!(checksum(&r[34..]), 0);
        assert_eq!(&r[42..], b"abc");
    }

    #[test]
    fn echoes_udp_port_7_only_and_ignores_garbage() {
        let mut udp = vec![0x30, 0x39, 0, 7, 0, 12, 0, 0];
        udp.extend_from_slice(b"echo");
        let Some(Answer::UdpEcho(r)) = answer(&ipv4(PROTO_UDP, &udp), MAC, IP) else { panic!() };
        assert_eq!(be16(&r, 34), Some(7));
        assert_eq!(be16(&r, 36), Some(0x3039));
        assert_eq!(&r[42..], b"echo");
        udp[3] = 8;
        assert_eq!(answer(&ipv4(PROTO_UDP, &udp), MAC, IP), None);
        let full = ipv4(PROTO_ICMP, &[8, 0, 0, 0, 0, 0, 0, 0]);
        for n in 0..full.len() {
            let _ = answer(&full[..n], MAC, IP); // truncated frames never panic
        }
        let mut lying = ipv4(PROTO_ICMP, &[8, 0, 0, 0, 0, 0, 0, 0]);
        lying[17] = 0xff; // total length beyond the frame
        assert_eq!(answer(&lying, MAC, IP), None);
    }
}
