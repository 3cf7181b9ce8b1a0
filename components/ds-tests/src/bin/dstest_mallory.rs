//! Sends DS requests no client library would: unknown labels, wrong MR counts,
//! lengths beyond the buffer layout, keys with forbidden bytes. Each must be a
//! BadRequest; then a well-formed request must still be served.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use ds_api::{DsClient, DsError, KEY_MAX, KEY_OFFSET, VALUE_MAX, label};
use ds_tests::{outcome, text};
use microkit::{Handler, MSG_MAX_LENGTH, MessageInfo, debug_println, set_mr};

microkit::include_system!("dstest_mallory");

struct Mallory;
impl Handler for Mallory {}

/// A raw call: `label` with `mrs`, `count` MRs claimed.
fn call(label: u64, mrs: &[u64], count: usize) -> &'static str {
    for (i, &mr) in mrs.iter().enumerate() {
        set_mr(i, mr);
    }
    let reply = channel::DS.pp_call(MessageInfo::new(label, count));
    match DsError::from_code(reply.label()) {
        Some(e) if e.is_sent_by_ds() => e.name(),
        Some(_) | None if reply.label() == ds_api::OK => "ok",
        Some(_) | None => "unexpected reply",
    }
}

fn init() -> Mallory {
    let buffer = region::ds_mallory();
    let _ = buffer.write_bytes(KEY_OFFSET, b"mallory.key");
    let garbage: [(&str, u64, &[u64], usize); 10] = [
        ("no label", 0, &[], 0),
        ("unknown label", 999, &[1], 1),
        ("put without MRs", label::PUT, &[], 0),
        ("put with a 2^40-byte key", label::PUT, &[1 << 40, 1], 2),
        ("put with a 2^64-1-byte value", label::PUT, &[11, u64::MAX], 2),
        ("get with a key past the key area", label::GET, &[KEY_MAX as u64 + 1], 1),
        ("next_change with two MRs", label::NEXT_CHANGE, &[0, 0], 2),
        ("subscribe claiming every MR", label::SUBSCRIBE, &[11], MSG_MAX_LENGTH),
        ("backup past the value area", label::BACKUP, &[VALUE_MAX as u64 + 1], 1),
        ("delete of an empty key", label::DELETE, &[0], 1),
    ];
    for (i, (what, l, mrs, count)) in garbage.iter().enumerate() {
        debug_println!("mallory: garbage {i} ({what}) -> {}", call(*l, mrs, *count));
    }
    let _ = buffer.write_bytes(KEY_OFFSET, b"bad\0key");
    debug_println!("mallory: garbage 10 (key with a NUL byte) -> {}", call(label::PUT, &[7, 0], 2));

    let ds = DsClient::new(channel::DS, buffer);
    let put = ds.put("mallory.note", b"still served");
    let mut out = [0u8; VALUE_MAX];
    let got = ds.get("mallory.note", &mut out).map(|n| text(&out[..n]));
    debug_println!("mallory: after the garbage: put -> {}, get -> {}", outcome(&put), got.unwrap_or("error"));
    Mallory
}

microkit::protection_domain!(init);
