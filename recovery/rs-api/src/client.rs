//! Client stubs: [`complain`] and [`dependency_state`] on a service channel, [`RsAdmin`] on an admin
//! channel. Each is one protected procedure call; none blocks beyond it.

use microkit::reply;
use microkit::status::ComponentState;
use microkit::{Channel, InjectKind, MessageInfo, get_mr, set_mr};

use crate::Error;
use crate::crash::{CRASH_WORDS_MAX, CrashRecord};
use crate::request::{Name, REQUEST_WORDS_MAX, Request};
use crate::status::{ComponentStatus, STATUS_WORDS_MAX};

/// Makes `request` on `rs`; on success returns the reply's registers in `out`
/// and how many there are.
fn call(rs: Channel, request: Request, out: &mut [u64]) -> Result<usize, Error> {
    let mut words = [0; REQUEST_WORDS_MAX];
    let (label, n) = request.encode(&mut words);
    for (i, w) in words[..n].iter().enumerate() {
        set_mr(i, *w);
    }
    let reply = reply::check::<Error>(rs.pp_call(MessageInfo::new(label, n)))?;
    if reply.count() > out.len() {
        return Err(Error::Protocol);
    }
    for (i, slot) in out[..reply.count()].iter_mut().enumerate() {
        *slot = get_mr(i);
    }
    Ok(reply.count())
}

/// Reports the driver on `driver` (the caller's channel to it) as misbehaving,
/// on the caller's service channel `rs`.
pub fn complain(rs: Channel, driver: Channel) -> Result<(), Error> {
    call(rs, Request::Complain(driver.index() as u64), &mut []).map(drop)
}

/// The state RS knows of the driver on `driver` (the caller's channel to it),
/// a component the caller depends on, asked on the caller's service channel `rs`.
pub fn dependency_state(rs: Channel, driver: Channel) -> Result<ComponentState, Error> {
    let mut out = [0; 1];
    match call(rs, Request::DependencyState(driver.index() as u64), &mut out)? {
        1 => crate::status::state_from_code(out[0]).ok_or(Error::Protocol),
        _ => Err(Error::Protocol),
    }
}

/// RS's admin interface, on the caller's admin channel to RS (id
/// [`crate::ADMIN_ID`] in `system.xml`; on any other channel every request is
/// [`Error::Denied`]).
#[derive(Clone, Copy, Debug)]
pub struct RsAdmin {
    rs: Channel,
}

impl RsAdmin {
    /// The interface on the caller's channel `rs`.
    pub const fn new(rs: Channel) -> Self {
        RsAdmin { rs }
    }

    /// Row `index` of the component table; [`Error::NoSuchComponent`] past
    /// its end.
    pub fn status(&self, index: usize) -> Result<ComponentStatus, Error> {
        let mut out = [0; STATUS_WORDS_MAX];
        let n = call(self.rs, Request::Status(index as u64), &mut out)?;
        ComponentStatus::decode(&out[..n]).ok_or(Error::Protocol)
    }

    /// Every row of the component table, in order: `each` is called per row.
    /// Stops at the first error other than the end of the table.
    pub fn status_all(&self, mut each: impl FnMut(ComponentStatus)) -> Result<usize, Error> {
        for index in 0.. {
            match self.status(index) {
                Ok(row) => each(row),
                Err(Error::NoSuchComponent) => return Ok(index),
                Err(e) => return Err(e),
            }
        }
        Ok(0)
    }

    /// Stops component `name` and starts a fresh copy (generation + 1).
    pub fn restart(&self, name: &str) -> Result<(), Error> {
        self.simple(name, Request::Restart)
    }

    /// Stops component `name` until [`RsAdmin::start`].
    pub fn stop(&self, name: &str) -> Result<(), Error> {
        self.simple(name, Request::Stop)
    }

    /// Starts component `name`, which is stopped or down.
    pub fn start(&self, name: &str) -> Result<(), Error> {
        self.simple(name, Request::Start)
    }

    /// Makes component `name` fail as `kind` says.
    pub fn inject(&self, name: &str, kind: InjectKind) -> Result<(), Error> {
        self.simple(name, |n| Request::Inject(n, kind))
    }

    /// The `nth` newest crash record of component `name` (0 = the newest);
    /// [`Error::NoRecord`] past the oldest kept.
    pub fn crash(&self, name: &str, nth: usize) -> Result<CrashRecord, Error> {
        let name = Name::new(name).ok_or(Error::NoSuchComponent)?;
        let mut out = [0; CRASH_WORDS_MAX];
        let n = call(self.rs, Request::Crash(name, nth as u64), &mut out)?;
        CrashRecord::decode(&out[..n]).ok_or(Error::Protocol)
    }

    fn simple(&self, name: &str, request: impl FnOnce(Name) -> Request) -> Result<(), Error> {
        let name = Name::new(name).ok_or(Error::NoSuchComponent)?;
        call(self.rs, request(name), &mut []).map(drop)
    }
}
