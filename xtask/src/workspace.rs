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
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("xtask is not inside the workspace")?
            .to_path_buf();
        let system = if system.is_absolute() {
            system.to_path_buf()
        } else {
            std::env::current_dir()?.join(system)
        };
        Ok(Workspace { root, system })
    }

    /// Loads and validates the system description; every error is printed.
    pub fn load_system(&self) -> Result<SystemDescription, Error> {
        SystemDescription::load(&self.system).map_err(|errors| {
            format!(
                "{} error(s) in {}:\n{errors}",
                errors.len(),
                self.system.display()
            )
            .into()
        })
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
    pub fn build_host(&self, sd: &SystemDescription) -> Result<PathBuf, Error> {
        let programs = sdf::codegen::program_names(sd);
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&self.root)
            .args(["build", "--release", "--quiet"]);
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
