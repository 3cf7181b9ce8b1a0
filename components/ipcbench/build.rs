fn main() {
    microkit_build::generate(&["bench_client", "bench_server"], "system.xml");
}
