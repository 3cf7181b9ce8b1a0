//! Channels and regions from `system.xml`, sockets from `net.toml` beside it.
fn main() {
    microkit_build::generate(&["echo"], "../../system.xml");
    net_build::generate_client("echo", "net", "../../system.xml");
}
