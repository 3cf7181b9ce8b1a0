fn main() {
    microkit_build::generate(&["qserver", "qdriver"], "system.xml");
}
