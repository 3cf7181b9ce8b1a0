//! `cargo xtask crashes [PD]`: the crash records the reincarnation server
//! printed (its `@crash` lines, `rs_api::CrashRecord::line`), with the PC
//! symbolized against the PD's ELF (`crash-report`: addr2line), the registers
//! and the stack around SP.
//!
//! `cargo xtask run` keeps the records in a log as they come: on the host
//! kernel `target/crashes/host.log`, written line by line while the system
//! runs; on QEMU (`--for`) `target/crashes/qemu.log`, written when the run
//! ends. The log's first line names the directory of the ELFs the run used.
//! Any other console log (e.g. a saved interactive QEMU session) is read with
//! `--log FILE` (its ELFs: `build/sel4`, or `--elfs DIR`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use host_kernel::Event;

use crate::workspace::{Error, Workspace};

/// The log's first line: `# elfs DIR`.
const HEADER: &str = "# elfs ";

/// Which run's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Host,
    Qemu,
}

impl Target {
    fn log(self, ws: &Workspace) -> PathBuf {
        ws.root.join("target").join("crashes").join(match self {
            Target::Host => "host.log",
            Target::Qemu => "qemu.log",
        })
    }
}

/// A crash log being written by a run.
pub struct Log {
    file: std::fs::File,
}

impl Log {
    /// Starts the log of a run of `target` whose PD ELFs are in `elfs`.
    pub fn create(ws: &Workspace, target: Target, elfs: &Path) -> Result<Log, Error> {
        let path = target.log(ws);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::File::create(&path)?;
        writeln!(file, "{HEADER}{}", elfs.display())?;
        Ok(Log { file })
    }

    /// Keeps `line` if it is an `@crash` line.
    pub fn line(&mut self, line: &str) {
        if line.contains("@crash ") {
            let _ = writeln!(self.file, "{line}");
            let _ = self.file.flush();
        }
    }

    /// Keeps the `@crash` lines of a running host system, until it ends.
    pub fn follow(mut self, rx: Receiver<Event>) {
        std::thread::spawn(move || {
            for ev in rx {
                if let Event::Output { line, .. } = ev {
                    self.line(&line);
                }
            }
        });
    }
}

/// Prints the last `last` records of `pd` (or of every PD).
pub fn run(
    ws: &Workspace,
    pd: Option<&str>,
    target: Target,
    log: Option<&Path>,
    elfs: Option<&Path>,
    last: usize,
) -> Result<(), Error> {
    let sd = ws.load_system()?;
    if let Some(pd) = pd
        && sd.pd(pd).is_none()
    {
        return Err(format!("no protection domain named {pd:?} in {}", ws.system.display()).into());
    }
    let path = log.map(Path::to_path_buf).unwrap_or_else(|| target.log(ws));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!("cannot read {}: {e} (`cargo xtask run` writes it; `--log FILE` reads a saved console)", path.display())
    })?;
    let logged = text.lines().next().and_then(|l| l.strip_prefix(HEADER)).map(PathBuf::from);
    let default_elfs = match target {
        Target::Host => ws.root.join("target").join("release"),
        Target::Qemu => ws.root.join("build").join("sel4"),
    };
    let dir = elfs.map(Path::to_path_buf).or(logged).unwrap_or(default_elfs);
    let records = crash_report::parse_log(&text);
    let mine: Vec<_> = records.iter().filter(|(name, _)| pd.is_none_or(|p| p == name)).collect();
    if mine.is_empty() {
        println!("no crash records{} in {}", pd.map(|p| format!(" of {p}")).unwrap_or_default(), path.display());
        return Ok(());
    }
    let mut names: Vec<&str> = mine.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    names.sort();
    names.dedup();
    for name in names {
        let of_pd: Vec<_> = mine.iter().filter(|(n, _)| n == name).collect();
        let shown = &of_pd[of_pd.len().saturating_sub(last)..];
        let elf = sd.pd(name).map(|p| elf_path(&dir, &p.program_image, target));
        let elf = elf.filter(|e| e.is_file());
        println!(
            "{name}: {} crash record{} ({} shown, oldest first)",
            of_pd.len(),
            if of_pd.len() == 1 { "" } else { "s" },
            shown.len()
        );
        for (_, record) in shown {
            println!("{}", crash_report::report(name, record, elf.as_deref()));
        }
    }
    Ok(())
}

/// The ELF of program image `image` (`counter.elf`): the host binary `counter`
/// or the seL4 ELF `counter.elf`.
fn elf_path(dir: &Path, image: &str, target: Target) -> PathBuf {
    match target {
        Target::Host => dir.join(image.strip_suffix(".elf").unwrap_or(image)),
        Target::Qemu => dir.join(image),
    }
}
