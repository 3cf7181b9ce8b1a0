//! The server is built for one system: its channels from `system.xml`, its
//! clients and their limits from `vfs.toml` beside it.
fn main() {
    vfs_build::generate_server("vfs", "../../system.xml");
}
