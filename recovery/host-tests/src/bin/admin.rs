//! The administrator of the `admin` test system: on its admin channel to RS it
//! reads the component table, restarts `patient`, stops and starts `sleeper`,
//! crashes `patient` and reads the crash record, asks for things that do not
//! exist, and sends garbage. It prints what it sees; the test reads it.
#![forbid(unsafe_code)]

use microkit::{Handler, InjectKind, arch_timer, debug_println};
use rs_api::{ComponentStatus, Error, RsAdmin};

microkit::include_system!("admin");

struct Admin;
impl Handler for Admin {}

fn show(row: &ComponentStatus) {
    let state = row.state.map_or("unknown", |s| s.name());
    let fault = row.last_fault.map(|f| format!("{f}")).unwrap_or_else(|| "-".into());
    let uptime = row.uptime_ns().map_or(String::from("-"), |u| format!("{}ms", u / 1_000_000));
    debug_println!(
        "admin: row {} {:?} {state} gen={} restarts={} fault={fault} uptime={uptime}",
        row.name,
        row.supervision,
        row.generation,
        row.restarts
    );
}

fn row(rs: &RsAdmin, name: &str) -> Option<ComponentStatus> {
    (0..).map_while(|i| rs.status(i).ok()).find(|r| r.name.as_str() == name)
}

/// Polls `rs` until `f` holds (at most 10 s).
fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = arch_timer::now_ns() + 10_000_000_000;
    while !f() {
        if arch_timer::now_ns() > deadline {
            debug_println!("admin: timed out waiting for {what}");
            return;
        }
    }
}

fn init() -> Admin {
    let rs = RsAdmin::new(channel::RS);
    let up = |name: &str| row(&rs, name).is_some_and(|r| r.state.is_some_and(|s| s.name() == "up"));
    wait("patient and sleeper up", || up("patient") && up("sleeper"));
    match rs.status_all(|r| show(&r)) {
        Ok(n) => debug_println!("admin: {n} rows"),
        Err(e) => debug_println!("admin: status failed: {e}"),
    }

    debug_println!("admin: restart patient: {:?}", rs.restart("patient"));
    wait("patient up again", || up("patient"));
    if let Some(r) = row(&rs, "patient") {
        show(&r);
    }

    debug_println!("admin: stop sleeper: {:?}", rs.stop("sleeper"));
    debug_println!("admin: stop sleeper again: {:?}", rs.stop("sleeper"));
    if let Some(r) = row(&rs, "sleeper") {
        show(&r);
    }
    debug_println!("admin: start sleeper: {:?}", rs.start("sleeper"));
    debug_println!("admin: start sleeper again: {:?}", rs.start("sleeper"));
    wait("sleeper up again", || up("sleeper"));
    if let Some(r) = row(&rs, "sleeper") {
        show(&r);
    }

    debug_println!("admin: crash patient before any: {:?}", rs.crash("patient", 0).err());
    debug_println!("admin: inject crash into patient: {:?}", rs.inject("patient", InjectKind::Crash));
    let mut record = Err(Error::NoRecord);
    wait("a crash record", || {
        record = rs.crash("patient", 0);
        record.is_ok()
    });
    match record {
        Ok(r) => debug_println!("admin: record {}", r.line("patient")),
        Err(e) => debug_println!("admin: no crash record: {e}"),
    }
    debug_println!("admin: second record: {:?}", rs.crash("patient", 1).err());

    debug_println!("admin: restart rs: {:?}", rs.restart("rs").err());
    debug_println!("admin: restart nobody: {:?}", rs.restart("nobody").err());
    debug_println!("admin: restart empty name: {:?}", rs.restart("").err());
    let odd = recovery_host_tests::garbage_calls(channel::RS, 0x9e37_79b9, 5000);
    debug_println!("admin: garbage answered, {odd} odd replies");
    match rs.status_all(|_| {}) {
        Ok(n) => debug_println!("admin: after the garbage, {n} rows"),
        Err(e) => debug_println!("admin: after the garbage, status failed: {e}"),
    }
    debug_println!("admin: done");
    Admin
}

microkit::protection_domain!(init);
