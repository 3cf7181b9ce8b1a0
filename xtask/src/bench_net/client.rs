//! The benchmark's own HTTP clients, each on one kept-alive connection for a set
//! time, recording when bytes moved: a download (`GET /bytes/N` again and again,
//! every byte compared with `http::pattern_byte`) and an upload (`POST /sink`
//! again and again, the answered length and SHA-256 compared with the body's).
//! A request under way when the time is up is finished, so only whole, checked
//! requests count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A connection that moves no byte for this long has failed.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// The most bytes a read or write moves at once.
const PIECE: usize = 64 << 10;

/// What one client saw.
pub struct Trace {
    pub start: Instant,
    /// (time since `start`, bytes moved so far), one point per read or write.
    pub points: Vec<(Duration, u64)>,
    /// Bytes of the whole requests, every one checked.
    pub verified: u64,
    /// When the last whole request ended, since `start`.
    pub elapsed: Duration,
    pub requests: u64,
    /// Bytes of each request's body.
    pub request_bytes: u64,
}

impl Trace {
    fn new(request_bytes: usize) -> Trace {
        Trace {
            start: Instant::now(),
            points: Vec::new(),
            verified: 0,
            elapsed: Duration::ZERO,
            requests: 0,
            request_bytes: request_bytes as u64,
        }
    }

    /// Checked bytes per second, in MB/s (10^6).
    pub fn mb_per_s(&self) -> f64 {
        self.verified as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }

    fn moved(&mut self, total: u64) {
        self.points.push((self.start.elapsed(), total));
    }
}

/// A client run that failed: what it saw until then, and why.
pub struct Failed {
    pub trace: Trace,
    pub error: String,
}

fn run(request_bytes: usize, f: impl FnOnce(&mut Trace) -> Result<(), String>) -> Result<Trace, Box<Failed>> {
    let mut trace = Trace::new(request_bytes);
    match f(&mut trace) {
        Ok(()) => Ok(trace),
        Err(error) => Err(Box::new(Failed { trace, error })),
    }
}

/// The bytes `GET /bytes/N` answers (and the body the upload sends).
pub fn pattern(len: usize) -> Vec<u8> {
    let mut body = vec![0; len];
    http::fill_pattern(0, &mut body);
    body
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(STALL_LIMIT)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(STALL_LIMIT)).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

/// Reads a response head; returns its status and Content-Length. Bytes after
/// the head stay in `pending`.
fn read_head(s: &mut TcpStream, pending: &mut Vec<u8>) -> Result<(u16, u64), String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok());
            let length = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
            });
            return match (status, length) {
                (Some(status), Some(length)) => Ok((status, length)),
                _ => Err(format!("a malformed response head: {head:?}")),
            };
        }
        if pending.len() > 16 << 10 {
            return Err("a response head over 16 KiB".into());
        }
        let n = s.read(&mut buf).map_err(|e| format!("reading a response head: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// `GET /bytes/<expected.len()>` until `run_for` has passed; every byte of every
/// answer must be `expected`'s (`pattern`).
pub fn download(addr: SocketAddr, run_for: Duration, expected: &[u8]) -> Result<Trace, Box<Failed>> {
    run(expected.len(), |trace| download_into(trace, addr, run_for, expected))
}

fn download_into(trace: &mut Trace, addr: SocketAddr, run_for: Duration, expected: &[u8]) -> Result<(), String> {
    let mut s = connect(addr)?;
    let len = expected.len() as u64;
    let request = format!("GET /bytes/{len} HTTP/1.1\r\nHost: reincarnate\r\n\r\n");
    let (mut pending, mut buf, mut total) = (Vec::new(), vec![0u8; PIECE], 0u64);
    while trace.start.elapsed() < run_for {
        s.write_all(request.as_bytes()).map_err(|e| format!("sending GET: {e}"))?;
        let (status, length) = read_head(&mut s, &mut pending)?;
        if status != 200 || length != len {
            return Err(format!("GET /bytes/{len} answered {status} with {length} bytes"));
        }
        let mut at = 0usize;
        let check = |data: &[u8], at: &mut usize, total: &mut u64, trace: &mut Trace| {
            let want = &expected[*at..*at + data.len()];
            if let Some(i) = data.iter().zip(want).position(|(a, b)| a != b) {
                return Err(format!(
                    "byte {} of answer {} to GET /bytes/{len} is {:#04x}, not {:#04x} (http::pattern_byte)",
                    *at + i,
                    trace.requests + 1,
                    data[i],
                    want[i]
                ));
            }
            *at += data.len();
            *total += data.len() as u64;
            trace.moved(*total);
            Ok(())
        };
        if !pending.is_empty() {
            if pending.len() > expected.len() {
                return Err("more bytes than the answer's Content-Length".into());
            }
            let early = std::mem::take(&mut pending);
            check(&early, &mut at, &mut total, &mut *trace)?;
        }
        while at < expected.len() {
            let want = (expected.len() - at).min(buf.len());
            let n = s.read(&mut buf[..want]).map_err(|e| format!("reading GET /bytes/{len} at byte {at}: {e}"))?;
            if n == 0 {
                return Err(format!("the server closed the connection at byte {at} of GET /bytes/{len}"));
            }
            check(&buf[..n], &mut at, &mut total, &mut *trace)?;
        }
        trace.verified += len;
        trace.requests += 1;
        trace.elapsed = trace.start.elapsed();
    }
    Ok(())
}

/// `"name":value` of a flat JSON object, without quotes.
fn json_field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let rest = json.split(&format!("\"{name}\":")).nth(1)?.trim_start();
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    Some(&rest[..rest.find(['"', ',', '}']).unwrap_or(rest.len())])
}

/// `POST /sink` with `body` until `run_for` has passed; every answer must give
/// the body's length and SHA-256.
pub fn upload(addr: SocketAddr, run_for: Duration, body: &[u8]) -> Result<Trace, Box<Failed>> {
    run(body.len(), |trace| upload_into(trace, addr, run_for, body))
}

fn upload_into(trace: &mut Trace, addr: SocketAddr, run_for: Duration, body: &[u8]) -> Result<(), String> {
    let mut s = connect(addr)?;
    let len = body.len();
    let sha: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    let head = format!("POST /sink HTTP/1.1\r\nHost: reincarnate\r\nContent-Length: {len}\r\n\r\n");
    let (mut pending, mut total) = (Vec::new(), 0u64);
    while trace.start.elapsed() < run_for {
        s.write_all(head.as_bytes()).map_err(|e| format!("sending POST: {e}"))?;
        for piece in body.chunks(PIECE) {
            s.write_all(piece).map_err(|e| format!("sending POST /sink's body: {e}"))?;
            total += piece.len() as u64;
            trace.moved(total);
        }
        let (status, length) = read_head(&mut s, &mut pending)?;
        if length > 4096 {
            return Err(format!("POST /sink answered {status} with {length} bytes"));
        }
        let mut buf = [0u8; 4096];
        while (pending.len() as u64) < length {
            let n = s.read(&mut buf).map_err(|e| format!("reading POST /sink's answer: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection before answering POST /sink".into());
            }
            pending.extend_from_slice(&buf[..n]);
        }
        let answer: Vec<u8> = pending.drain(..length as usize).collect();
        let answer = String::from_utf8_lossy(&answer);
        let (got_len, got_sha) = (json_field(&answer, "length"), json_field(&answer, "sha256"));
        if status != 200 || got_len != Some(len.to_string().as_str()) || got_sha != Some(sha.as_str()) {
            return Err(format!(
                "POST /sink of {len} bytes (sha256 {sha}), answer {} answered {status}: {}",
                trace.requests + 1,
                answer.trim()
            ));
        }
        trace.verified += len as u64;
        trace.requests += 1;
        trace.elapsed = trace.start.elapsed();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_of_the_sink_answer() {
        let a = "{\"length\":1048576,\"sha256\":\"ab01\"}\n";
        assert_eq!(json_field(a, "length"), Some("1048576"));
        assert_eq!(json_field(a, "sha256"), Some("ab01"));
        assert_eq!(json_field(a, "size"), None);
    }

    /// A loopback server that answers every `GET /bytes/N` with the pattern,
    /// byte `flip` (if any) of each answer inverted.
    fn server(flip: Option<usize>) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut pending = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                pending.drain(..end + 4);
                let n: usize = head.split_whitespace().nth(1).unwrap().trim_start_matches("/bytes/").parse().unwrap();
                let mut body = pattern(n);
                if let Some(i) = flip {
                    body[i] ^= 0xff;
                }
                let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                if s.write_all(answer.as_bytes()).and_then(|_| s.write_all(&body)).is_err() {
                    return;
                }
            }
        });
        addr
    }

    #[test]
    fn a_download_checks_every_byte() {
        let expected = pattern(300_000);
        let t = download(server(None), Duration::from_millis(50), &expected).map_err(|f| f.error).unwrap();
        assert!(t.requests >= 1);
        assert_eq!(t.verified, t.requests * 300_000);
        assert_eq!(t.points.last().unwrap().1, t.verified);
        let e = download(server(Some(200_001)), Duration::from_millis(50), &expected).err().unwrap();
        assert!(e.error.contains("byte 200001 of answer 1"), "{}", e.error);
        let before = e.trace.points.last().map_or(0, |p| p.1);
        assert!(before > 0 && before <= 200_001, "what came before the wrong piece: {before}");
    }
}
