//! The server's clients: each owner of a socket and the data region it shares
//! with the server (net-api's transport), checked as DS checks its clients'
//! buffers.

use sdf::{Perms, SystemDescription};

/// An application of the server, as the system description wires it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The application's PD name.
    pub name: String,
    /// The server's channel id to it (its identity in the server).
    pub channel: u8,
    /// The memory region they share.
    pub region: String,
    /// The name of the server's generated accessor for it (`region::<fn>()`).
    pub region_fn: String,
}

/// The data region of `owner` (whose channel id in `server` is `channel`): the one
/// region both map, read-write on both sides, mapped by nobody else (a region is
/// at least a page, which the system description checks). Every problem goes
/// to `errors`.
pub(crate) fn client(
    sd: &SystemDescription,
    server: &str,
    owner: &str,
    channel: u8,
    errors: &mut Vec<String>,
) -> Option<Client> {
    data_region(sd, server, owner, channel, "net-api", errors)
}

/// The same check for another server's protocol (`api` names it in messages):
/// used by the file system server's `vfs-build`.
pub fn data_region(
    sd: &SystemDescription,
    server: &str,
    owner: &str,
    channel: u8,
    api: &str,
    errors: &mut Vec<String>,
) -> Option<Client> {
    let (Some(s), Some(o)) = (sd.pd(server), sd.pd(owner)) else { return None };
    let here = format!("the data region of {owner} ({api})");
    let shared: Vec<&sdf::Map> = s.maps.iter().filter(|m| o.maps.iter().any(|p| p.mr == m.mr)).collect();
    let map = match shared[..] {
        [map] => map,
        [] => {
            errors.push(format!("{here}: {server} and {owner} map no region in common; the data region must be one"));
            return None;
        }
        _ => {
            let names: Vec<&str> = shared.iter().map(|m| m.mr.as_str()).collect();
            errors.push(format!(
                "{here}: {server} and {owner} map several regions in common ({}); the data region must be the only one",
                names.join(", ")
            ));
            return None;
        }
    };
    let before = errors.len();
    let rw = |p: Perms| p.read && p.write;
    if s.maps.iter().chain(&o.maps).filter(|m| m.mr == map.mr).any(|m| !rw(m.perms)) {
        errors.push(format!("{here}: `{}` must be mapped rw by both {server} and {owner}", map.mr));
    }
    if s.maps.iter().filter(|m| m.mr == map.mr).count() > 1 {
        errors.push(format!("{here}: {server} maps `{}` more than once", map.mr));
    }
    let others: Vec<String> = sd
        .all_pds()
        .into_iter()
        .filter(|r| r.pd.name != server && r.pd.name != owner && r.pd.maps.iter().any(|m| m.mr == map.mr))
        .map(|r| r.pd.name.clone())
        .collect();
    if !others.is_empty() {
        errors.push(format!(
            "{here}: `{}` is also mapped by {}; it must be private to the two",
            map.mr,
            others.join(", ")
        ));
    }
    let region_fn = sdf::codegen::fn_name(&map.mr);
    (errors.len() == before).then(|| Client { name: owner.to_string(), channel, region: map.mr.clone(), region_fn })
}
