fn main() {
    ds_build::generate("ds", "../../system.xml");
}
