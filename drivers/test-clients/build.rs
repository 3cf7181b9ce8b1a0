fn main() {
    microkit_build::generate(&["console_client"], "../../system.xml");
}
