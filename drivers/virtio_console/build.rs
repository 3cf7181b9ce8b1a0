fn main() {
    microkit_build::generate(&["virtio_console", "console_client"], "../../system.xml");
}
