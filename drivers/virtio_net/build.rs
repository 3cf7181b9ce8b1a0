fn main() {
    microkit_build::generate(&["virtio_net", "net_client"], "../../system.xml");
}
