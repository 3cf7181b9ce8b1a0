//! The client library against a scripted DS: what it sends, and how it treats
//! replies it cannot trust. (The client against the real request handler is
//! tested in the `ds` crate.)
#![forbid(unsafe_code)]

use std::cell::RefCell;

use ds_api::{
    BUFFER_SIZE, BufferError, Change, DsClient, DsError, KEY_MAX, KEY_OFFSET, REPLY_MRS, SharedBuffer, Transport,
    VALUE_MAX, VALUE_OFFSET, label,
};
use microkit::MessageInfo;

/// A DS that records each call and answers with the next scripted reply.
struct Scripted {
    buf: VecBuf,
    calls: RefCell<Vec<(u64, Vec<u64>)>>,
    replies: RefCell<Vec<(u64, Vec<u64>)>>,
}

/// A buffer of any size (the real ones are at least BUFFER_SIZE).
struct VecBuf(RefCell<Vec<u8>>);

impl SharedBuffer for VecBuf {
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), BufferError> {
        let b = self.0.borrow();
        let src = b.get(offset..offset + out.len()).ok_or(BufferError)?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError> {
        let mut b = self.0.borrow_mut();
        let dst = b.get_mut(offset..offset + data.len()).ok_or(BufferError)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

impl Transport for Scripted {
    type Buffer = VecBuf;
    fn buffer(&self) -> &Self::Buffer {
        &self.buf
    }
    fn call(&self, label: u64, args: &[u64], reply: &mut [u64; REPLY_MRS]) -> (u64, usize) {
        self.calls.borrow_mut().push((label, args.to_vec()));
        let (l, mrs) = self.replies.borrow_mut().remove(0);
        *reply = [0; REPLY_MRS];
        reply[..mrs.len()].copy_from_slice(&mrs);
        (l, mrs.len())
    }
}

fn client(replies: &[(u64, &[u64])]) -> DsClient<Scripted> {
    DsClient::with_transport(Scripted {
        buf: VecBuf(RefCell::new(vec![0; BUFFER_SIZE])),
        calls: RefCell::new(Vec::new()),
        replies: RefCell::new(replies.iter().map(|(l, m)| (*l, m.to_vec())).collect()),
    })
}

fn calls(c: &DsClient<Scripted>) -> Vec<(u64, Vec<u64>)> {
    c.transport().calls.borrow().clone()
}

fn buffer(c: &DsClient<Scripted>) -> Vec<u8> {
    c.transport().buf.0.borrow().clone()
}

#[test]
fn put_sends_key_and_value_through_the_buffer_and_lengths_in_mrs() {
    let c = client(&[(0, &[7])]);
    assert_eq!(c.put_seq("net.mac", b"52:54"), Ok(7));
    assert_eq!(calls(&c), [(label::PUT, vec![7, 5])]);
    let b = buffer(&c);
    assert_eq!(&b[KEY_OFFSET..KEY_OFFSET + 7], b"net.mac");
    assert_eq!(&b[VALUE_OFFSET..VALUE_OFFSET + 5], b"52:54");
}

#[test]
fn oversized_or_malformed_requests_are_refused_before_any_call() {
    let c = client(&[]);
    assert_eq!(c.put("k", &[0; VALUE_MAX + 1]), Err(DsError::TooLarge));
    assert_eq!(c.put(&"k".repeat(KEY_MAX + 1), b""), Err(DsError::TooLarge));
    assert_eq!(c.put("", b"v"), Err(DsError::BadRequest));
    assert_eq!(c.put("a key", b"v"), Err(DsError::BadRequest));
    assert_eq!(c.backup(&[1; VALUE_MAX + 1]), Err(DsError::TooLarge));
    assert_eq!(c.subscribe("bad prefix"), Err(DsError::BadRequest));
    assert!(calls(&c).is_empty());
}

#[test]
fn get_reads_the_value_ds_left_in_the_buffer() {
    let c = client(&[(0, &[3, 42])]);
    c.transport().buf.0.borrow_mut()[VALUE_OFFSET..VALUE_OFFSET + 3].copy_from_slice(b"abc");
    let mut out = [0u8; 8];
    assert_eq!(c.get_seq("k", &mut out), Ok((3, 42)));
    assert_eq!(&out[..3], b"abc");
    assert_eq!(calls(&c), [(label::GET, vec![1])]);
}

#[test]
fn a_short_output_buffer_is_too_large_an_answer() {
    let c = client(&[(0, &[10, 1])]);
    let mut out = [0u8; 4];
    assert_eq!(c.get("k", &mut out), Err(DsError::TooLarge));
}

#[test]
fn error_labels_become_errors_and_unknown_ones_protocol_errors() {
    for e in DsError::ALL.into_iter().filter(|e| e.is_sent_by_ds()) {
        let c = client(&[(e.code(), &[])]);
        assert_eq!(c.delete("k"), Err(e));
    }
    let c = client(&[(MessageInfo::PEER_FAULTED, &[]), (MessageInfo::UNHANDLED, &[]), (99, &[])]);
    assert_eq!(c.delete("k"), Err(DsError::PeerFaulted));
    assert_eq!(c.delete("k"), Err(DsError::Protocol));
    assert_eq!(c.delete("k"), Err(DsError::Protocol));
    // DS never sends the client-side codes.
    let c = client(&[(DsError::Protocol.code(), &[])]);
    assert_eq!(c.delete("k"), Err(DsError::Protocol));
}

#[test]
fn replies_with_missing_mrs_or_impossible_lengths_are_protocol_errors() {
    let mut out = [0u8; VALUE_MAX];
    let c = client(&[(0, &[1])]);
    assert_eq!(c.get("k", &mut out), Err(DsError::Protocol), "GET needs two MRs");
    let c = client(&[(0, &[VALUE_MAX as u64 + 1, 1])]);
    assert_eq!(c.get("k", &mut out), Err(DsError::Protocol));
    let c = client(&[(0, &[u64::MAX, 1])]);
    assert_eq!(c.restore(&mut out), Err(DsError::Protocol));
    let mut key = [0u8; KEY_MAX];
    for bad in [
        &[1, 5, 1, 0, 0][..],               // seq not after `after`
        &[1, 11, 0, 0, 0],                  // empty key
        &[1, 11, KEY_MAX as u64 + 1, 0, 0], // key too long
        &[1, 11, 1, VALUE_MAX as u64 + 1, 0],
        &[1, 11, 1, 0, 2], // deleted is not a flag
        &[1, 11, 1, 3, 1], // a deletion with a value
        &[1, 11, 1],       // short
        &[2],              // found is not a flag
    ] {
        let c = client(&[(0, bad)]);
        assert_eq!(c.next_change(10, &mut key, &mut out), Err(DsError::Protocol), "{bad:?}");
    }
}

#[test]
fn next_change_reads_key_and_value_of_the_change() {
    let c = client(&[(0, &[1, 12, 3, 2, 0]), (0, &[0])]);
    {
        let mut b = c.transport().buf.0.borrow_mut();
        b[KEY_OFFSET..KEY_OFFSET + 3].copy_from_slice(b"a.b");
        b[VALUE_OFFSET..VALUE_OFFSET + 2].copy_from_slice(b"hi");
    }
    let (mut key, mut value) = ([0u8; 16], [0u8; 16]);
    let change = c.next_change(4, &mut key, &mut value).unwrap().unwrap();
    assert_eq!(change, Change { seq: 12, key_len: 3, value_len: 2, deleted: false });
    assert_eq!((&key[..3], &value[..2]), (&b"a.b"[..], &b"hi"[..]));
    assert_eq!(c.next_change(12, &mut key, &mut value), Ok(None));
    assert_eq!(calls(&c), [(label::NEXT_CHANGE, vec![4]), (label::NEXT_CHANGE, vec![12])]);
}

#[test]
fn restore_without_a_backup_is_none() {
    let c = client(&[(DsError::NotFound.code(), &[])]);
    let mut out = [0u8; 4];
    assert_eq!(c.restore(&mut out), Ok(None));
    assert_eq!(calls(&c), [(label::RESTORE, vec![])]);
}

#[test]
fn a_buffer_too_small_for_the_layout_is_a_protocol_error() {
    let c = DsClient::with_transport(Scripted {
        buf: VecBuf(RefCell::new(vec![0; 16])),
        calls: RefCell::new(Vec::new()),
        replies: RefCell::new(Vec::new()),
    });
    assert_eq!(c.put("k", b"v"), Err(DsError::Protocol));
}
