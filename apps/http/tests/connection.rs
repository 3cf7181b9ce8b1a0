//! The HTTP core against requests as clients send them, whole, in pieces,
//! pipelined, malformed and oversized.

use http::{BYTES_MAX, ComponentRow, Connection, HEAD_MAX, StatusSource, fill_pattern};
use sha2::{Digest, Sha256};

struct Rows;
impl StatusSource for Rows {
    fn rows(&self, each: &mut dyn FnMut(&ComponentRow<'_>)) {
        each(&ComponentRow {
            name: "virtio_net",
            state: "up",
            generation: 2,
            restarts: 2,
            last_fault: "vm-fault addr=0x10",
        });
        each(&ComponentRow { name: "<odd\"name>", state: "down", generation: 0, restarts: 0, last_fault: "-" });
    }
}

/// Feeds `input` in pieces of `piece` bytes, honouring `input_room`, and sends
/// output in pieces of `send` bytes; returns all output and whether the
/// connection wants to close.
fn exchange(conn: &mut Connection, input: &[u8], piece: usize, send: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    for _ in 0..10_000_000 {
        let mut progressed = false;
        let room = conn.input_room().min(piece);
        if at < input.len() && room > 0 {
            let end = (at + room).min(input.len());
            at += conn.receive(&input[at..end], &Rows);
            progressed = true;
        }
        let pending = conn.pending_output();
        if !pending.is_empty() {
            let n = pending.len().min(send);
            out.extend_from_slice(&pending[..n]);
            conn.advance(n, &Rows);
            progressed = true;
        }
        if !progressed || conn.is_done() {
            break;
        }
    }
    (out, conn.is_done())
}

/// A parsed response: status line, headers (names lowercased), body.
type Response = (String, Vec<(String, String)>, Vec<u8>);

/// Splits a stream of responses.
fn responses(mut bytes: &[u8]) -> Vec<Response> {
    let mut all = Vec::new();
    while !bytes.is_empty() {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        let len: usize = headers.iter().find(|(k, _)| k == "content-length").unwrap().1.parse().unwrap();
        let body = bytes[end + 4..end + 4 + len].to_vec();
        bytes = &bytes[end + 4 + len..];
        all.push((status, headers, body));
    }
    all
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    &h.iter().find(|(k, _)| k == name).unwrap().1
}

#[test]
fn the_status_page_and_json_show_every_component_escaped() {
    let mut c = Connection::new();
    let (out, done) = exchange(&mut c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /status.json HTTP/1.1\r\n\r\n", 7, 5);
    assert!(!done, "HTTP/1.1 keeps the connection");
    let r = responses(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0, "HTTP/1.1 200 OK");
    let html = String::from_utf8(r[0].2.clone()).unwrap();
    assert!(html.contains("<td>virtio_net</td><td>up</td><td>2</td><td>2</td><td>vm-fault addr=0x10</td>"), "{html}");
    assert!(html.contains("&lt;odd&quot;name&gt;") && !html.contains("<odd"), "{html}");
    assert_eq!(header(&r[1].1, "content-type"), "application/json");
    let json = String::from_utf8(r[1].2.clone()).unwrap();
    assert_eq!(
        json,
        "{\"components\":[{\"name\":\"virtio_net\",\"state\":\"up\",\"generation\":2,\"restarts\":2,\"last_fault\":\"vm-fault addr=0x10\"},\
         {\"name\":\"<odd\\\"name>\",\"state\":\"down\",\"generation\":0,\"restarts\":0,\"last_fault\":\"-\"}]}\n"
    );
}

#[test]
fn bytes_n_sends_exactly_n_bytes_of_the_pattern() {
    for n in [0u64, 1, 7, 8, 16 * 1024, 100_000] {
        let mut c = Connection::new();
        let (out, _) = exchange(&mut c, format!("GET /bytes/{n} HTTP/1.1\r\n\r\n").as_bytes(), 1000, 1500);
        let r = responses(&out);
        assert_eq!(r.len(), 1);
        assert_eq!(header(&r[0].1, "content-length"), n.to_string());
        let mut want = vec![0; n as usize];
        fill_pattern(0, &mut want);
        assert_eq!(r[0].2, want, "n = {n}");
    }
}

#[test]
fn the_sink_answers_the_length_and_sha256_of_the_body() {
    let body: Vec<u8> = (0..1_000_003u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut req = format!("POST /sink HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"GET /bytes/3 HTTP/1.1\r\n\r\n");
    let mut c = Connection::new();
    let (out, done) = exchange(&mut c, &req, 999, 4096);
    assert!(!done);
    let r = responses(&out);
    assert_eq!(r.len(), 2, "the pipelined request after the body is answered too");
    let want = format!("{{\"length\":{},\"sha256\":\"{:x}\"}}\n", body.len(), Sha256::digest(&body));
    assert_eq!(String::from_utf8(r[0].2.clone()).unwrap(), want);
    assert_eq!(r[1].2.len(), 3);
}

#[test]
fn connection_close_and_http_1_0_close_after_the_answer() {
    for req in [&b"GET /bytes/10 HTTP/1.1\r\nConnection: close\r\n\r\n"[..], b"GET /bytes/10 HTTP/1.0\r\n\r\n"] {
        let mut c = Connection::new();
        let (out, done) = exchange(&mut c, req, 100, 100);
        assert!(done);
        let r = responses(&out);
        assert_eq!(header(&r[0].1, "connection"), "close");
        assert_eq!(r[0].2.len(), 10);
    }
    let mut c = Connection::new();
    let (_, done) = exchange(&mut c, b"GET /bytes/10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 100, 100);
    assert!(!done, "HTTP/1.0 with keep-alive stays open");
}

#[test]
fn bad_requests_get_an_error_answer_and_the_connection_closes() {
    let cases: &[(&[u8], &str)] = &[
        (b"GARBAGE\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "400"),
        (b"GET /bytes/12ab HTTP/1.1\r\n\r\n", "400"),
        (b"GET /bytes/-1 HTTP/1.1\r\n\r\n", "400"),
        (b"GET /bytes/99999999999999999999999 HTTP/1.1\r\n\r\n", "400"),
        (format!("GET /bytes/{} HTTP/1.1\r\n\r\n", BYTES_MAX + 1).leak().as_bytes(), "413"),
        (b"POST /sink HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "411"),
        (b"POST /sink HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "400"),
        (b"POST /sink HTTP/1.1\r\nContent-Length: x\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody", "400"),
        (b"DELETE / HTTP/1.1\r\n\r\n", "405"),
    ];
    for (req, code) in cases {
        let mut c = Connection::new();
        let (out, done) = exchange(&mut c, req, 3, 64);
        let r = responses(&out);
        assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(req));
        assert!(r[0].0.starts_with(&format!("HTTP/1.1 {code} ")), "{:?} -> {}", String::from_utf8_lossy(req), r[0].0);
        assert!(done, "{:?} closes", String::from_utf8_lossy(req));
        assert_eq!(c.input_room(), 0, "nothing more is read after an error");
    }
}

#[test]
fn an_oversized_head_gets_413_and_an_unknown_page_404_keeps_the_connection() {
    let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
    huge.resize(HEAD_MAX + 10, b'a');
    let mut c = Connection::new();
    let (out, done) = exchange(&mut c, &huge, 512, 64);
    assert!(responses(&out)[0].0.starts_with("HTTP/1.1 413 "));
    assert!(done);
    let mut c = Connection::new();
    let (out, done) = exchange(&mut c, b"GET /nope HTTP/1.1\r\n\r\n", 100, 100);
    assert!(responses(&out)[0].0.starts_with("HTTP/1.1 404 "));
    assert!(!done);
}

#[test]
fn a_client_that_goes_away_mid_request_leaves_nothing_to_send() {
    let mut c = Connection::new();
    let (out, _) = exchange(&mut c, b"GET /bytes/10 HTT", 100, 100);
    assert!(out.is_empty());
    c.peer_closed();
    assert!(c.is_done());
    let mut c = Connection::new();
    let (_, _) = exchange(&mut c, b"POST /sink HTTP/1.1\r\nContent-Length: 100\r\n\r\nhalf", 100, 100);
    c.peer_closed();
    assert!(c.is_done() && c.pending_output().is_empty());
}

#[test]
fn random_bytes_never_panic_the_core() {
    let mut x: u64 = 0x1234_5678;
    for round in 0..2000 {
        let mut c = Connection::new();
        let len = (round * 7) % 600;
        let mut input: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly printable, some CR/LF, some anything.
                match x % 10 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => (x >> 8) as u8,
                    _ => b' ' + ((x >> 16) % 95) as u8,
                }
            })
            .collect();
        if round % 3 == 0 {
            let mut prefix = b"GET /bytes/5 HTTP/1.1\r\n".to_vec();
            prefix.append(&mut input);
            input = prefix;
        }
        let _ = exchange(&mut c, &input, 1 + round % 50, 1 + round % 77);
        c.peer_closed();
        let _ = c.pending_output();
    }
}
