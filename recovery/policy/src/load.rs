//! Reading `policies/*.toml` at build time, checked against the system
//! description: every child of the supervisor has exactly one policy, and every
//! policy names a child of the supervisor. Errors name the file and say what to
//! change; all of them are reported at once.
//!
//! ```toml
//! # policies/counter.toml: the policy of the component `counter`
//! [restart]
//! budget = 5              # restarts allowed ...
//! window = "10s"          # ... within this window
//! backoff_first = "10ms"  # backoff before the 2nd restart in a row, doubling
//! backoff_max = "1s"      # up to this
//! stable = "500ms"        # optional: a failure this long after the last restart
//!                         # starts the backoff over (default: the window)
//!
//! [heartbeat]             # optional: without it, faults and complaints only
//! period = "100ms"
//! misses = 3
//!
//! [on_failure]
//! actions = ["log", "record", "restart", "inform"]  # or "stop" instead of "restart"
//! when_budget_spent = "stop"                       # or "escalate"
//! ```

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::{Actions, MAX_BUDGET, OnFailure, Policy, WhenBudgetSpent};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    restart: Restart,
    heartbeat: Option<Heartbeat>,
    on_failure: OnFailureTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Restart {
    budget: u32,
    window: String,
    backoff_first: String,
    backoff_max: String,
    stable: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Heartbeat {
    period: String,
    misses: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnFailureTable {
    actions: Vec<Action>,
    when_budget_spent: Spent,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Action {
    Log,
    Record,
    Restart,
    Stop,
    Inform,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Spent {
    Stop,
    Escalate,
}

fn duration(field: &str, text: &str) -> Result<u64, String> {
    let d: Duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{field}`: {text:?} is not a duration ({e}); write e.g. \"100ms\" or \"10s\""))?;
    u64::try_from(d.as_nanos()).map_err(|_| format!("`{field}`: {text:?} is too long"))
}

/// Parses and checks one policy file's text.
pub fn parse(text: &str) -> Result<Policy, Vec<String>> {
    let file: File = toml::from_str(text).map_err(|e| vec![e.to_string().trim_end().replace('\n', " ")])?;
    let mut errors = Vec::new();
    let mut ns = |field: &str, text: &str| {
        duration(field, text).unwrap_or_else(|e| {
            errors.push(e);
            0
        })
    };
    let window_ns = ns("restart.window", &file.restart.window);
    let backoff_first_ns = ns("restart.backoff_first", &file.restart.backoff_first);
    let backoff_max_ns = ns("restart.backoff_max", &file.restart.backoff_max);
    let stable_ns = file.restart.stable.as_ref().map_or(window_ns, |t| ns("restart.stable", t));
    let (heartbeat_period_ns, heartbeat_misses) = match &file.heartbeat {
        Some(h) => (ns("heartbeat.period", &h.period), h.misses),
        None => (0, 0),
    };
    let (mut log, mut record, mut restart, mut stop, mut inform) = (false, false, false, false, false);
    for a in &file.on_failure.actions {
        match a {
            Action::Log => log = true,
            Action::Record => record = true,
            Action::Restart => restart = true,
            Action::Stop => stop = true,
            Action::Inform => inform = true,
        }
    }
    if !(1..=MAX_BUDGET).contains(&file.restart.budget) {
        errors.push(format!("`restart.budget` must be 1 to {MAX_BUDGET}, not {}", file.restart.budget));
    }
    if window_ns == 0 && errors.is_empty() {
        errors.push("`restart.window` must be longer than 0".into());
    }
    if backoff_first_ns > backoff_max_ns {
        errors.push("`restart.backoff_first` must not exceed `restart.backoff_max`".into());
    }
    if file.heartbeat.is_some() {
        if heartbeat_period_ns < 1_000_000 {
            errors.push("`heartbeat.period` must be at least 1ms".into());
        }
        if heartbeat_misses == 0 {
            errors.push("`heartbeat.misses` must be at least 1".into());
        }
    }
    let on_failure = match (restart, stop) {
        (true, false) => Some(OnFailure::Restart),
        (false, true) => Some(OnFailure::Stop),
        (true, true) => {
            errors.push("`on_failure.actions` has both \"restart\" and \"stop\": pick one".into());
            None
        }
        (false, false) => {
            errors.push("`on_failure.actions` needs \"restart\" or \"stop\"".into());
            None
        }
    };
    let Some(on_failure) = on_failure.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    Ok(Policy {
        budget: file.restart.budget,
        window_ns,
        backoff_first_ns,
        backoff_max_ns,
        stable_ns,
        heartbeat_period_ns,
        heartbeat_misses,
        actions: Actions { log, record, on_failure, inform },
        when_budget_spent: match file.on_failure.when_budget_spent {
            Spent::Stop => WhenBudgetSpent::Stop,
            Spent::Escalate => WhenBudgetSpent::Escalate,
        },
    })
}

/// Loads `dir/<child>.toml` for every child of `supervisor`, in the order
/// `system.xml` declares the children (the order of `child::ALL`).
pub fn load_dir(
    dir: &Path,
    sd: &sdf::SystemDescription,
    supervisor: &str,
) -> Result<Vec<(String, Policy)>, Vec<String>> {
    let Some(sup) = sd.pd(supervisor) else {
        return Err(vec![format!("{}: there is no protection domain `{supervisor}`", sd.file.display())]);
    };
    let children: Vec<_> = sup.children.iter().collect();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Err(vec![format!("{}: cannot read the policy directory: {e}", dir.display())]);
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut found = Vec::new();
    for path in &files {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if !children.iter().any(|c| c.name == name) {
            errors.push(format!(
                "{}: `{name}` is not a child of `{supervisor}` in {}; rename the file after a child or remove it",
                path.display(),
                sd.file.display()
            ));
            continue;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        match parse(&text) {
            Ok(p) => found.push((name, p)),
            Err(es) => errors.extend(es.into_iter().map(|e| format!("{}: {e}", path.display()))),
        }
    }
    let mut out = Vec::new();
    for c in &children {
        match found.iter().find(|(n, _)| *n == c.name) {
            Some(entry) => out.push(entry.clone()),
            None if files.iter().any(|p| p.file_stem().is_some_and(|s| s == c.name.as_str())) => {}
            None => errors.push(format!(
                "child `{}` of `{supervisor}` in {} has no recovery policy: add {}",
                c.name,
                sd.file.display(),
                dir.join(format!("{}.toml", c.name)).display()
            )),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The policies as a Rust expression of type `[recovery_policy::Policy; N]`.
pub fn to_rust(policies: &[(String, Policy)]) -> String {
    let mut out = String::from("[\n");
    for (name, p) in policies {
        let a = p.actions;
        let _ = writeln!(
            out,
            "    // {name}\n    ::recovery_policy::Policy {{ budget: {}, window_ns: {}, backoff_first_ns: {}, \
             backoff_max_ns: {}, stable_ns: {}, heartbeat_period_ns: {}, heartbeat_misses: {}, \
             actions: ::recovery_policy::Actions {{ log: {}, record: {}, on_failure: ::recovery_policy::OnFailure::{:?}, \
             inform: {} }}, \
             when_budget_spent: ::recovery_policy::WhenBudgetSpent::{:?} }},",
            p.budget,
            p.window_ns,
            p.backoff_first_ns,
            p.backoff_max_ns,
            p.stable_ns,
            p.heartbeat_period_ns,
            p.heartbeat_misses,
            a.log,
            a.record,
            a.on_failure,
            a.inform,
            p.when_budget_spent
        );
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [restart]
        budget = 5
        window = "10s"
        backoff_first = "10ms"
        backoff_max = "1s"
        [heartbeat]
        period = "100ms"
        misses = 3
        [on_failure]
        actions = ["log", "record", "restart", "inform"]
        when_budget_spent = "escalate"
    "#;

    #[test]
    fn a_full_policy() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.budget, 5);
        assert_eq!(p.window_ns, 10_000_000_000);
        assert_eq!(p.backoff_first_ns, 10_000_000);
        assert_eq!(p.backoff_max_ns, 1_000_000_000);
        assert_eq!(p.stable_ns, p.window_ns, "no `stable`: the window");
        assert_eq!(p.heartbeat_period_ns, 100_000_000);
        assert_eq!(p.heartbeat_misses, 3);
        assert_eq!(p.actions, Actions { log: true, record: true, on_failure: OnFailure::Restart, inform: true });
        assert_eq!(p.when_budget_spent, WhenBudgetSpent::Escalate);
    }

    #[test]
    fn stop_instead_of_restart() {
        let p = parse(&GOOD.replace("\"restart\",", "\"stop\",")).unwrap();
        assert_eq!(p.actions, Actions { log: true, record: true, on_failure: OnFailure::Stop, inform: true });
        let code = to_rust(&[("blk".into(), p)]);
        assert!(code.contains("on_failure: ::recovery_policy::OnFailure::Stop, inform: true"), "{code}");
        // The order of the actions does not matter; "restart" and "stop" still exclude each other.
        assert!(parse(&GOOD.replace("[\"log\", \"record\", \"restart\", \"inform\"]", "[\"restart\"]")).is_ok());
        assert!(err(&GOOD.replace("\"log\",", "\"stop\", \"log\",")).contains("pick one"));
    }

    #[test]
    fn stable_is_optional_and_a_duration() {
        let p =
            parse(&GOOD.replace("backoff_max = \"1s\"", "backoff_max = \"1s\"\n        stable = \"500ms\"")).unwrap();
        assert_eq!(p.stable_ns, 500_000_000);
        assert!(to_rust(&[("nic".into(), p)]).contains("stable_ns: 500000000,"));
        let e = err(&GOOD.replace("backoff_max = \"1s\"", "backoff_max = \"1s\"\n        stable = \"soon\""));
        assert!(e.contains("`restart.stable`"), "{e}");
    }

    #[test]
    fn heartbeat_is_optional() {
        let text = GOOD.replace("[heartbeat]\n        period = \"100ms\"\n        misses = 3\n", "");
        assert_eq!(parse(&text).unwrap().heartbeat_period_ns, 0);
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().join("; ")
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        assert!(err("").contains("missing field `restart`"), "{}", err(""));
        assert!(err(&GOOD.replace("budget = 5", "budget = 0")).contains("`restart.budget` must be 1 to 64"));
        assert!(
            err(&GOOD.replace("\"10s\"", "\"ten seconds\""))
                .contains("`restart.window`: \"ten seconds\" is not a duration")
        );
        assert!(err(&GOOD.replace("\"10ms\"", "\"2s\"")).contains("must not exceed"));
        assert!(err(&GOOD.replace("misses = 3", "misses = 0")).contains("`heartbeat.misses` must be at least 1"));
        assert!(err(&GOOD.replace("\"100ms\"", "\"10us\"")).contains("at least 1ms"));
        assert!(err(&GOOD.replace("\"restart\",", "\"restart\", \"stop\",")).contains("pick one"));
        assert!(err(&GOOD.replace("\"restart\",", "")).contains("needs \"restart\" or \"stop\""));
        assert!(err(&GOOD.replace("\"inform\"", "\"reboot\"")).contains("unknown variant `reboot`"));
        assert!(err(&GOOD.replace("\"escalate\"", "\"panic\"")).contains("unknown variant `panic`"));
        assert!(err(&format!("{GOOD}\n[extra]\nx = 1")).contains("unknown field `extra`"));
    }

    fn system() -> sdf::SystemDescription {
        let xml = r#"<system>
            <protection_domain name="rs" priority="200">
                <program_image path="rs.elf" />
                <protection_domain name="blk" id="1" priority="100"><program_image path="blk.elf" /></protection_domain>
                <protection_domain name="net" id="0" priority="100"><program_image path="net.elf" /></protection_domain>
            </protection_domain>
        </system>"#;
        sdf::SystemDescription::parse(Path::new("system.xml"), xml).unwrap()
    }

    fn dir_with(test: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("policies-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn one_policy_per_child_in_declaration_order() {
        let dir = dir_with("order", &[("net.toml", GOOD), ("blk.toml", GOOD)]);
        let got = load_dir(&dir, &system(), "rs").unwrap();
        assert_eq!(got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["blk", "net"]);
        let code = to_rust(&got);
        assert!(code.contains("// net\n    ::recovery_policy::Policy { budget: 5, window_ns: 10000000000,"), "{code}");
        assert!(code.contains("when_budget_spent: ::recovery_policy::WhenBudgetSpent::Escalate"));
    }

    #[test]
    fn missing_and_stray_policies_are_build_errors() {
        let dir = dir_with("stray", &[("blk.toml", GOOD), ("ghost.toml", GOOD), ("notes.txt", "ignored")]);
        let errors = load_dir(&dir, &system(), "rs").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("ghost.toml: `ghost` is not a child of `rs`"), "{errors:?}");
        assert!(errors[1].contains("child `net` of `rs` in system.xml has no recovery policy: add"), "{errors:?}");
        assert!(errors[1].ends_with("net.toml"));
    }

    #[test]
    fn errors_in_a_file_name_the_file() {
        let dir = dir_with("named", &[("blk.toml", "[restart]\nbudget = 1"), ("net.toml", GOOD), ("x.toml", "")]);
        let errors = load_dir(&dir, &system(), "rs").unwrap_err();
        assert!(errors.iter().any(|e| e.contains("blk.toml: ") && e.contains("missing field")), "{errors:?}");
    }
}
