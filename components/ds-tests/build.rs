fn main() {
    microkit_build::generate(
        &["dstest_rs", "dstest_alice", "dstest_bob", "dstest_mallory", "dstest_phoenix"],
        "system.xml",
    );
    ds_build::generate("dstest_ds", "system.xml");
}
