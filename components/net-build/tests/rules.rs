//! net.toml against system descriptions: what passes, and each rule refused.

use std::path::Path;

use net_build::{Kind, load_str};
use sdf::SystemDescription;

fn system(extra_channels: &str) -> SystemDescription {
    let xml = format!(
        r#"<system>
  <memory_region name="http_data" size="0x4000" />
  <memory_region name="echo_data" size="0x1000" />
  <protection_domain name="net" priority="180"><program_image path="net.elf" />
    <map mr="http_data" vaddr="0x5000000" perms="rw" /><map mr="echo_data" vaddr="0x5100000" perms="rw" />
  </protection_domain>
  <protection_domain name="http" priority="100"><program_image path="http.elf" />
    <map mr="http_data" vaddr="0x5000000" perms="rw" />
  </protection_domain>
  <protection_domain name="echo" priority="100"><program_image path="echo.elf" />
    <map mr="echo_data" vaddr="0x5000000" perms="rw" />
  </protection_domain>
  <protection_domain name="loner" priority="100"><program_image path="loner.elf" /></protection_domain>
  <channel><end pd="http" id="0" pp="true" /><end pd="net" id="4" /></channel>
  <channel><end pd="echo" id="0" /><end pd="net" id="5" /></channel>
  {extra_channels}
</system>"#
    );
    SystemDescription::parse(Path::new("test.xml"), &xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

const INTERFACE: &str =
    "[interface]\nmac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\ngateway = \"10.0.2.2\"\n";

fn errors(sockets: &str) -> String {
    load_str(&format!("{INTERFACE}{sockets}"), &system(""), "net").unwrap_err().join("\n")
}

#[test]
fn a_good_file_gives_the_interface_and_the_owners_channels() {
    let f = load_str(
        &format!(
            "{INTERFACE}[[socket]]\nname = \"http\"\nowner = \"http\"\nkind = \"tcp-listen\"\nport = 80\nbacklog = 4\nrx_bytes = 8192\ntx_bytes = 16384\n\
             [[socket]]\nname = \"out\"\nowner = \"http\"\nkind = \"tcp-connect\"\nrx_bytes = 4096\ntx_bytes = 4096\n"
        ),
        &system(""),
        "net",
    )
    .unwrap();
    assert_eq!(f.interface.mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert_eq!(
        (f.interface.addr, f.interface.prefix_len, f.interface.gateway),
        ([10, 0, 2, 15], 24, Some([10, 0, 2, 2]))
    );
    assert_eq!(f.sockets.len(), 2);
    assert_eq!(f.sockets[0].owner_channel, 4, "the server's channel id to the owner");
    assert_eq!(f.sockets[0].kind, Kind::TcpListen { port: 80, backlog: 4 });
    assert_eq!(f.sockets[1].kind, Kind::TcpConnect);
    assert_eq!(f.clients.len(), 1, "one client however many sockets it owns");
    assert_eq!((f.clients[0].name.as_str(), f.clients[0].channel), ("http", 4));
    assert_eq!((f.clients[0].region.as_str(), f.clients[0].region_fn.as_str()), ("http_data", "http_data"));
}

#[test]
fn an_owner_needs_a_private_read_write_data_region_shared_with_the_server() {
    let socket = "[[socket]]\nname = \"h\"\nowner = \"http\"\nkind = \"tcp-listen\"\nport = 80\nrx_bytes = 4096\ntx_bytes = 4096\n";
    let check = |xml: &str| {
        let sd = SystemDescription::parse(Path::new("t.xml"), xml).unwrap_or_else(|e| panic!("{e}"));
        load_str(&format!("{INTERFACE}{socket}"), &sd, "net").map(|_| ()).unwrap_err().join("\n")
    };
    let wire = r#"<channel><end pd="http" id="0" pp="true" /><end pd="net" id="4" /></channel>"#;
    let pds = |net_maps: &str, http_maps: &str, other: &str| {
        format!(
            r#"<system><memory_region name="d" size="0x1000" /><memory_region name="e" size="0x1000" />
            <protection_domain name="net" priority="180"><program_image path="net.elf" />{net_maps}</protection_domain>
            <protection_domain name="http" priority="100"><program_image path="http.elf" />{http_maps}</protection_domain>
            <protection_domain name="spy" priority="100"><program_image path="spy.elf" />{other}</protection_domain>{wire}</system>"#
        )
    };
    let m = |mr: &str, perms: &str, at: u32| {
        format!(r#"<map mr="{mr}" vaddr="{:#x}" perms="{perms}" />"#, 0x5000000 + at * 0x1000)
    };
    let e = check(&pds("", "", ""));
    assert!(e.contains("map no region in common"), "{e}");
    let e = check(&pds(&(m("d", "rw", 0) + &m("e", "rw", 1)), &(m("d", "rw", 0) + &m("e", "rw", 1)), ""));
    assert!(e.contains("several regions in common (d, e)"), "{e}");
    let e = check(&pds(&m("d", "rw", 0), &m("d", "r", 0), ""));
    assert!(e.contains("must be mapped rw by both"), "{e}");
    let e = check(&pds(&m("d", "rw", 0), &m("d", "rw", 0), &m("d", "r", 0)));
    assert!(e.contains("also mapped by spy"), "{e}");
}

#[test]
fn every_rule_is_checked_and_all_problems_are_reported() {
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"echo\"\nkind = \"udp\"\nport = 7\nrx_bytes = 4096\ntx_bytes = 4096\n",
    );
    assert!(e.contains("echo must be able to call"), "{e}");
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"loner\"\nkind = \"udp\"\nport = 7\nrx_bytes = 4096\ntx_bytes = 4096\n",
    );
    assert!(e.contains("owner loner has no channel to net"), "{e}");
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"ghost\"\nkind = \"udp\"\nport = 7\nrx_bytes = 4096\ntx_bytes = 4096\n",
    );
    assert!(e.contains("owner \"ghost\" is no protection domain"), "{e}");
    let two = "[[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"tcp-listen\"\nport = 80\nrx_bytes = 4096\ntx_bytes = 4096\n\
               [[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"tcp-listen\"\nport = 80\nbacklog = 257\nrx_bytes = 10\ntx_bytes = 4096\n";
    let e = errors(two);
    for want in
        ["declared twice", "tcp port 80 is also socket \"a\"'s", "backlog must be 1..=256", "rx_bytes must be 256"]
    {
        assert!(e.contains(want), "{want:?} missing from:\n{e}");
    }
    let e =
        errors("[[socket]]\nname = \"B-ad\"\nowner = \"http\"\nkind = \"sctp\"\nrx_bytes = 4096\ntx_bytes = 4096\n");
    assert!(e.contains("a name is lower-case") && e.contains("kind \"sctp\""), "{e}");
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"tcp-connect\"\nport = 5\nrx_bytes = 4096\ntx_bytes = 4096\n",
    );
    assert!(e.contains("takes no port"), "{e}");
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"udp\"\nport = 0\nrx_bytes = 4096\ntx_bytes = 4096\n",
    );
    assert!(e.contains("port 0"), "{e}");
    let e = errors("[[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"udp\"\nrx_bytes = 4096\ntx_bytes = 4096\n");
    assert!(e.contains("needs a port"), "{e}");
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"udp\"\nport = 1\nbacklog = 2\nrx_bytes = 4096\ntx_bytes = 4096\n",
    );
    assert!(e.contains("backlog is for tcp-listen"), "{e}");
    let e = errors(
        "[[socket]]\nname = \"a\"\nowner = \"http\"\nkind = \"udp\"\nport = 1\nrx_bytes = 4096\ntx_bytes = 4096\nspeed = 3\n",
    );
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn bad_interfaces_are_refused() {
    let sd = system("");
    for (iface, want) in [
        ("mac = \"52:54:00:12:34\"\naddress = \"10.0.2.15/24\"\n", "six hex bytes"),
        ("mac = \"53:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\n", "multicast"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15\"\n", "prefix length"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.300/24\"\n", "prefix length"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\ngateway = \"10.0.3.2\"\n", "outside"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\ngateway = \"nope\"\n", "not an IPv4"),
    ] {
        let e = load_str(&format!("[interface]\n{iface}"), &sd, "net").unwrap_err().join("\n");
        assert!(e.contains(want), "{want:?} missing from:\n{e}");
    }
}

#[test]
fn the_server_program_must_run_exactly_once() {
    let e = load_str(INTERFACE, &system(""), "nonet").unwrap_err().join("\n");
    assert!(e.contains("runs nonet.elf"), "{e}");
}

#[test]
fn report_readers_need_a_channel_on_which_they_may_call() {
    // http owns a socket and reads the report on the same channel; loner calls
    // on a channel of its own.
    let sd = system(r#"<channel><end pd="loner" id="0" pp="true" /><end pd="net" id="9" /></channel>"#);
    let f = load_str(&format!("{INTERFACE}[report]\nreaders = [\"loner\", \"http\"]\n"), &sd, "net").unwrap();
    let readers: Vec<(&str, u8)> = f.readers.iter().map(|r| (r.name.as_str(), r.channel)).collect();
    assert_eq!(readers, [("loner", 9), ("http", 4)]);
    assert!(f.clients.is_empty(), "a reader is no socket owner: it needs no data region");

    for (readers, want) in [
        ("\"echo\"", "echo must be able to call"),
        ("\"loner\"", "loner has no channel to net"),
        ("\"ghost\"", "\"ghost\" is no protection domain"),
        ("\"http\", \"http\"", "named twice"),
    ] {
        let e = load_str(&format!("{INTERFACE}[report]\nreaders = [{readers}]\n"), &system(""), "net")
            .unwrap_err()
            .join("\n");
        assert!(e.contains(want), "readers {readers}: {e}");
    }
    let e = load_str(&format!("{INTERFACE}[report]\nreader = [\"http\"]\n"), &system(""), "net").unwrap_err();
    assert!(e.join("\n").contains("unknown field"), "{e:?}");
}
