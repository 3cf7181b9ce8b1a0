fn main() {
    microkit_build::generate(&["ping"], "../../system.xml");
}
