fn main() {
    microkit_build::generate(&["pong"], "../../system.xml");
}
