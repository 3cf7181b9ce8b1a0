//! The wire form: what the client encodes the server decodes, and nothing else
//! gets through.

use net_api::protocol::{NO_SLOT, Request, Span, label};
use net_api::{ConnId, Endpoint, NetError, Readiness, SocketId};

const REGION: usize = 0x4000;

fn all_requests() -> Vec<Request> {
    let c = ConnId { socket: SocketId(3), slot: 2 };
    let e = Endpoint { addr: [10, 0, 2, 2], port: 4000 };
    let span = Span { offset: 0x100, len: 0x200 };
    vec![
        Request::Accept(SocketId(1)),
        Request::Connect(SocketId(1), e),
        Request::Recv(c, span),
        Request::Send(c, span),
        Request::Shutdown(c),
        Request::Close(c),
        Request::Abort(c),
        Request::SendTo(SocketId(4), e, span),
        Request::RecvFrom(SocketId(4), span),
        Request::Readiness(SocketId(4), None),
        Request::Readiness(SocketId(3), Some(2)),
    ]
}

#[test]
fn every_request_round_trips() {
    for r in all_requests() {
        let mut mrs = [0; 5];
        let (l, n) = r.encode(&mut mrs);
        assert_eq!(Request::decode(l, &mrs[..n], REGION), Some(r));
    }
}

#[test]
fn a_wrong_count_label_or_number_is_refused() {
    for r in all_requests() {
        let mut mrs = [0; 5];
        let (l, n) = r.encode(&mut mrs);
        if n > 0 {
            assert_eq!(Request::decode(l, &mrs[..n - 1], REGION), None, "{r:?} with an MR too few");
        }
        let mut more = mrs.to_vec();
        more.truncate(n);
        more.push(0);
        assert_eq!(Request::decode(l, &more, REGION), None, "{r:?} with an MR too many");
    }
    assert_eq!(Request::decode(0, &[], REGION), None);
    assert_eq!(Request::decode(99, &[1], REGION), None);
    assert_eq!(Request::decode(label::ACCEPT, &[1 << 16], REGION), None, "socket ids are 16 bits");
    assert_eq!(Request::decode(label::CONNECT, &[1, 1 << 32, 80], REGION), None, "addresses are 32 bits");
    assert_eq!(Request::decode(label::CONNECT, &[1, 1, 1 << 16], REGION), None, "ports are 16 bits");
    assert_eq!(Request::decode(label::CLOSE, &[1, 1 << 16], REGION), None, "slots are 16 bits");
    assert_eq!(Request::decode(label::READINESS, &[1, NO_SLOT - 1], REGION), None);
}

#[test]
fn a_span_must_lie_inside_the_region() {
    let ok = |o: u64, l: u64| Request::decode(label::RECV_FROM, &[0, o, l], REGION).is_some();
    assert!(ok(0, REGION as u64));
    assert!(ok(REGION as u64, 0));
    assert!(!ok(1, REGION as u64), "one byte past the end");
    assert!(!ok(REGION as u64 + 1, 0));
    assert!(!ok(u64::MAX, 2), "an offset that wraps");
    assert!(!ok(2, u64::MAX));
}

#[test]
fn readiness_bits_round_trip() {
    for bits in 0..8 {
        assert_eq!(Readiness::from_bits(bits).to_bits(), bits);
    }
}

#[test]
fn net_errors_follow_the_reply_convention() {
    microkit::reply::conformance::assert_convention::<NetError>();
}

#[test]
fn a_stream_read_or_write_names_at_least_a_byte() {
    for l in [label::RECV, label::SEND] {
        assert_eq!(Request::decode(l, &[0, 0, 8, 0], REGION), None, "an empty span");
        assert!(Request::decode(l, &[0, 0, 8, 1], REGION).is_some());
    }
}
