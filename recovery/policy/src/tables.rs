//! The tables RS is compiled with, derived from `system.xml` and the policies:
//! who its children are, their heartbeat channels and policies, whom to inform
//! or restart with each, and which server may complain about which driver.
//!
//! A *dependant* of a component is any other PD with a channel to it. RS reaches
//! a dependant on its *service channel*: a channel between RS and the dependant
//! on which the dependant may call RS (complaints), other than an admin
//! channel. Informing a dependant is a notification on that channel.
//!
//! An *admin channel* is a PD's channel to RS with id `sdf::codegen::ADMIN_ID`
//! on the PD's side, on which it may call: RS serves its admin interface
//! (`rs_api::RsAdmin`) there and nowhere else.

use std::fmt::Write as _;

use sdf::SystemDescription;

use crate::Policy;
use crate::load::to_rust;

/// The tables of the system at `system` (loaded as `sd`), with the policies
/// from the `policies/` directory beside it. For build scripts; errors are
/// ready to print, one per line.
pub fn for_system(system: &std::path::Path, sd: &SystemDescription) -> Result<String, Vec<String>> {
    let dir = system.parent().unwrap_or(std::path::Path::new(".")).join("policies");
    let policies = crate::load::load_dir(&dir, sd, "rs")?;
    rs_tables(sd, "rs", &policies).map_err(|e| vec![format!("{}: {e}", system.display())])
}

/// For build scripts: writes the tables of the system at `system` to `out`
/// (`include!` it); stops the build with every policy error.
pub fn write_for_system(system: &std::path::Path, sd: &SystemDescription, out: &std::path::Path) {
    let policies = system.parent().unwrap_or(std::path::Path::new(".")).join("policies");
    println!("cargo:rerun-if-changed={}", policies.display());
    let tables = for_system(system, sd).unwrap_or_else(|errors| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        panic!("{} recovery policy error(s) above", errors.len())
    });
    if let Err(e) = std::fs::write(out, tables) {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// Rust source defining `N` and `TABLES: rs::Tables<N>` (and its parts as
/// `NAMES`, `CHILDREN`, `HEARTBEAT`, `POLICIES`, `INFORM`, `ESCALATE`,
/// `COMPLAINTS`) for the supervisor PD `rs`. `policies` are in
/// the order `system.xml` declares the children (as [`crate::load::load_dir`]
/// returns them).
pub fn rs_tables(sd: &SystemDescription, rs: &str, policies: &[(String, Policy)]) -> Result<String, String> {
    let sup = sd.pd(rs).ok_or_else(|| format!("no protection domain `{rs}`"))?;
    let children = &sup.children;
    if children.len() != policies.len() || children.iter().zip(policies).any(|(c, (n, _))| c.name != *n) {
        return Err("policies do not match the children of the supervisor".into());
    }
    let n = children.len();
    let rs_channels = sd.channels_of(rs);
    // RS-side id of the service channel of `pd`.
    let is_admin = |c: &sdf::ChannelEnd| c.peer_id == sdf::codegen::ADMIN_ID && c.peer_can_ppcall;
    let service =
        |pd: &str| rs_channels.iter().filter(|c| c.peer == pd && c.peer_can_ppcall && !is_admin(c)).map(|c| c.id).min();
    let index = |pd: &str| children.iter().position(|c| c.name == pd);

    let mut out = String::new();
    let _ = writeln!(out, "/// Number of supervised components.\npub const N: usize = {n};");
    let names: Vec<String> = children.iter().map(|c| format!("{:?}", c.name)).collect();
    let _ = writeln!(out, "pub const NAMES: [&str; N] = [{}];", names.join(", "));
    let ids: Vec<String> =
        children.iter().map(|c| format!("::microkit::Child::new({})", c.id.unwrap_or_default())).collect();
    let _ = writeln!(out, "pub const CHILDREN: [::microkit::Child; N] = [{}];", ids.join(", "));
    let hb: Vec<String> = children
        .iter()
        .map(|c| match sdf::codegen::supervision_channel(sd, &c.name, rs) {
            Some(end) => format!("Some(::microkit::Channel::new({}))", end.peer_id),
            None => "None".into(),
        })
        .collect();
    let _ = writeln!(out, "pub const HEARTBEAT: [Option<::microkit::Channel>; N] = [{}];", hb.join(", "));
    for (c, (_, p)) in children.iter().zip(policies) {
        if p.heartbeat_period_ns != 0 && sdf::codegen::supervision_channel(sd, &c.name, rs).is_none() {
            return Err(format!(
                "the policy of `{}` has heartbeats, but `{}` has no supervision channel to `{rs}` \
                 (a channel with id {} on its side, on which both may notify and neither calls)",
                c.name,
                c.name,
                sdf::codegen::SUPERVISION_ID
            ));
        }
    }
    let _ = writeln!(out, "pub const POLICIES: [::recovery_policy::Policy; N] = {};", to_rust(policies));
    let priorities: Vec<String> = children.iter().map(|c| c.priority.to_string()).collect();
    let _ = writeln!(out, "pub const PRIORITIES: [u8; N] = [{}];", priorities.join(", "));

    let mut inform = Vec::new();
    let mut escalate = Vec::new();
    let mut complaints = Vec::new();
    for c in children {
        let mut informed = Vec::new();
        let mut restarted = Vec::new();
        for end in sd.channels_of(&c.name) {
            if end.peer == rs {
                continue;
            }
            if let Some(s) = service(&end.peer) {
                if !informed.contains(&s) {
                    informed.push(s);
                }
                // The dependant may complain about `c`, naming its own channel.
                let me = index(&c.name).unwrap_or_default();
                complaints.push(format!(
                    "::rs::Complaint {{ service: ::microkit::Channel::new({s}), their_channel: {}, about: ::rs::ComponentId::new({me}) }}",
                    end.peer_id
                ));
            }
            if let Some(j) = index(&end.peer)
                && !restarted.contains(&j)
            {
                restarted.push(j);
            }
        }
        let informed: Vec<String> = informed.iter().map(|s| format!("::microkit::Channel::new({s})")).collect();
        inform.push(format!("&[{}]", informed.join(", ")));
        let restarted: Vec<String> = restarted.iter().map(|j| format!("::rs::ComponentId::new({j})")).collect();
        escalate.push(format!("&[{}]", restarted.join(", ")));
    }
    let _ = writeln!(
        out,
        "/// RS-side service channels of each component's dependants.\npub const INFORM: [&[::microkit::Channel]; N] = [{}];",
        inform.join(", ")
    );
    let _ = writeln!(
        out,
        "/// Components restarted with each one when its policy escalates.\npub const ESCALATE: [&[::rs::ComponentId]; N] = [{}];",
        escalate.join(", ")
    );
    let _ = writeln!(
        out,
        "/// Who may complain about which component, and how they name it.\n\
         pub const COMPLAINTS: &[::rs::Complaint] = &[{}];",
        complaints.join(", ")
    );
    let timer = rs_channels
        .iter()
        .filter(|c| c.peer == "timer" && c.can_ppcall)
        .map(|c| c.id)
        .min()
        .ok_or_else(|| format!("`{rs}` needs a channel to the PD `timer` on which it may call (pp) the timer"))?;
    // The data store, if there is one: RS calls it and shares a buffer with it.
    let ds = match rs_channels.iter().filter(|c| c.peer == "ds" && c.can_ppcall).map(|c| c.id).min() {
        None => "None".to_string(),
        Some(ch) => {
            let ds_maps: Vec<&str> =
                sd.pd("ds").map(|d| d.maps.iter().map(|m| m.mr.as_str()).collect()).unwrap_or_default();
            let buffer = sup
                .maps
                .iter()
                .find(|m| ds_maps.contains(&m.mr.as_str()))
                .ok_or_else(|| format!("`{rs}` calls `ds` but maps no buffer region that `ds` maps too"))?;
            format!("Some((::microkit::Channel::new({ch}), crate::region::{}))", sdf::codegen::fn_name(&buffer.mr))
        }
    };
    // Admin channels (RS's ends), and every PD of the system as RS knows it.
    let admin: Vec<String> =
        rs_channels.iter().filter(|c| is_admin(c)).map(|c| format!("::microkit::Channel::new({})", c.id)).collect();
    let _ = writeln!(
        out,
        "/// RS's ends of the admin channels.\npub const ADMIN: &[::microkit::Channel] = &[{}];",
        admin.join(", ")
    );
    let pds: Vec<String> = sd
        .all_pds()
        .iter()
        .map(|r| {
            let name = &r.pd.name;
            let role = match index(name) {
                Some(i) => format!("::rs::Role::Supervised(::rs::ComponentId::new({i}))"),
                None if name == rs => "::rs::Role::Rs".into(),
                None if name == "timer" => "::rs::Role::Timer".into(),
                None if name == "ds" => "::rs::Role::Ds".into(),
                None => "::rs::Role::Other".into(),
            };
            format!("::rs::PdRow {{ name: {name:?}, role: {role} }}")
        })
        .collect();
    let _ = writeln!(
        out,
        "/// Every PD of the system, in `system.xml` order, as RS knows it.\npub const PDS: &[::rs::PdRow] = &[{}];",
        pds.join(", ")
    );
    let _ = writeln!(
        out,
        "pub const TABLES: ::rs::Tables<N> = ::rs::Tables {{ names: NAMES, children: CHILDREN, heartbeat: HEARTBEAT, \
         policies: POLICIES, priorities: PRIORITIES, inform: INFORM, escalate: ESCALATE, complaints: COMPLAINTS, \
         timer: ::microkit::Channel::new({timer}), ds: {ds}, admin: ADMIN, pds: PDS }};"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actions, OnFailure, WhenBudgetSpent};
    use std::path::Path;

    fn policy(hb: u64) -> Policy {
        Policy {
            budget: 1,
            window_ns: 1,
            backoff_first_ns: 0,
            backoff_max_ns: 0,
            stable_ns: 10_000_000_000,
            heartbeat_period_ns: hb,
            heartbeat_misses: 1,
            actions: Actions { on_failure: OnFailure::Restart, ..Actions::default() },
            when_budget_spent: WhenBudgetSpent::Stop,
        }
    }

    const XML: &str = r#"<system>
        <protection_domain name="rs" priority="200">
            <program_image path="rs.elf" />
            <protection_domain name="blk" id="3" priority="150"><program_image path="blk.elf" /></protection_domain>
            <protection_domain name="vfs" id="1" priority="100"><program_image path="vfs.elf" /></protection_domain>
        </protection_domain>
        <channel><end pd="rs" id="10" /><end pd="blk" id="61" /></channel>
        <channel><end pd="rs" id="11" /><end pd="vfs" id="61" /></channel>
        <channel><end pd="rs" id="20" /><end pd="vfs" id="5" pp="true" /></channel>
        <channel><end pd="vfs" id="2" pp="true" /><end pd="blk" id="1" /></channel>
        <channel><end pd="rs" id="0" pp="true" /><end pd="timer" id="1" /></channel>
        <protection_domain name="timer" priority="254"><program_image path="timer.elf" /></protection_domain>
    </system>"#;

    #[test]
    fn tables_for_a_driver_and_its_server() {
        let sd = SystemDescription::parse(Path::new("s.xml"), XML).unwrap();
        let t = rs_tables(&sd, "rs", &[("blk".into(), policy(1)), ("vfs".into(), policy(0))]).unwrap();
        assert!(t.contains("pub const NAMES: [&str; N] = [\"blk\", \"vfs\"];"), "{t}");
        assert!(t.contains("[::microkit::Child::new(3), ::microkit::Child::new(1)]"), "{t}");
        assert!(t.contains("HEARTBEAT: [Option<::microkit::Channel>; N] = [Some(::microkit::Channel::new(10)), Some(::microkit::Channel::new(11))]"), "{t}");
        // vfs depends on blk: informed on RS channel 20, restarted on escalation,
        // and may complain naming its channel 2.
        assert!(t.contains("INFORM: [&[::microkit::Channel]; N] = [&[::microkit::Channel::new(20)], &[]];"), "{t}");
        assert!(
            t.contains(
                "ESCALATE: [&[::rs::ComponentId]; N] = [&[::rs::ComponentId::new(1)], &[::rs::ComponentId::new(0)]];"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "COMPLAINTS: &[::rs::Complaint] = &[::rs::Complaint { service: ::microkit::Channel::new(20), \
                 their_channel: 2, about: ::rs::ComponentId::new(0) }];"
            ),
            "{t}"
        );
        assert!(t.contains("timer: ::microkit::Channel::new(0), ds: None, admin: ADMIN, pds: PDS };"), "{t}");
    }

    #[test]
    fn admin_channels_are_not_service_channels() {
        // vfs also gets an admin channel (id 60 on its side): RS serves its
        // admin interface there, and still informs vfs on its service channel.
        let xml = XML.replace(
            "</system>",
            r#"<channel><end pd="rs" id="30" /><end pd="vfs" id="60" pp="true" /></channel></system>"#,
        );
        let sd = SystemDescription::parse(Path::new("s.xml"), &xml).unwrap();
        let t = rs_tables(&sd, "rs", &[("blk".into(), policy(1)), ("vfs".into(), policy(0))]).unwrap();
        assert!(t.contains("pub const ADMIN: &[::microkit::Channel] = &[::microkit::Channel::new(30)];"), "{t}");
        assert!(t.contains("INFORM: [&[::microkit::Channel]; N] = [&[::microkit::Channel::new(20)], &[]];"), "{t}");
        assert!(t.contains("::rs::PdRow { name: \"rs\", role: ::rs::Role::Rs }"), "{t}");
        assert!(
            t.contains("::rs::PdRow { name: \"blk\", role: ::rs::Role::Supervised(::rs::ComponentId::new(0)) }"),
            "{t}"
        );
        assert!(t.contains("::rs::PdRow { name: \"timer\", role: ::rs::Role::Timer }"), "{t}");
        // Without it, no admin channel.
        let sd = SystemDescription::parse(Path::new("s.xml"), XML).unwrap();
        let t = rs_tables(&sd, "rs", &[("blk".into(), policy(1)), ("vfs".into(), policy(0))]).unwrap();
        assert!(t.contains("pub const ADMIN: &[::microkit::Channel] = &[];"), "{t}");
    }

    #[test]
    fn rs_needs_the_timer() {
        let xml = XML.replace(r#"<channel><end pd="rs" id="0" pp="true" /><end pd="timer" id="1" /></channel>"#, "");
        let sd = SystemDescription::parse(Path::new("s.xml"), &xml).unwrap();
        let e = rs_tables(&sd, "rs", &[("blk".into(), policy(1)), ("vfs".into(), policy(0))]).unwrap_err();
        assert!(e.contains("needs a channel to the PD `timer`"), "{e}");
    }

    #[test]
    fn heartbeats_need_a_supervision_channel() {
        let xml = XML.replace(r#"<channel><end pd="rs" id="10" /><end pd="blk" id="61" /></channel>"#, "");
        let sd = SystemDescription::parse(Path::new("s.xml"), &xml).unwrap();
        let e = rs_tables(&sd, "rs", &[("blk".into(), policy(5)), ("vfs".into(), policy(0))]).unwrap_err();
        assert!(e.contains("`blk` has no supervision channel to `rs`"), "{e}");
    }
}
