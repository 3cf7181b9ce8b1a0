//! The workspace: where things are, loading the system description, building
//! the PD programs it names.

use std::path::{Path, PathBuf};
use std::process::Command;

use sdf::SystemDescription;

pub type Error = Box<dyn std::error::Error>;

pub struct Workspace {
    /// The workspace root.
    pub root: PathBuf,
    /// The system description in use (absolute).
    pub system: PathBuf,
}

impl Workspace {
    pub fn locate(system: &Path) -> Result<Workspace, Error> {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("xtask is not inside the workspace")?.to_path_buf();
        let system = if system.is_absolute() { system.to_path_buf() } else { std::env::current_dir()?.join(system) };
        Ok(Workspace { root, system })
    }

    /// Loads and validates the system description; every error is printed.
    pub fn load_system(&self) -> Result<SystemDescription, Error> {
        SystemDescription::load(&self.system)
            .map_err(|errors| format!("{} error(s) in {}:\n{errors}", errors.len(), self.system.display()).into())
    }

    /// The environment a PD build needs to read this system description.
    pub fn system_env(&self) -> Option<(&'static str, &Path)> {
        // Only set it when it differs from the default, so that plain `cargo build`
        // and `cargo xtask` share build results.
        let default = self.root.join("system.xml");
        (self.system != default).then_some(("REINCARNATE_SYSTEM", self.system.as_path()))
    }

    /// Builds the host binary of every program in the system (release);
    /// returns the directory holding them.
    /// The workspace packages that hold `programs` (binaries), so a build selects
    /// only them: building `--bin`s alone would resolve features for every member,
    /// and host-only crates (the host kernel, xtask) would switch on `std`
    /// features of dependencies the seL4 PDs share (bitflags via rustix).
    pub fn packages_of(&self, programs: &[String]) -> Result<Vec<String>, Error> {
        let manifest = std::fs::read_to_string(self.root.join("Cargo.toml"))?;
        let members = manifest
            .split("members = [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .ok_or("no [workspace] members in Cargo.toml")?;
        let mut out = Vec::new();
        for member in members.split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty()) {
            let dir = self.root.join(member);
            let Ok(toml) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
            let name = toml
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')))
                .unwrap_or_default()
                .to_string();
            let holds = |p: &String| {
                dir.join("src/bin").join(format!("{p}.rs")).is_file()
                    || (*p == name && dir.join("src/main.rs").is_file())
            };
            if programs.iter().any(holds) && !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }

    pub fn build_host(&self, sd: &SystemDescription) -> Result<PathBuf, Error> {
        let programs = sdf::codegen::program_names(sd);
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&self.root).args(["build", "--release", "--quiet"]);
        for p in self.packages_of(&programs)? {
            cmd.args(["-p", &p]);
        }
        for p in &programs {
            cmd.args(["--bin", p]);
        }
        if let Some((k, v)) = self.system_env() {
            cmd.env(k, v);
        }
        let status = cmd.status()?;
        if !status.success() {
            return Err(format!("building {} failed", programs.join(", ")).into());
        }
        Ok(self.root.join("target").join("release"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime's `test-support` feature (a safe write to any address) is for
    /// test PDs: no program of the product system may be built with it. Checked
    /// as `cargo xtask build` builds them: the packages that hold system.xml's
    /// programs, selected together, feature resolution and all.
    #[test]
    fn no_program_of_system_xml_is_built_with_test_support() {
        let ws = Workspace::locate(Path::new("system.xml")).unwrap();
        let ws = Workspace { system: ws.root.join("system.xml"), ..ws };
        let sd = ws.load_system().unwrap();
        let packages = ws.packages_of(&sdf::codegen::program_names(&sd)).unwrap();
        assert!(packages.len() >= 8, "system.xml's programs are in {packages:?}");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&ws.root).args(["tree", "--quiet", "-i", "microkit", "--depth", "0", "-f", "{f}"]);
        for p in &packages {
            cmd.args(["-p", p]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
        let features = String::from_utf8(out.stdout).unwrap();
        assert!(!features.contains("test-support"), "microkit is built with {features:?} for {packages:?}");
        // The check sees the feature where a test PD enables it.
        let out = Command::new(env!("CARGO"))
            .current_dir(&ws.root)
            .args(["tree", "--quiet", "-i", "microkit", "--depth", "0", "-f", "{f}", "-p", "host-tests"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("test-support"));
    }
}
