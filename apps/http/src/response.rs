//! Answers: the head of a response, the status page in HTML and JSON.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::status::{ComponentRow, StatusSource};

/// Appends a response head with a body of `len` bytes.
pub(crate) fn head(out: &mut Vec<u8>, code: u16, reason: &str, content_type: &str, len: u64, keep_alive: bool) {
    let mut s = String::new();
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nServer: reincarnate\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: {connection}\r\n\r\n"
    );
    out.extend_from_slice(s.as_bytes());
}

/// Appends a whole response with a small text body.
pub(crate) fn text(out: &mut Vec<u8>, code: u16, reason: &str, body: &str, keep_alive: bool) {
    head(out, code, reason, "text/plain; charset=utf-8", body.len() as u64, keep_alive);
    out.extend_from_slice(body.as_bytes());
}

pub(crate) fn status_html(source: &dyn StatusSource) -> String {
    let mut s = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>reincarnate</title></head><body>\n\
         <h1>reincarnate</h1>\n<table>\n<tr><th>component</th><th>state</th><th>generation</th><th>restarts</th><th>last fault</th></tr>\n",
    );
    source.rows(&mut |r: &ComponentRow<'_>| {
        s.push_str("<tr><td>");
        html_escape(&mut s, r.name);
        s.push_str("</td><td>");
        html_escape(&mut s, r.state);
        let _ = write!(s, "</td><td>{}</td><td>{}</td><td>", r.generation, r.restarts);
        html_escape(&mut s, r.last_fault);
        s.push_str("</td></tr>\n");
    });
    s.push_str("</table>\n</body></html>\n");
    s
}

pub(crate) fn status_json(source: &dyn StatusSource) -> String {
    let mut s = String::from("{\"components\":[");
    let mut first = true;
    source.rows(&mut |r: &ComponentRow<'_>| {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str("{\"name\":");
        json_string(&mut s, r.name);
        s.push_str(",\"state\":");
        json_string(&mut s, r.state);
        let _ = write!(s, ",\"generation\":{},\"restarts\":{},\"last_fault\":", r.generation, r.restarts);
        json_string(&mut s, r.last_fault);
        s.push('}');
    });
    s.push_str("]}\n");
    s
}

fn html_escape(s: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '&' => s.push_str("&amp;"),
            '"' => s.push_str("&quot;"),
            c => s.push(c),
        }
    }
}

fn json_string(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
