//! What the shell prints for RS's answers: the component table and crash
//! records. Lines end in CR LF (the terminal is in raw mode).

use alloc::string::String;
use core::fmt::Write;

use net_api::report::{LinkCounters, SocketReport};
use rs_api::{ComponentStatus, CrashRecord, Supervision};

/// The table's heading.
pub fn status_heading() -> String {
    alloc::format!(
        "{:<15} {:<11} {:>4} {:>8}  {:<12} {}\r\n",
        "NAME",
        "STATE",
        "GEN",
        "RESTARTS",
        "UPTIME",
        "LAST FAULT"
    )
}

/// One row of the table.
pub fn status_row(row: &ComponentStatus) -> String {
    let state = match (row.state, row.supervision) {
        (Some(s), _) => s.name(),
        (None, Supervision::TrustedBase) => "up",
        (None, _) => "unknown",
    };
    let uptime = row.uptime_ns().map_or(String::from("-"), duration);
    let fault = row.last_fault.map_or(String::from("-"), |f| alloc::format!("{f}"));
    alloc::format!(
        "{:<15} {:<11} {:>4} {:>8}  {:<12} {}\r\n",
        row.name.as_str(),
        state,
        row.generation,
        row.restarts,
        uptime,
        fault
    )
}

/// `ns` as the shell shows durations: `950ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn duration(ns: u64) -> String {
    let ms = ns / 1_000_000;
    match ms {
        0..=999 => alloc::format!("{ms}ms"),
        1000..=59_999 => alloc::format!("{}.{}s", ms / 1000, (ms % 1000) / 100),
        60_000..=3_599_999 => alloc::format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => alloc::format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// A crash record, `nth` newest, of `name`, as a few lines; `now_ns` is RS's
/// clock (from a status row), to say how long ago.
pub fn crash(name: &str, nth: usize, r: &CrashRecord, now_ns: Option<u64>) -> String {
    let mut s = String::new();
    let ago = now_ns.map_or(String::new(), |now| alloc::format!(", {} ago", duration(now.saturating_sub(r.at_ns))));
    let _ = write!(s, "#{nth} {name} generation {}{ago}: {}\r\n", r.generation, r.fault);
    match &r.context {
        None => s.push_str("   (no registers: the kernel gave none)\r\n"),
        Some(c) => {
            let _ = write!(s, "   pc {:#x}  sp {:#x}  load base {:#x}\r\n", c.pc, c.sp, c.load_base);
            let names = c.layout.names();
            let mut col = 0;
            for (name, value) in names.iter().zip(&c.registers[..c.register_count]) {
                if col == 0 {
                    s.push_str("  ");
                }
                let _ = write!(s, " {name:>4} {value:#018x}");
                col += 1;
                if col == 4 {
                    s.push_str("\r\n");
                    col = 0;
                }
            }
            if col != 0 {
                s.push_str("\r\n");
            }
            if c.stack_len > 0 {
                let _ = write!(s, "   {} bytes of stack from {:#x} kept\r\n", c.stack_len, c.stack_base);
            }
        }
    }
    s
}

/// The network server's link counters, as two lines.
pub fn net_link(c: &LinkCounters) -> String {
    alloc::format!(
        "link: {} frames out, {} in; errors {} out, {} in; {} dropped (no buffer)\r\n\
         driver: restarts seen {}, requests given to a fresh copy again {}, liveness probes {}\r\n",
        c.tx_frames,
        c.rx_frames,
        c.tx_errors,
        c.rx_errors,
        c.tx_dropped,
        c.reattaches.saturating_sub(1),
        c.resubmitted,
        c.probes
    )
}

/// The socket table's heading.
pub fn net_socket_heading() -> String {
    alloc::format!(
        "{:<12} {:<8} {:<11} {:>5} {:>9} {:>6}  {:>9} {:>9}\r\n",
        "SOCKET",
        "OWNER",
        "KIND",
        "PORT",
        "HELD",
        "ACTIVE",
        "RX-QUEUED",
        "TX-QUEUED"
    )
}

/// One declared socket (`decl`: name, owner, kind, port, from net.toml) and
/// where it stands.
pub fn net_socket_row(decl: (&str, &str, &str, u16), r: &SocketReport) -> String {
    let (name, owner, kind, port) = decl;
    let port = if port == 0 { String::from("-") } else { alloc::format!("{port}") };
    let (held, active) = if kind == "udp" {
        (String::from("-"), String::from("-"))
    } else {
        (alloc::format!("{}/{}", r.held, r.slots), alloc::format!("{}", r.active))
    };
    alloc::format!(
        "{name:<12} {owner:<8} {kind:<11} {port:>5} {held:>9} {active:>6}  {:>9} {:>9}\r\n",
        r.rx_queued,
        r.tx_queued
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(950_000_000), "950ms");
        assert_eq!(duration(12_345_000_000), "12.3s");
        assert_eq!(duration(245_000_000_000), "4m05s");
        assert_eq!(duration(7_380_000_000_000), "2h03m");
    }

    #[test]
    fn the_socket_table_lines_up() {
        let r = SocketReport { slots: 128, held: 2, active: 3, rx_queued: 0, tx_queued: 4096 };
        let row = net_socket_row(("http", "http", "tcp-listen", 80), &r);
        assert_eq!(row.len(), net_socket_heading().len(), "{row:?}");
        assert!(row.contains("  2/128 ") && row.ends_with("4096\r\n"), "{row:?}");
        let udp = net_socket_row(("echo_udp", "echo", "udp", 7), &SocketReport { slots: 1, ..r });
        assert!(udp.contains(" - "), "{udp:?}");
        let link = net_link(&LinkCounters { reattaches: 2, ..LinkCounters::default() });
        assert!(link.contains("restarts seen 1,"), "{link:?}");
    }
}
