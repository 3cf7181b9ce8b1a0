//! The shell's commands: a line in, a [`Command`] or a message saying what is
//! wrong with it out. Words are separated by spaces; `write FILE TEXT` takes
//! the rest of the line as TEXT.

use alloc::string::String;

use microkit::InjectKind;

/// What `service` does to a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Restart,
    Stop,
    Start,
}

/// A command, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Empty,
    Help,
    Status,
    Uptime,
    Service(Service, &'a str),
    Inject(&'a str, InjectKind),
    Crashes(&'a str),
    Echo(&'a str),
    Ls(&'a str),
    Cat(&'a str),
    Write(&'a str, &'a str),
    Rm(&'a str),
    Mkdir(&'a str),
    Net,
}

/// One line per command, for `help`.
pub const HELP: &str = "\
commands:
  status                          every component: state, generation, restarts, last fault, uptime
  service restart|stop|start NAME manage a component through the reincarnation server
  inject NAME crash|panic|hang|exit
                                  make a component fail (for testing recovery)
  crashes NAME                    the component's last crash records (registers, PC, SP)
  ls [DIR]  cat FILE  write FILE TEXT  rm FILE  mkdir DIR
                                  files on the FAT volume (through vfs; write
                                  answers once the file is on the disk: fsync)
  net                             the network server: addresses, link counters, sockets
  echo TEXT                       print TEXT
  uptime                          time since boot
  help                            this list
keys: Backspace, Ctrl-U (erase the line), Ctrl-C (drop it), Up/Down (history)
";

/// Parses `line`; the error says what is wrong, for the user.
pub fn parse(line: &str) -> Result<Command<'_>, String> {
    let line = line.trim();
    let (word, rest) = match line.split_once(' ') {
        Some((w, r)) => (w, r.trim_start()),
        None => (line, ""),
    };
    let mut args = rest.split_whitespace();
    let none =
        |c: Command<'static>| if rest.is_empty() { Ok(c) } else { Err(alloc::format!("{word}: takes no arguments")) };
    let one = |what: &str| -> Result<&str, String> {
        let mut a = rest.split_whitespace();
        match (a.next(), a.next()) {
            (Some(x), None) => Ok(x),
            _ => Err(alloc::format!("usage: {word} {what}")),
        }
    };
    match word {
        "" => Ok(Command::Empty),
        "help" | "?" => none(Command::Help),
        "status" => none(Command::Status),
        "uptime" => none(Command::Uptime),
        "net" => none(Command::Net),
        "service" => {
            let usage = || String::from("usage: service restart|stop|start NAME");
            let action = match args.next() {
                Some("restart") => Service::Restart,
                Some("stop" | "down") => Service::Stop,
                Some("start" | "up") => Service::Start,
                _ => return Err(usage()),
            };
            match (args.next(), args.next()) {
                (Some(name), None) => Ok(Command::Service(action, name)),
                _ => Err(usage()),
            }
        }
        "inject" => {
            let usage = || String::from("usage: inject NAME crash|panic|hang|exit");
            match (args.next(), args.next(), args.next()) {
                (Some(name), Some(kind), None) => match kind.parse::<InjectKind>() {
                    Ok(k) => Ok(Command::Inject(name, k)),
                    Err(_) => Err(alloc::format!("inject: no fault kind {kind:?}; {}", usage())),
                },
                _ => Err(usage()),
            }
        }
        "crashes" => one("NAME").map(Command::Crashes),
        "echo" => Ok(Command::Echo(rest)),
        "ls" => match (args.next(), args.next()) {
            (None, _) => Ok(Command::Ls("/")),
            (Some(dir), None) => Ok(Command::Ls(dir)),
            _ => Err(String::from("usage: ls [DIR]")),
        },
        "cat" => one("FILE").map(Command::Cat),
        "rm" => one("FILE").map(Command::Rm),
        "mkdir" => one("DIR").map(Command::Mkdir),
        "write" => match rest.split_once(' ') {
            Some((file, text)) if !file.is_empty() => Ok(Command::Write(file, text)),
            _ => Err(String::from("usage: write FILE TEXT")),
        },
        _ => Err(alloc::format!("{word}: no such command (try help)")),
    }
}

/// `path` made absolute (the shell has no working directory: `/` is it).
pub fn absolute(path: &str) -> String {
    if path.starts_with('/') { String::from(path) } else { alloc::format!("/{path}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("  status "), Ok(Command::Status));
        assert_eq!(parse("service restart virtio_blk"), Ok(Command::Service(Service::Restart, "virtio_blk")));
        assert_eq!(parse("service up net"), Ok(Command::Service(Service::Start, "net")));
        assert_eq!(parse("inject virtio_net crash"), Ok(Command::Inject("virtio_net", InjectKind::Crash)));
        assert_eq!(parse("write notes.txt hello  world"), Ok(Command::Write("notes.txt", "hello  world")));
        assert_eq!(parse("ls"), Ok(Command::Ls("/")));
        assert_eq!(parse("echo  a b"), Ok(Command::Echo("a b")));
        assert_eq!(parse(""), Ok(Command::Empty));
        assert_eq!(parse("net"), Ok(Command::Net));
    }

    #[test]
    fn bad_lines_get_a_message() {
        for bad in [
            "frobnicate",
            "status now",
            "service",
            "service kill x",
            "service restart",
            "inject x boom",
            "inject x",
            "crashes",
            "crashes a b",
            "cat",
            "write",
            "write x",
            "ls a b",
            "rm",
            "net sockets",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(!e.is_empty(), "{bad}");
        }
        assert_eq!(absolute("a/b"), "/a/b");
        assert_eq!(absolute("/x"), "/x");
    }
}
