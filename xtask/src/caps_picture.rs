//! `cargo xtask caps --dot FILE` / `--svg FILE`: the system drawn
//! (`sdf::dot`). SVG needs Graphviz's `dot` on the PATH (`apt-get install
//! graphviz`); without it the DOT text is still written next to FILE and the
//! error says how to draw it.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use sdf::SystemDescription;

use crate::workspace::Error;

pub fn write(sd: &SystemDescription, dot: Option<&Path>, svg: Option<&Path>) -> Result<(), Error> {
    let graph = sdf::dot::graph(sd);
    if let Some(path) = dot {
        std::fs::write(path, &graph)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = svg {
        let mut child = match Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn() {
            Ok(c) => c,
            Err(e) => {
                let fallback = path.with_extension("dot");
                std::fs::write(&fallback, &graph)?;
                return Err(format!(
                    "cannot run Graphviz's `dot` ({e}): install graphviz (apt-get install graphviz) for --svg; \
                     the graph is in {} (`dot -Tsvg {} -o {}` draws it)",
                    fallback.display(),
                    fallback.display(),
                    path.display()
                )
                .into());
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(graph.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("dot failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        std::fs::write(path, &out.stdout)?;
        println!("wrote {} ({} bytes)", path.display(), out.stdout.len());
    }
    Ok(())
}
