//! The main system booted on the host kernel on a FAT32 image made with
//! dosfstools, with `files` (apps/files) writing and reading back through the
//! file system server while the tests make `virtio_blk` fail; afterwards the
//! image is read with mtools and checked with `fsck.fat -n`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// One booted system at a time per test process: each is over a dozen
/// processes on a small machine, and two at once starve each other's
/// heartbeats.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why these tests cannot run here, if they cannot (they print `SKIPPED`).
pub fn unavailable() -> Option<String> {
    for tool in ["mkfs.fat", "mcopy", "fsck.fat"] {
        if Command::new(tool).arg("--help").output().is_err() {
            return Some(format!("{tool} is not installed (ci/setup.sh installs dosfstools and mtools)"));
        }
    }
    None
}

/// What the tests put on the image from outside before boot: (path, content).
pub fn outside_files() -> Vec<(&'static str, Vec<u8>)> {
    files::OUTSIDE
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, format!("put with mtools: file {i}, {p}\n").repeat(i * 40 + 1).into_bytes()))
        .collect()
}

/// A 64 MiB FAT32 image in the temp directory with [`outside_files`] on it.
pub fn fat_image(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("reincarnate-{}-{name}.img", std::process::id()));
    let _ = std::fs::remove_file(&path);
    run(Command::new("mkfs.fat").args(["-F", "32", "-n", "TEST", "-C"]).arg(&path).arg("65536"));
    for (p, content) in outside_files() {
        let tmp = path.with_extension(format!("put{}", p.len()));
        std::fs::write(&tmp, content).unwrap();
        run(Command::new("mcopy").arg("-i").arg(&path).arg(&tmp).arg(format!("::{p}")));
        std::fs::remove_file(tmp).ok();
    }
    path
}

/// Puts `content` on the image as `path` (mtools).
pub fn mtools_put(image: &Path, path: &str, content: &[u8]) {
    let tmp = image.with_extension(format!("put-{}", path.len()));
    std::fs::write(&tmp, content).unwrap();
    run(Command::new("mcopy").arg("-i").arg(image).arg(&tmp).arg(format!("::{path}")));
    std::fs::remove_file(tmp).ok();
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A file of the image, read by mtools.
pub fn mtools_get(image: &Path, path: &str) -> Vec<u8> {
    run(Command::new("mcopy").args(["-n", "-i"]).arg(image).arg(format!("::{path}")).arg("-"))
}

/// `fsck.fat -n` on the image: its output, or a panic with it unless clean.
pub fn fsck_clean(image: &Path) -> String {
    let out = Command::new("fsck.fat").arg("-n").arg(image).output().expect("fsck.fat runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "fsck.fat -n found errors:\n{text}");
    text
}

/// The bytes `files` writes to file `i` in its last round.
pub fn expected(i: usize) -> Vec<u8> {
    let mut v = vec![0u8; files::FILES[i].1];
    files::fill(files::ROUNDS - 1, i, 0, &mut v);
    v
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}
