fn main() {
    microkit_build::generate(&["counter"], "../../system.xml");
}
