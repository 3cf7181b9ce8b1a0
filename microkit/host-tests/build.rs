fn main() {
    microkit_build::generate(&["supervisor", "prober", "fresh", "ipc_client", "ipc_server", "injectee"], "system.xml");
}
