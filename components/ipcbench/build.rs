fn main() {
    microkit_build::generate(&["bench_client", "bench_server", "bench_rs", "bench_victim"], "system.xml");
}
