fn main() {
    microkit_build::generate(&["timer"], "../../system.xml");
}
