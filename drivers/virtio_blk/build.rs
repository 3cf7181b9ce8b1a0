fn main() {
    microkit_build::generate(&["virtio_blk"], "../../system.xml");
}
