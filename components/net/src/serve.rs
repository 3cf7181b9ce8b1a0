//! Serving one call of an application: decode it (`net_api::protocol`), check it,
//! carry it out on the stack, and build the reply. Nothing an application sends
//! can make this panic.

use alloc::vec::Vec;

use driver_queue::SharedMem;
use microkit::reply::ApiError;
use net_api::NetError;
use net_api::protocol::{Request, addr_mr};

use crate::link::Link;
use crate::stack::NetStack;

/// The reply to a call: a label (`OK` or a [`NetError`] code) and its MRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub label: u64,
    pub mrs: [u64; 3],
    pub count: usize,
}

impl Reply {
    fn ok(mrs: &[u64]) -> Reply {
        let mut r = Reply { label: microkit::reply::OK, mrs: [0; 3], count: mrs.len() };
        r.mrs[..mrs.len()].copy_from_slice(mrs);
        r
    }
    fn err(e: NetError) -> Reply {
        Reply { label: e.code(), mrs: [0; 3], count: 0 }
    }
}

/// Serves a call with `label` and `mrs` from the application `owner` whose data
/// region is `region`; `scratch` is the server's private buffer for the bytes
/// that pass.
pub fn serve<L: Link, R: SharedMem>(
    stack: &mut NetStack<L>,
    owner: u8,
    label: u64,
    mrs: &[u64],
    region: &R,
    scratch: &mut Vec<u8>,
) -> Reply {
    let Some(request) = Request::decode(label, mrs, region.size()) else {
        return Reply::err(NetError::BadRequest);
    };
    match carry_out(stack, owner, request, region, scratch) {
        Ok(reply) => reply,
        Err(e) => Reply::err(e),
    }
}

fn carry_out<L: Link, R: SharedMem>(
    stack: &mut NetStack<L>,
    owner: u8,
    request: Request,
    region: &R,
    scratch: &mut Vec<u8>,
) -> Result<Reply, NetError> {
    Ok(match request {
        Request::Accept(s) => Reply::ok(&[u64::from(stack.accept(owner, s)?.slot)]),
        Request::Connect(s, to) => Reply::ok(&[u64::from(stack.connect(owner, s, to)?.slot)]),
        Request::Recv(c, span) => {
            scratch.resize(span.len, 0);
            let n = stack.recv(owner, c, scratch)?;
            region.write_bytes(span.offset, &scratch[..n]).map_err(|_| NetError::BadRequest)?;
            Reply::ok(&[n as u64])
        }
        Request::Send(c, span) => {
            scratch.resize(span.len, 0);
            region.read_bytes(span.offset, scratch).map_err(|_| NetError::BadRequest)?;
            Reply::ok(&[stack.send(owner, c, scratch)? as u64])
        }
        Request::Shutdown(c) => {
            stack.shutdown(owner, c)?;
            Reply::ok(&[])
        }
        Request::Close(c) => {
            stack.close(owner, c)?;
            Reply::ok(&[])
        }
        Request::Abort(c) => {
            stack.abort(owner, c)?;
            Reply::ok(&[])
        }
        Request::SendTo(s, to, span) => {
            scratch.resize(span.len, 0);
            region.read_bytes(span.offset, scratch).map_err(|_| NetError::BadRequest)?;
            stack.send_to(owner, s, to, scratch)?;
            Reply::ok(&[])
        }
        Request::RecvFrom(s, span) => {
            scratch.resize(span.len, 0);
            let (n, from) = stack.recv_from(owner, s, scratch)?;
            region.write_bytes(span.offset, &scratch[..n]).map_err(|_| NetError::BadRequest)?;
            Reply::ok(&[n as u64, addr_mr(&from), u64::from(from.port)])
        }
        Request::Readiness(s, slot) => Reply::ok(&[stack.readiness(owner, s, slot)?.to_bits()]),
    })
}
