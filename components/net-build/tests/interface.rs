//! The `[interface]` of a net.toml read alone, without the system description
//! (what `cargo xtask run` reads to address the far end of the link).

use std::path::PathBuf;

use net_build::{interface_str, load_interface};

const GOOD: &str = "[interface]\nmac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\ngateway = \"10.0.2.2\"\n\
                    [[socket]]\nname = \"http\"\nowner = \"nobody_here\"\nkind = \"tcp-listen\"\nport = 80\nrx_bytes = 1\ntx_bytes = 1\n";

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("net-build-interface-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_interface_is_read_and_the_sockets_are_left_unchecked() {
    // The socket's owner and sizes would be refused by `load_str`; here they are not read.
    let path = file("good.toml", GOOD);
    let i = load_interface(&path).unwrap();
    assert_eq!(i.mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert_eq!((i.addr, i.prefix_len, i.gateway), ([10, 0, 2, 15], 24, Some([10, 0, 2, 2])));
    let i = interface_str("[interface]\nmac = \"02:00:00:00:00:01\"\naddress = \"192.168.7.9/16\"\n").unwrap();
    assert_eq!((i.addr, i.prefix_len, i.gateway), ([192, 168, 7, 9], 16, None));
    std::fs::remove_file(path).ok();
}

#[test]
fn the_build_rules_for_the_interface_apply_and_name_the_file() {
    for (iface, want) in [
        ("mac = \"52:54:00:12:34\"\naddress = \"10.0.2.15/24\"\n", "six hex bytes"),
        ("mac = \"53:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\n", "multicast"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/31\"\n", "prefix length"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\ngateway = \"10.0.3.2\"\n", "outside"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\ngateway = \"nope\"\n", "not an IPv4"),
        ("mac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\nspeed = 3\n", "unknown field"),
        ("mac = \"52:54:00:12:34:56\"\n", "missing field `address`"),
    ] {
        let path = file("bad.toml", &format!("[interface]\n{iface}"));
        let e = load_interface(&path).unwrap_err().join("\n");
        assert!(e.contains(want), "{want:?} missing from:\n{e}");
        assert!(e.starts_with(&path.display().to_string()), "the error names the file: {e}");
    }
    let e = interface_str("[[socket]]\nname = \"a\"\n").unwrap_err().join("\n");
    assert!(e.contains("missing field `interface`"), "{e}");
    let e = interface_str("[interface]\nmac = \"52:54:00:12:34:56\"\naddress = \"10.0.2.15/24\"\n[routes]\n")
        .unwrap_err()
        .join("\n");
    assert!(e.contains("unknown field `routes`"), "{e}");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let path = std::env::temp_dir().join("net-build-interface-no-such-dir/net.toml");
    let e = load_interface(&path).unwrap_err().join("\n");
    assert!(e.contains("net-build-interface-no-such-dir/net.toml: cannot read"), "{e}");
}
