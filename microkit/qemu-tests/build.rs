fn main() {
    microkit_build::generate(&["test_supervisor", "test_counter", "test_panicker"], "system.xml");
}
