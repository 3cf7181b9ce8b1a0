//! blk_bench takes vfs's place in `system.xml` (the same channels and
//! mappings): its constants are vfs's.
fn main() {
    microkit_build::generate_stand_in("blk_bench", "vfs", "../../system.xml");
}
