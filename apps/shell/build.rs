//! Channels and regions from `system.xml`; the network server's declared
//! sockets from `net.toml` beside it (the `net` command).
fn main() {
    microkit_build::generate(&["shell"], "../../system.xml");
    net_build::generate_reader("shell", "net", "../../system.xml");
}
