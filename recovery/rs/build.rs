fn main() {
    microkit_build::generate(&["rs"], "../../system.xml");
}
