fn main() {
    microkit_build::generate(&["virtio_net"], "../../system.xml");
}
