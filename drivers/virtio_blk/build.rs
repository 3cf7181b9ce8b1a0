fn main() {
    microkit_build::generate(&["virtio_blk", "blk_client"], "../../system.xml");
}
