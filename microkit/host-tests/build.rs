fn main() {
    microkit_build::generate(&["supervisor", "prober", "fresh", "ipc_client", "ipc_server", "injectee"], "system.xml");
    // The fast-IPC forging and mid-call death scenarios, a system of their own.
    microkit_build::generate_fixed(
        &["peer_writer", "forger", "forge_caller", "forge_server", "crash_callee", "doomed_caller"],
        "forging.xml",
    );
    // Two spinners, for the scheduling test.
    microkit_build::generate_fixed(&["spinner"], "sched.xml");
}
