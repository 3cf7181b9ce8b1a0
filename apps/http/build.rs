//! The program's channels and regions from `system.xml`; its sockets from
//! `net.toml` beside it (the network server's program is `net`).
fn main() {
    microkit_build::generate(&["http"], "../../system.xml");
    net_build::generate_client("http", "net", "../../system.xml");
}
