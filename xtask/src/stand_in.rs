//! A benchmark's stand-in: the system with one PD's program image replaced
//! by another program built for that PD's place (`microkit_build::
//! generate_stand_in`: the same channels and maps), so a benchmark measures
//! a driver in the system it runs in, with a different client. The
//! system file is written under `target/bench/`, for the microkit tool.

use std::path::PathBuf;

use sdf::SystemDescription;

use crate::workspace::{Error, Workspace};

/// The text of `system` with the program image of the PD `pd` set to
/// `program` (`<program>.elf`).
fn replace_program(system: &str, pd: &str, program: &str) -> Result<String, Error> {
    let open = format!("<protection_domain name=\"{pd}\"");
    let at = system.find(&open).ok_or_else(|| format!("no protection domain `{pd}`"))?;
    let image = "<program_image path=\"";
    let start = at + system[at..].find(image).ok_or_else(|| format!("`{pd}` has no program image"))? + image.len();
    let end = start + system[start..].find('"').ok_or("an unterminated program image path")?;
    Ok(format!("{}{program}.elf{}", &system[..start], &system[end..]))
}

/// `ws`'s system with `program` in `pd`'s place: the file and its model.
pub fn system(ws: &Workspace, pd: &str, program: &str) -> Result<(PathBuf, SystemDescription), Error> {
    let text = std::fs::read_to_string(&ws.system)?;
    let text = replace_program(&text, pd, program).map_err(|e| format!("{}: {e}", ws.system.display()))?;
    let dir = ws.root.join(crate::bench_net::PLOTS);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("system-{program}-for-{pd}.xml"));
    std::fs::write(&path, text)?;
    let sd = SystemDescription::load(&path)
        .map_err(|errors| format!("{} error(s) in {}:\n{errors}", errors.len(), path.display()))?;
    let image = sd.all_pds().into_iter().find(|r| r.pd.name == pd).map(|r| r.pd.program_image.clone());
    if image.as_deref() != Some(&format!("{program}.elf")) {
        return Err(format!("{}: `{pd}` runs {image:?}, not {program}.elf", path.display()).into());
    }
    Ok((path, sd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_pds_program_is_replaced() {
        let xml = r#"<protection_domain name="vfs_client"><program_image path="a.elf" /></protection_domain>
<protection_domain name="vfs" id="4"><program_image path="vfs.elf" /><map mr="x" /></protection_domain>
<protection_domain name="files"><program_image path="files.elf" /></protection_domain>"#;
        let out = replace_program(xml, "vfs", "blk_bench").unwrap();
        assert_eq!(out, xml.replace("\"vfs.elf\"", "\"blk_bench.elf\""));
        assert!(replace_program(xml, "nobody", "x").is_err());
    }
}
