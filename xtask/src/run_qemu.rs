//! `cargo xtask run --target qemu`: the system on seL4, booted on QEMU.

use std::io::IsTerminal;
use std::time::Duration;

use crate::inject::Injection;
use crate::qemu::{self, Qemu};
use crate::sel4::{self, KernelConfig};
use crate::workspace::{Error, Workspace};

pub fn run(
    ws: &Workspace,
    run_for: Option<Duration>,
    inject: &[Injection],
    config: KernelConfig,
    devices: &crate::devices::DeviceArgs,
) -> Result<(), Error> {
    let sd = ws.load_system()?;
    let opts = sel4::Options { config, inject: inject.to_vec() };
    let image = sel4::image(ws, &sd, &opts)?;
    devices.write_qemu_args(&ws.root, &sd, &image)?;
    if !inject.is_empty() {
        println!(
            "[xtask] the injection schedule is compiled into the PDs; the reincarnation server carries it \
             out (times count from its start)"
        );
    }
    let Some(run_for) = run_for else {
        if devices.console == "stdio" && std::io::stdin().is_terminal() {
            // The shell gets the terminal; the debug serial a log.
            let log = ws.root.join("target").join("qemu-serial.log");
            println!(
                "[xtask] booting {} on {}: the shell is on this terminal (type help); the PDs' lines go to {} (tail -f it); Ctrl-C quits",
                image.display(),
                qemu::QEMU,
                log.display()
            );
            return qemu::interactive_shell(&image, &log);
        }
        println!("[xtask] booting {} on {} (Ctrl-A X quits)", image.display(), qemu::QEMU);
        return qemu::interactive(&image);
    };
    let mut qemu = Qemu::spawn(&image, true)?;
    if qemu.run_until(run_for, |_| false) == qemu::Outcome::Exited {
        println!("[xtask] QEMU ended before {run_for:?}");
    }
    qemu.stop();
    let mut log = crate::crashes::Log::create(ws, crate::crashes::Target::Qemu, image.parent().unwrap_or(&ws.root))?;
    for line in &qemu.console {
        log.line(&line.text);
    }
    let pds: Vec<String> = sd.all_pds().iter().map(|r| r.pd.name.clone()).collect();
    let (rows, errors) = crate::status::from_console(&pds, qemu.console.iter().map(|l| l.text.as_str()));
    for e in errors {
        println!("[xtask] malformed status line {e}");
    }
    print!("\n{}", crate::status::table(&rows));
    Ok(())
}
