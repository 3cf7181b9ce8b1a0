fn main() {
    microkit_build::generate(&["blk_client", "console_client"], "../../system.xml");
}
