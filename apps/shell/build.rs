//! Channels and regions from `system.xml`.
fn main() {
    microkit_build::generate(&["shell"], "../../system.xml");
}
