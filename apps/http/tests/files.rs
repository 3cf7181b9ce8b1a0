//! GET and PUT /files/ through the core, with a file server of memory that
//! answers the calls the connection asks for (as the PD shell makes them on
//! vfs), and fails them where a test says.

use std::collections::BTreeMap;

use http::{ComponentRow, Connection, FileAnswer, FileCall, StatusSource};
use sha2::{Digest, Sha256};
use vfs_api::{Handle, Kind, OpenFlags, Stat, VfsError};

struct NoRows;
impl StatusSource for NoRows {
    fn rows(&self, _: &mut dyn FnMut(&ComponentRow<'_>)) {}
}

#[derive(Default)]
struct Files {
    files: BTreeMap<String, Vec<u8>>,
    dirs: Vec<String>,
    open: BTreeMap<u64, (String, usize)>,
    next: u64,
    calls: usize,
    /// Fail the call with this number (1-based) with this error.
    fail: Option<(usize, VfsError)>,
}

impl Files {
    fn call(&mut self, c: FileCall) -> Result<FileAnswer, VfsError> {
        self.calls += 1;
        if let Some((n, e)) = self.fail
            && n == self.calls
        {
            // A failed close still closes (as vfs does).
            if let FileCall::Close(h) = c {
                self.open.remove(&h.0);
            }
            return Err(e);
        }
        match c {
            FileCall::Stat(p) if self.dirs.contains(&p) => Ok(FileAnswer::Stat(Stat { kind: Kind::Dir, size: 0 })),
            FileCall::Stat(p) => self
                .files
                .get(&p)
                .map(|f| FileAnswer::Stat(Stat { kind: Kind::File, size: f.len() as u64 }))
                .ok_or(VfsError::NotFound),
            FileCall::Open(p, flags) => {
                if flags.contains(OpenFlags::CREATE) {
                    self.files.insert(p.clone(), Vec::new());
                } else if !self.files.contains_key(&p) {
                    return Err(VfsError::NotFound);
                }
                self.next += 1;
                self.open.insert(self.next, (p, 0));
                Ok(FileAnswer::Handle(Handle(self.next)))
            }
            FileCall::Read(h, n) => {
                let (p, pos) = self.open.get_mut(&h.0).ok_or(VfsError::BadHandle)?;
                let f = &self.files[p.as_str()];
                let end = (*pos + n).min(f.len());
                let data = f[*pos..end].to_vec();
                *pos = end;
                Ok(FileAnswer::Data(data))
            }
            FileCall::Write(h, data) => {
                let (p, _) = self.open.get(&h.0).ok_or(VfsError::BadHandle)?;
                self.files.get_mut(p.as_str()).unwrap().extend_from_slice(&data);
                Ok(FileAnswer::Written(data.len() as u64))
            }
            FileCall::Fsync(h) => self.open.get(&h.0).map(|_| FileAnswer::Done).ok_or(VfsError::BadHandle),
            FileCall::Close(h) => self.open.remove(&h.0).map(|_| FileAnswer::Done).ok_or(VfsError::BadHandle),
        }
    }
}

/// Moves input, file calls and output until nothing moves; returns the output
/// and whether the connection wants to close.
fn exchange(conn: &mut Connection, files: &mut Files, input: &[u8], piece: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    for _ in 0..1_000_000 {
        let mut progressed = false;
        let room = conn.input_room().min(piece);
        if at < input.len() && room > 0 {
            let end = (at + room).min(input.len());
            at += conn.receive(&input[at..end], &NoRows);
            progressed = true;
        }
        if let Some(call) = conn.file_call() {
            let r = files.call(call);
            conn.file_answer(r, &NoRows);
            progressed = true;
        }
        let pending = conn.pending_output();
        if !pending.is_empty() {
            let n = pending.len().min(7000);
            out.extend_from_slice(&pending[..n]);
            conn.advance(n, &NoRows);
            progressed = true;
        }
        if !progressed || conn.is_done() {
            break;
        }
    }
    (out, conn.is_done())
}

fn put(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// (status line, body) of each response in `out`.
fn answers(mut out: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    while let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&out[..end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        let start = end + 4;
        let stop = (start + len).min(out.len());
        all.push((head.lines().next().unwrap().to_string(), out[start..stop].to_vec()));
        out = &out[stop..];
    }
    all
}

#[test]
fn a_file_put_then_got_on_one_connection_round_trips_every_byte() {
    let (mut conn, mut files) = (Connection::new(), Files::default());
    let data = body(200_000);
    let mut input = put("/files/dir/long%20name.bin", &data);
    input.extend(get("/files/dir/long%20name.bin"));
    let (out, done) = exchange(&mut conn, &mut files, &input, 1500);
    assert!(!done);
    let a = answers(&out);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0].0, "HTTP/1.1 201 Created");
    let sha: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(String::from_utf8_lossy(&a[0].1), format!("{{\"length\":200000,\"sha256\":\"{sha}\"}}\n"));
    assert_eq!(files.files["/dir/long name.bin"], data, "what the file server holds");
    assert_eq!(a[1].0, "HTTP/1.1 200 OK");
    assert_eq!(Sha256::digest(&a[1].1), Sha256::digest(&data));
    assert!(files.open.is_empty(), "every handle closed");
    // An empty file, too.
    let (out, _) = exchange(&mut conn, &mut files, &[put("/files/empty", b""), get("/files/empty")].concat(), 100);
    let a = answers(&out);
    assert_eq!((a[0].0.as_str(), a[1].0.as_str(), a[1].1.len()), ("HTTP/1.1 201 Created", "HTTP/1.1 200 OK", 0));
}

#[test]
fn errors_are_http_answers_and_the_connection_goes_on_where_it_can() {
    let (mut conn, mut files) = (Connection::new(), Files::default());
    files.dirs.push("/d".into());
    let input = [get("/files/nothing"), get("/files/d"), get("/files/"), get("/files/%zz")].concat();
    let (out, done) = exchange(&mut conn, &mut files, &input, 4096);
    let a: Vec<String> = answers(&out).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        a,
        ["HTTP/1.1 404 Not Found", "HTTP/1.1 409 Conflict", "HTTP/1.1 400 Bad Request", "HTTP/1.1 400 Bad Request"]
    );
    assert!(!done, "none of these needs the connection closed");
}

#[test]
fn a_read_that_fails_mid_body_cuts_the_body_and_closes_never_wrong_bytes() {
    let (mut conn, mut files) = (Connection::new(), Files::default());
    let data = body(100_000);
    files.files.insert("/f".into(), data.clone());
    // stat, open, read, read: the second read fails.
    files.fail = Some((4, VfsError::Io));
    let (out, done) = exchange(&mut conn, &mut files, &get("/files/f"), 4096);
    assert!(done, "the connection closes");
    let a = answers(&out);
    assert_eq!(a[0].0, "HTTP/1.1 200 OK");
    assert!(a[0].1.len() < data.len() && data.starts_with(&a[0].1), "a prefix of the file, {} bytes", a[0].1.len());
    assert!(files.open.is_empty(), "the handle was closed");
}

#[test]
fn a_write_that_fails_answers_503_closes_the_file_and_the_connection() {
    for failing in 1..=5 {
        let (mut conn, mut files) = (Connection::new(), Files::default());
        files.fail = Some((failing, VfsError::Io));
        // open, write, write, fsync, close
        let (out, done) = exchange(&mut conn, &mut files, &put("/files/up", &body(40_000)), 1000);
        let a = answers(&out);
        assert_eq!(a.len(), 1, "call {failing} failing: {a:?}");
        assert_eq!(a[0].0, "HTTP/1.1 503 Service Unavailable", "call {failing} failing");
        assert!(files.open.is_empty(), "call {failing} failing: the handle was closed");
        if failing < 3 {
            assert!(done, "call {failing} failing: the rest of the body is not read, so the connection closes");
        }
    }
}

#[test]
fn a_client_that_goes_away_mid_upload_gets_its_file_closed() {
    let (mut conn, mut files) = (Connection::new(), Files::default());
    let full = put("/files/half", &body(100_000));
    let (out, _) = exchange(&mut conn, &mut files, &full[..60_000], 1000);
    assert!(out.is_empty());
    conn.peer_closed();
    let (out, done) = exchange(&mut conn, &mut files, &[], 1000);
    assert!(out.is_empty() && done, "nothing answered; closed");
    assert!(files.open.is_empty(), "the handle was closed");
    assert!(conn.file_handle().is_none());
}

#[test]
fn a_client_that_expects_100_continue_gets_it_before_it_sends_the_body() {
    let (mut conn, mut files) = (Connection::new(), Files::default());
    let head = b"PUT /files/c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let (out, _) = exchange(&mut conn, &mut files, head, 4096);
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (out, _) = exchange(&mut conn, &mut files, b"hello", 4096);
    assert!(out.starts_with(b"HTTP/1.1 201 Created\r\n"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(files.files["/c"], b"hello");
}
