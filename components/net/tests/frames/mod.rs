//! Ethernet frames built by hand, for the tests that feed the server malformed
//! traffic: every header field is laid out here so a test can break any one of
//! them, and the checksums can be computed (to break them, or to make a broken
//! header pass the checksum and reach the deeper checks).
//!
//! Each test crate includes this module and uses part of it.
#![allow(dead_code)]

/// Where the Ethernet header ends and the IPv4 header starts.
pub const IP: usize = 14;
/// Where the transport header starts (an IPv4 header of 20 bytes).
pub const L4: usize = IP + 20;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// One end of a frame: link and IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    pub mac: [u8; 6],
    pub ip: [u8; 4],
}

/// The Internet checksum of `data`, starting from the partial sum `sum`.
pub fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The partial sum of the IPv4 pseudo-header.
fn pseudo(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> u32 {
    let words = [
        u16::from_be_bytes([src[0], src[1]]),
        u16::from_be_bytes([src[2], src[3]]),
        u16::from_be_bytes([dst[0], dst[1]]),
        u16::from_be_bytes([dst[2], dst[3]]),
        u16::from(proto),
        len as u16,
    ];
    words.iter().map(|w| u32::from(*w)).sum()
}

pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP request from `from` for `who`'s address.
pub fn arp_request(from: Host, who: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    a.extend_from_slice(&from.mac);
    a.extend_from_slice(&from.ip);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&who);
    ethernet([0xff; 6], from.mac, ETHERTYPE_ARP, &a)
}

/// An IPv4 packet (20-byte header, checksum set) in a frame from `src` to `dst`.
pub fn ipv4(src: Host, dst: Host, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&src.ip);
    h.extend_from_slice(&dst.ip);
    let c = checksum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    ethernet(dst.mac, src.mac, ETHERTYPE_IPV4, &h)
}

/// A TCP segment's fields.
#[derive(Clone, Copy, Debug)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

/// A TCP segment (20-byte header, checksum set) in an IPv4 frame.
pub fn tcp(src: Host, dst: Host, t: Tcp, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + payload.len());
    s.extend_from_slice(&t.src_port.to_be_bytes());
    s.extend_from_slice(&t.dst_port.to_be_bytes());
    s.extend_from_slice(&t.seq.to_be_bytes());
    s.extend_from_slice(&t.ack.to_be_bytes());
    s.extend_from_slice(&[5 << 4, t.flags]);
    s.extend_from_slice(&t.window.to_be_bytes());
    s.extend_from_slice(&[0; 4]);
    s.extend_from_slice(payload);
    let c = checksum(&s, pseudo(src.ip, dst.ip, PROTO_TCP, s.len()));
    s[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, PROTO_TCP, &s)
}

/// A UDP datagram (checksum set) in an IPv4 frame.
pub fn udp(src: Host, dst: Host, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut d = Vec::with_capacity(len);
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&(len as u16).to_be_bytes());
    d.extend_from_slice(&[0; 2]);
    d.extend_from_slice(payload);
    let c = checksum(&d, pseudo(src.ip, dst.ip, PROTO_UDP, len));
    d[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, PROTO_UDP, &d)
}

/// An ICMP echo request in an IPv4 frame.
pub fn ping(src: Host, dst: Host, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = checksum(&m, 0);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, PROTO_ICMP, &m)
}

/// Whether `frame` is an ICMP echo reply from `from` with `id`, `seq` and
/// `payload`, both checksums right.
pub fn is_echo_reply(frame: &[u8], from: Host, id: u16, seq: u16, payload: &[u8]) -> bool {
    if frame.len() < L4 + 8 + payload.len() || frame[6..12] != from.mac || frame[12..14] != [8, 0] {
        return false;
    }
    let ihl = usize::from(frame[IP] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([frame[IP + 2], frame[IP + 3]]));
    if ihl != 20 || frame[IP + 9] != PROTO_ICMP || frame[IP + 12..IP + 16] != from.ip || IP + total > frame.len() {
        return false;
    }
    let m = &frame[L4..IP + total];
    checksum(&frame[IP..L4], 0) == 0
        && checksum(m, 0) == 0
        && m[0] == 0
        && m[4..6] == id.to_be_bytes()
        && m[6..8] == seq.to_be_bytes()
        && &m[8..] == payload
}

/// The IPv4 header's length field (IHL, in bytes) of a frame.
fn ip_header_len(frame: &[u8]) -> usize {
    frame.get(IP).map_or(0, |b| usize::from(b & 0xf) * 4)
}

/// Sets the IPv4 header checksum right, over the header length the header
/// claims (as far as the frame has it).
pub fn fix_ip_checksum(frame: &mut [u8]) {
    let end = (IP + ip_header_len(frame)).min(frame.len());
    if end < IP + 12 {
        return;
    }
    frame[IP + 10..IP + 12].fill(0);
    let c = checksum(&frame[IP..end], 0);
    frame[IP + 10..IP + 12].copy_from_slice(&c.to_be_bytes());
}

/// Where the transport header's checksum field is, for the protocol the IPv4
/// header names.
fn l4_checksum_at(frame: &[u8]) -> Option<usize> {
    let at = match *frame.get(IP + 9)? {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        PROTO_ICMP => 2,
        _ => return None,
    };
    Some(IP + ip_header_len(frame) + at)
}

/// The transport payload as a receiver would cut it: from the end of the IPv4
/// header to the IPv4 total length (as far as the frame has it).
fn l4_span(frame: &[u8]) -> (usize, usize) {
    let start = IP + ip_header_len(frame);
    let total = frame.get(IP + 2..IP + 4).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    (start.min(frame.len()), (IP + total).min(frame.len()).max(start.min(frame.len())))
}

/// The checksum the transport header should hold over the span a receiver
/// would check (its own field taken as zero), or `None` if the frame has no
/// room for the field.
fn l4_checksum(frame: &[u8]) -> Option<(usize, u16)> {
    let at = l4_checksum_at(frame)?;
    let (start, end) = l4_span(frame);
    if at + 2 > end {
        return None;
    }
    let mut seg = frame[start..end].to_vec();
    seg[at - start..at - start + 2].fill(0);
    let sum = match frame[IP + 9] {
        PROTO_ICMP => 0,
        proto => {
            let (src, dst) = (frame[IP + 12..IP + 16].try_into().ok()?, frame[IP + 16..IP + 20].try_into().ok()?);
            pseudo(src, dst, proto, seg.len())
        }
    };
    Some((at, checksum(&seg, sum)))
}

/// Sets the transport checksum right over what a receiver would check.
pub fn fix_l4_checksum(frame: &mut [u8]) {
    if let Some((at, c)) = l4_checksum(frame) {
        frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// Makes sure the transport checksum is wrong (so no receiver takes the
/// segment, whatever else was changed). UDP's 0 ("no checksum") counts as right.
pub fn break_l4_checksum(frame: &mut [u8]) {
    if frame.get(12..14) != Some(&[8, 0]) {
        return;
    }
    if let Some((at, c)) = l4_checksum(frame) {
        let wrong = if c == 0x1234 { 0x4321 } else { 0x1234 };
        frame[at..at + 2].copy_from_slice(&u16::to_be_bytes(wrong));
    }
}

/// Sets the IPv4 total length field.
pub fn set_ip_total_len(frame: &mut [u8], len: u16) {
    if frame.len() >= IP + 4 {
        frame[IP + 2..IP + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Sets the IPv4 header length field (in 32-bit words, 0..16).
pub fn set_ip_header_words(frame: &mut [u8], words: u8) {
    if let Some(b) = frame.get_mut(IP) {
        *b = 0x40 | (words & 0xf);
    }
}

/// Sets the TCP data offset (in 32-bit words, 0..16) of a frame whose IPv4
/// header is 20 bytes.
pub fn set_tcp_data_words(frame: &mut [u8], words: u8) {
    if let Some(b) = frame.get_mut(L4 + 12) {
        *b = (words & 0xf) << 4;
    }
}

/// Sets the UDP length field of a frame whose IPv4 header is 20 bytes.
pub fn set_udp_len(frame: &mut [u8], len: u16) {
    if frame.len() >= L4 + 6 {
        frame[L4 + 4..L4 + 6].copy_from_slice(&len.to_be_bytes());
    }
}
