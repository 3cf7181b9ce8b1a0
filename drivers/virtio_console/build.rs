fn main() {
    microkit_build::generate(&["virtio_console"], "../../system.xml");
}
