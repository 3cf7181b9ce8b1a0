//! One HTTP connection: requests in, responses out, one at a time, in order.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use vfs_api::OpenFlags;

use crate::files::{self, CHUNK as FILE_CHUNK, FileAnswer, FileCall, FileJob};
use crate::pattern::{BYTES_MAX, fill_pattern};
use crate::response::{self, hex};
use crate::status::StatusSource;

/// The largest request head (request line and headers) accepted.
pub const HEAD_MAX: usize = 8192;
/// Headers parsed per request; more is a malformed request.
const HEADERS_MAX: usize = 32;
/// How much of a `/bytes` body is generated at a time.
const CHUNK: usize = 16 * 1024;

/// A `POST /sink` body being read.
struct Sink {
    remaining: u64,
    total: u64,
    hasher: Sha256,
    keep_alive: bool,
}

/// A `PUT /files/...` body: what is still to come, what came and is not
/// written yet.
struct PutBody {
    left: u64,
    buf: Vec<u8>,
    total: u64,
    hasher: Sha256,
    /// Bytes of the write call in flight.
    writing: usize,
}

/// The state of one connection. Feed it with [`Connection::receive`] (at most
/// [`Connection::input_room`] bytes), send what [`Connection::pending_output`]
/// gives and report it with [`Connection::advance`]; close the connection when
/// [`Connection::is_done`].
pub struct Connection {
    input: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// A `/bytes` body still to generate: next offset, end.
    stream: Option<(u64, u64)>,
    sink: Option<Sink>,
    /// Close once the output is sent (an error answer, `Connection: close`, or the
    /// peer closed its side).
    close_after: bool,
    requests: u64,
    /// A file request (`files`): where it stands, whether its call is out,
    /// and whether the connection stays open after it.
    file: Option<FileJob>,
    file_waiting: bool,
    file_keep_alive: bool,
    put: Option<PutBody>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    pub fn new() -> Connection {
        Connection {
            input: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            stream: None,
            sink: None,
            close_after: false,
            requests: 0,
            file: None,
            file_waiting: false,
            file_keep_alive: false,
            put: None,
        }
    }

    /// Requests answered or being answered.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn output_pending(&self) -> bool {
        self.out_pos < self.out.len() || self.stream.is_some()
    }

    /// A response is being made or sent: the next request waits.
    fn busy(&self) -> bool {
        self.output_pending() || self.file.is_some()
    }

    /// How many bytes [`Connection::receive`] takes now: none while a response is
    /// still being sent (pipelined requests wait in TCP's buffers, so a client that
    /// does not read stalls only itself), any number into a body, else up to a
    /// full request head.
    pub fn input_room(&self) -> usize {
        if let Some(b) = &self.put {
            // A body being written: at most a chunk waits here.
            let room = FILE_CHUNK.saturating_sub(b.buf.len()) as u64;
            return if self.close_after { 0 } else { room.min(b.left) as usize };
        }
        if self.close_after || self.busy() {
            0
        } else if self.sink.is_some() {
            usize::MAX
        } else {
            HEAD_MAX - self.input.len().min(HEAD_MAX)
        }
    }

    /// Takes bytes that arrived (at most [`Connection::input_room`]; the rest is
    /// ignored) and answers what they complete. Returns how many were taken.
    pub fn receive(&mut self, data: &[u8], status: &dyn StatusSource) -> usize {
        let take = data.len().min(self.input_room());
        if let Some(b) = &mut self.put {
            b.buf.extend_from_slice(&data[..take]);
            b.left -= take as u64;
            return take;
        }
        if let Some(sink) = &mut self.sink {
            let n = (take as u64).min(sink.remaining) as usize;
            sink.hasher.update(&data[..n]);
            sink.remaining -= n as u64;
            self.input.extend_from_slice(&data[n..take]);
        } else {
            self.input.extend_from_slice(&data[..take]);
        }
        self.process(status);
        take
    }

    /// The peer closed its side: answer what is complete, then close.
    pub fn peer_closed(&mut self) {
        self.close_after = true;
        self.sink = None;
        if self.put.as_ref().is_some_and(|b| b.left > 0) {
            // The body will not come: nothing is answered, the file is closed
            // (what was written stays, as after a failed upload).
            self.put = None;
            if let Some(handle) = self.file.as_ref().and_then(FileJob::handle) {
                self.file = Some(FileJob::GetClose { handle, broken: true });
            } else if !self.file_waiting {
                self.file = None;
            }
        }
    }

    /// The handle a file request holds open (the PD closes it if the
    /// connection goes away first).
    pub fn file_handle(&self) -> Option<vfs_api::Handle> {
        self.file.as_ref().and_then(FileJob::handle)
    }

    /// The file call this connection needs next, if it needs one now; the
    /// caller makes it and hands over its result with
    /// [`Connection::file_answer`].
    pub fn file_call(&mut self) -> Option<FileCall> {
        if self.file_waiting {
            return None;
        }
        let call = match self.file.as_mut()? {
            FileJob::GetStat { path } => FileCall::Stat(path.clone()),
            FileJob::GetOpen { path, .. } => FileCall::Open(path.clone(), OpenFlags::READ),
            FileJob::GetRead { handle, left } => {
                if self.out_pos < self.out.len() {
                    return None;
                }
                FileCall::Read(*handle, (*left).min(FILE_CHUNK as u64) as usize)
            }
            FileJob::GetClose { handle, .. } | FileJob::PutClose { handle, .. } => FileCall::Close(*handle),
            FileJob::PutOpen { path } => {
                FileCall::Open(path.clone(), OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE)
            }
            FileJob::PutWrite { handle } => {
                let handle = *handle;
                let b = self.put.as_mut()?;
                if b.buf.is_empty() && b.left == 0 {
                    self.file = Some(FileJob::PutFsync { handle });
                    FileCall::Fsync(handle)
                } else if b.buf.len() >= FILE_CHUNK || (b.left == 0 && !b.buf.is_empty()) {
                    let data = core::mem::take(&mut b.buf);
                    b.hasher.update(&data);
                    b.writing = data.len();
                    FileCall::Write(handle, data)
                } else {
                    return None;
                }
            }
            FileJob::PutFsync { handle } => FileCall::Fsync(*handle),
        };
        self.file_waiting = true;
        Some(call)
    }

    /// The result of the call [`Connection::file_call`] gave.
    pub fn file_answer(&mut self, result: Result<FileAnswer, vfs_api::VfsError>, status: &dyn StatusSource) {
        use FileJob::*;
        use vfs_api::VfsError;
        self.file_waiting = false;
        let Some(job) = self.file.take() else { return };
        let keep_alive = self.file_keep_alive;
        match (job, result) {
            (GetStat { path }, Ok(FileAnswer::Stat(s))) if files::is_file(&s) => {
                self.file = Some(GetOpen { path, size: s.size });
            }
            (GetStat { .. }, Ok(_)) => self.file_error(VfsError::IsDir),
            (GetOpen { size, .. }, Ok(FileAnswer::Handle(handle))) => {
                response::head(&mut self.out, 200, "OK", "application/octet-stream", size, keep_alive);
                self.file =
                    Some(if size == 0 { GetClose { handle, broken: false } } else { GetRead { handle, left: size } });
            }
            (GetRead { handle, left }, Ok(FileAnswer::Data(d))) if !d.is_empty() && d.len() as u64 <= left => {
                let left = left - d.len() as u64;
                self.out.extend_from_slice(&d);
                self.file = Some(if left == 0 { GetClose { handle, broken: false } } else { GetRead { handle, left } });
            }
            // A failed read, or the file ended before its size: the body is cut.
            (GetRead { handle, .. }, _) => self.file = Some(GetClose { handle, broken: true }),
            (GetClose { broken, .. }, _) => {
                self.close_after |= broken || !keep_alive;
            }
            (PutOpen { .. }, Ok(FileAnswer::Handle(handle))) => self.file = Some(PutWrite { handle }),
            (PutWrite { handle }, Ok(FileAnswer::Written(n)))
                if self.put.as_ref().is_some_and(|b| b.writing as u64 == n) =>
            {
                self.file = Some(PutWrite { handle });
            }
            (PutWrite { handle } | PutFsync { handle }, r) => {
                let failed = match r {
                    Ok(FileAnswer::Done) => None,
                    Err(e) => Some(e),
                    Ok(_) => Some(VfsError::Io),
                };
                self.file = Some(PutClose { handle, failed });
            }
            (PutClose { failed, .. }, r) => match (failed.or(r.err()), self.put.take()) {
                (None, Some(b)) => {
                    let body = format!("{{\"length\":{},\"sha256\":\"{}\"}}\n", b.total, hex(&b.hasher.finalize()));
                    response::head(&mut self.out, 201, "Created", "application/json", body.len() as u64, keep_alive);
                    self.out.extend_from_slice(body.as_bytes());
                    self.close_after |= !keep_alive;
                }
                (Some(e), b) => {
                    // file_error closes after the answer if the body is not all read.
                    self.put = b;
                    self.file_error(e);
                }
                (None, None) => self.close_after = true,
            },
            (_, Err(e)) => self.file_error(e),
            (_, Ok(_)) => self.file_error(VfsError::Protocol),
        }
        if self.file.is_none() {
            self.process(status);
        }
    }

    /// A file request failed before its answer's head was sent.
    fn file_error(&mut self, e: vfs_api::VfsError) {
        let (code, reason) = files::status_of(e);
        // A body not read to its end cannot be skipped: close after.
        let body_left = self.put.take().is_some_and(|b| b.left > 0);
        let keep_alive = self.file_keep_alive && !body_left;
        response::text(&mut self.out, code, reason, &format!("{e}\n"), keep_alive);
        self.close_after |= !keep_alive;
        self.file = None;
    }

    /// Bytes to send next (empty: nothing now).
    pub fn pending_output(&mut self) -> &[u8] {
        if self.out_pos >= self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if let Some((next, end)) = self.stream {
                let n = (end - next).min(CHUNK as u64) as usize;
                self.out.resize(n, 0);
                fill_pattern(next, &mut self.out);
                self.stream = if next + n as u64 == end { None } else { Some((next + n as u64, end)) };
            }
        }
        &self.out[self.out_pos..]
    }

    /// `n` bytes of [`Connection::pending_output`] were sent. When a response is
    /// all sent, the next pipelined request is answered.
    pub fn advance(&mut self, n: usize, status: &dyn StatusSource) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if !self.output_pending() {
            self.process(status);
        }
    }

    /// Everything is answered and sent and the connection should close.
    pub fn is_done(&self) -> bool {
        self.close_after && !self.output_pending()
    }

    /// Answers requests from the input until a response is pending or the input
    /// runs out.
    fn process(&mut self, status: &dyn StatusSource) {
        while !self.busy() && !self.close_after {
            if let Some(sink) = &mut self.sink {
                if sink.remaining > 0 {
                    // Bytes of the body that came with the head.
                    let n = (self.input.len() as u64).min(sink.remaining) as usize;
                    if n == 0 {
                        return;
                    }
                    sink.hasher.update(&self.input[..n]);
                    sink.remaining -= n as u64;
                    self.input.drain(..n);
                    continue;
                }
                let Some(sink) = self.sink.take() else { return };
                let digest = sink.hasher.finalize();
                let body = format!("{{\"length\":{},\"sha256\":\"{}\"}}\n", sink.total, hex(&digest));
                response::head(&mut self.out, 200, "OK", "application/json", body.len() as u64, sink.keep_alive);
                self.out.extend_from_slice(body.as_bytes());
                self.close_after = !sink.keep_alive;
                continue;
            }
            if self.input.is_empty() {
                return;
            }
            let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&self.input) {
                Ok(httparse::Status::Complete(len)) => {
                    let request = Request::from(&req);
                    self.input.drain(..len);
                    self.requests += 1;
                    self.answer(request, status);
                }
                Ok(httparse::Status::Partial) if self.input.len() >= HEAD_MAX => {
                    self.fail(413, "Payload Too Large", "request head too large\n");
                }
                Ok(httparse::Status::Partial) => return,
                Err(_) => self.fail(400, "Bad Request", "malformed request\n"),
            }
        }
    }

    fn fail(&mut self, code: u16, reason: &str, body: &str) {
        response::text(&mut self.out, code, reason, body, false);
        self.close_after = true;
        self.input.clear();
    }

    fn answer(&mut self, r: Request, status: &dyn StatusSource) {
        let keep_alive = r.keep_alive;
        if r.chunked {
            return self.fail(411, "Length Required", "send the body with a Content-Length\n");
        }
        let Some(length) = r.content_length else {
            return self.fail(400, "Bad Request", "bad Content-Length\n");
        };
        // A path under /files/: the file's, or why it cannot be used.
        let file = files::file_path(&r.path);
        let takes_body =
            (r.method == "POST" && r.path == "/sink") || (r.method == "PUT" && matches!(file, Some(Ok(_))));
        if r.expect_continue && takes_body && length > 0 {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        match (r.method.as_str(), r.path.as_str(), file) {
            ("POST", "/sink", _) => {
                self.sink = Some(Sink { remaining: length, total: length, hasher: Sha256::new(), keep_alive });
            }
            ("PUT", _, Some(Ok(path))) => {
                // Bytes of the body that came with the head.
                let first = (self.input.len() as u64).min(length) as usize;
                let buf: Vec<u8> = self.input.drain(..first).collect();
                let left = length - first as u64;
                self.put = Some(PutBody { left, buf, total: length, hasher: Sha256::new(), writing: 0 });
                self.file = Some(FileJob::PutOpen { path });
                self.file_keep_alive = keep_alive;
                return;
            }
            // The body is not read: the connection closes after the answer.
            ("PUT", _, Some(Err(why))) => return self.fail(400, "Bad Request", why),
            (_, _, _) if length > 0 => {
                self.fail(400, "Bad Request", "a body is accepted only by POST /sink and PUT /files/\n")
            }
            ("GET", _, Some(Ok(path))) => {
                self.file = Some(FileJob::GetStat { path });
                self.file_keep_alive = keep_alive;
                return;
            }
            ("GET", _, Some(Err(why))) => response::text(&mut self.out, 400, "Bad Request", why, keep_alive),
            ("GET", "/", _) => {
                let page = response::status_html(status);
                response::head(&mut self.out, 200, "OK", "text/html; charset=utf-8", page.len() as u64, keep_alive);
                self.out.extend_from_slice(page.as_bytes());
            }
            ("GET", "/status.json", _) => {
                let json = response::status_json(status);
                response::head(&mut self.out, 200, "OK", "application/json", json.len() as u64, keep_alive);
                self.out.extend_from_slice(json.as_bytes());
            }
            ("GET", path, _) if path.starts_with("/bytes/") => match parse_count(&path["/bytes/".len()..]) {
                Some(n) if n <= BYTES_MAX => {
                    response::head(&mut self.out, 200, "OK", "application/octet-stream", n, keep_alive);
                    if n > 0 {
                        self.stream = Some((0, n));
                    }
                }
                Some(_) => self.fail(413, "Payload Too Large", "at most 16 GiB\n"),
                None => self.fail(400, "Bad Request", "/bytes/N takes a decimal count\n"),
            },
            ("GET" | "POST" | "PUT", _, _) => {
                response::text(&mut self.out, 404, "Not Found", "no such page\n", keep_alive);
            }
            _ => self.fail(405, "Method Not Allowed", "GET, POST or PUT\n"),
        }
        self.close_after |= !keep_alive;
    }
}

/// What the answer needs from a parsed request head.
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
    /// `None`: a Content-Length that is not one number.
    content_length: Option<u64>,
    chunked: bool,
    /// `Expect: 100-continue`: the client waits for a go before its body.
    expect_continue: bool,
}

impl Request {
    fn from(req: &httparse::Request<'_, '_>) -> Request {
        let mut keep_alive = req.version == Some(1);
        let mut content_length = Some(0);
        let mut seen_length = false;
        let mut chunked = false;
        let mut expect_continue = false;
        for h in req.headers.iter() {
            let value = core::str::from_utf8(h.value).unwrap_or("").trim();
            if h.name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("content-length") {
                let n = parse_count(value);
                // Two different lengths are a smuggling attempt: refuse.
                content_length = if seen_length && n != content_length { None } else { n };
                seen_length = true;
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("expect") {
                expect_continue = value.eq_ignore_ascii_case("100-continue");
            }
        }
        Request {
            method: req.method.unwrap_or("").to_string(),
            path: req.path.unwrap_or("").to_string(),
            keep_alive,
            content_length,
            chunked,
            expect_continue,
        }
    }
}

/// A decimal count: digits only, no sign, no overflow.
fn parse_count(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
