//! The client table and the rules a system must follow for DS to build.
#![forbid(unsafe_code)]

use std::path::Path;

use ds_build::{ClientInfo, clients, render};
use sdf::SystemDescription;

/// A system with DS and the given extra regions, PDs and channels.
fn system(regions: &str, pds: &str, channels: &str) -> SystemDescription {
    let xml = format!(
        r#"<system>
  <memory_region name="ds_alice" size="0x1000" />
  <memory_region name="ds_bob" size="0x1000" />
  {regions}
  <protection_domain name="ds" priority="250">
    <program_image path="ds.elf" />
    <map mr="ds_alice" vaddr="0x5000000" perms="rw" />
    <map mr="ds_bob" vaddr="0x5001000" perms="rw" />
  </protection_domain>
  <protection_domain name="alice" priority="100">
    <program_image path="alice.elf" />
    <map mr="ds_alice" vaddr="0x4000000" perms="rw" />
  </protection_domain>
  <protection_domain name="bob" priority="100">
    <program_image path="bob.elf" />
    <map mr="ds_bob" vaddr="0x4000000" perms="rw" />
  </protection_domain>
  {pds}
  <channel><end pd="alice" id="0" pp="true" /><end pd="ds" id="3" /></channel>
  {channels}
</system>"#
    );
    SystemDescription::parse(Path::new("test.xml"), &xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

fn errors(sd: &SystemDescription) -> String {
    clients(sd, "ds").unwrap_err().join("\n")
}

const BOB_CHANNEL: &str = r#"<channel><end pd="bob" id="0" pp="true" /><end pd="ds" id="5" /></channel>"#;

#[test]
fn each_channel_of_ds_is_a_client_with_its_buffer() {
    let sd = system("", "", BOB_CHANNEL);
    let table = clients(&sd, "ds").unwrap();
    assert_eq!(
        table,
        [
            ClientInfo { id: 3, name: "alice".into(), region: "ds_alice".into(), region_fn: "ds_alice".into() },
            ClientInfo { id: 5, name: "bob".into(), region: "ds_bob".into(), region_fn: "ds_bob".into() },
        ]
    );
    let text = render(&sd, "ds", &table);
    assert!(text.contains(r#"pub const CLIENTS: &[(u8, &str)] = &[(3, "alice"), (5, "bob")];"#), "{text}");
    assert!(
        text.contains(
            r#"5 => Some(::ds::ClientEntry { client: ::ds::Client::new(5, "bob"), buffer: super::region::ds_bob() }),"#
        ),
        "{text}"
    );
}

#[test]
fn a_client_that_cannot_call_is_refused() {
    let sd = system("", "", r#"<channel><end pd="bob" id="0" /><end pd="ds" id="5" /></channel>"#);
    assert!(errors(&sd).contains("set pp=\"true\" on `bob`'s end"), "{}", errors(&sd));
}

#[test]
fn ds_never_calls_and_always_notifies() {
    let sd = system(
        r#"<memory_region name="ds_hi" size="0x1000" />"#,
        r#"<protection_domain name="hi" priority="254"><program_image path="hi.elf" />
             <map mr="ds_hi" vaddr="0x4000000" perms="rw" /></protection_domain>"#,
        r#"<channel><end pd="hi" id="0" /><end pd="ds" id="6" pp="true" notify="false" /></channel>"#,
    );
    let e = errors(&sd);
    assert!(e.contains("never calls anyone"), "{e}");
    assert!(e.contains("must be able to notify"), "{e}");
    assert!(e.contains("test.xml:"), "errors name the file and line: {e}");
}

#[test]
fn a_client_needs_a_buffer_of_its_own() {
    // No region in common.
    let sd = system(
        "",
        r#"<protection_domain name="carol" priority="100"><program_image path="c.elf" /></protection_domain>"#,
        r#"<channel><end pd="carol" id="0" pp="true" /><end pd="ds" id="7" /></channel>"#,
    );
    assert!(errors(&sd).contains("no region in common"), "{}", errors(&sd));

    // Shared with a third PD.
    let sd = system(
        "",
        r#"<protection_domain name="eve" priority="100"><program_image path="eve.elf" />
             <map mr="ds_bob" vaddr="0x4000000" perms="r" /></protection_domain>"#,
        BOB_CHANNEL,
    );
    let e = errors(&sd);
    assert!(e.contains("also mapped by `eve`"), "{e}");
}

#[test]
fn a_read_only_buffer_is_refused() {
    let xml = r#"<system>
  <memory_region name="buf" size="0x1000" />
  <protection_domain name="ds" priority="250"><program_image path="ds.elf" />
    <map mr="buf" vaddr="0x5000000" perms="r" /></protection_domain>
  <protection_domain name="alice" priority="100"><program_image path="alice.elf" />
    <map mr="buf" vaddr="0x4000000" perms="r" /></protection_domain>
  <channel><end pd="alice" id="0" pp="true" /><end pd="ds" id="3" /></channel>
</system>"#;
    let sd = SystemDescription::parse(Path::new("t.xml"), xml).unwrap();
    let e = clients(&sd, "ds").unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("map of `buf` in `ds` must be rw"), "{e:?}");
    assert!(e[1].contains("`alice` must map its buffer `buf` rw"), "{e:?}");
}

#[test]
fn two_regions_in_common_are_ambiguous() {
    let xml = r#"<system>
  <memory_region name="a" size="0x1000" />
  <memory_region name="b" size="0x1000" />
  <protection_domain name="ds" priority="250"><program_image path="ds.elf" />
    <map mr="a" vaddr="0x5000000" perms="rw" /><map mr="b" vaddr="0x5001000" perms="rw" /></protection_domain>
  <protection_domain name="alice" priority="100"><program_image path="alice.elf" />
    <map mr="a" vaddr="0x4000000" perms="rw" /><map mr="b" vaddr="0x4001000" perms="rw" /></protection_domain>
  <channel><end pd="alice" id="0" pp="true" /><end pd="ds" id="3" /></channel>
</system>"#;
    let sd = SystemDescription::parse(Path::new("t.xml"), xml).unwrap();
    assert!(clients(&sd, "ds").unwrap_err()[0].contains("several regions in common (a, b)"));
}

#[test]
fn ds_is_top_level_and_alone() {
    let xml = r#"<system>
  <memory_region name="a" size="0x1000" />
  <protection_domain name="rs" priority="200"><program_image path="rs.elf" />
    <map mr="a" vaddr="0x4000000" perms="rw" />
    <protection_domain name="ds" id="0" priority="250"><program_image path="ds.elf" />
      <map mr="a" vaddr="0x5000000" perms="rw" /></protection_domain>
  </protection_domain>
  <channel><end pd="rs" id="0" pp="true" /><end pd="ds" id="3" /></channel>
</system>"#;
    let sd = SystemDescription::parse(Path::new("t.xml"), xml).unwrap();
    let e = clients(&sd, "ds").unwrap_err();
    assert!(e[0].contains("must be a top-level PD"), "{e:?}");

    let sd = system(
        "",
        r#"<protection_domain name="ds2" priority="250"><program_image path="ds.elf" /></protection_domain>"#,
        "",
    );
    assert!(errors(&sd).contains("a system has one data store"));
    assert!(clients(&sd, "nothing").unwrap_err()[0].contains("no protection domain runs program `nothing`"));
}

#[test]
fn one_channel_per_client() {
    let sd = system("", "", r#"<channel><end pd="alice" id="1" pp="true" /><end pd="ds" id="4" /></channel>"#);
    assert!(errors(&sd).contains("`alice` has a second channel"), "{}", errors(&sd));
}

#[test]
fn client_names_with_dots_are_refused() {
    let xml = r#"<system>
  <memory_region name="a" size="0x1000" />
  <protection_domain name="ds" priority="250"><program_image path="ds.elf" />
    <map mr="a" vaddr="0x5000000" perms="rw" /></protection_domain>
  <protection_domain name="net.driver" priority="100"><program_image path="n.elf" />
    <map mr="a" vaddr="0x4000000" perms="rw" /></protection_domain>
  <channel><end pd="net.driver" id="0" pp="true" /><end pd="ds" id="3" /></channel>
</system>"#;
    let sd = SystemDescription::parse(Path::new("t.xml"), xml).unwrap();
    assert!(clients(&sd, "ds").unwrap_err()[0].contains("must not contain `.`"));
}
