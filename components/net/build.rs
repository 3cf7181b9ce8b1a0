//! The server is built for one system: its channels from `system.xml`, its
//! addresses, sockets and applications from `net.toml` beside it.
fn main() {
    net_build::generate_server("net", "../../system.xml");
}
