//! Malformed inputs: each must give its own precise message at the right line.

use std::path::Path;

use sdf::{Error, SystemDescription};

fn errors(xml: &str) -> Vec<Error> {
    match SystemDescription::parse(Path::new("system.xml"), xml) {
        Ok(_) => panic!("expected errors for:\n{xml}"),
        Err(e) => e.0,
    }
}

/// Assert that some error is on `line` and its message contains `needle`.
#[track_caller]
fn expect(xml: &str, line: u32, needle: &str) -> Error {
    let errs = errors(xml);
    match errs.iter().find(|e| e.line == line && e.message.contains(needle)) {
        Some(e) => e.clone(),
        None => {
            let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            panic!("no error at line {line} containing {needle:?}; got:\n{}", all.join("\n"))
        }
    }
}

/// A two-PD system (`a` priority 1, `b` priority 2) plus `extra` from line 4 on.
fn sys(extra: &str) -> String {
    format!(
        "<system>\n\
         <protection_domain name=\"a\" priority=\"1\"><program_image path=\"a.elf\"/></protection_domain>\n\
         <protection_domain name=\"b\" priority=\"2\"><program_image path=\"b.elf\"/></protection_domain>\n\
         {extra}\n\
         </system>"
    )
}

/// A PD `p` with `body` on line 3, plus a region `m` (0x1000) and `big` (2 MiB pages).
fn pd_with(attrs: &str, body: &str) -> String {
    format!(
        "<system>\n\
         <protection_domain name=\"p\" {attrs}><program_image path=\"p.elf\"/>\n\
         {body}\n\
         </protection_domain>\n\
         <memory_region name=\"m\" size=\"0x1000\"/>\n\
         <memory_region name=\"big\" size=\"0x200000\" page_size=\"0x200000\"/>\n\
         </system>"
    )
}

#[test]
fn xml_syntax_error_stops_parsing() {
    let errs = errors("<system>\n<protection_domain name=\"a\">\n</system>");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 3);
    assert!(errs[0].message.starts_with("XML syntax error"), "{}", errs[0]);
    assert_eq!(errs[0].element, "");
}

#[test]
fn root_must_be_system() {
    let e = expect("\n<systen/>", 2, "the root element must be <system>, not <systen>");
    assert_eq!(e.element, "systen");
}

#[test]
fn unknown_element_is_named() {
    expect(&sys("<memory_regoin name=\"m\" size=\"0x1000\"/>"), 4, "unknown element <memory_regoin> inside <system>");
    expect(&pd_with("", "<mapp mr=\"m\" vaddr=\"0x1000\"/>"), 3, "unknown element <mapp> inside <protection_domain>");
    expect(
        &sys("<channel><end pd=\"a\" id=\"1\"/><start pd=\"b\" id=\"1\"/></channel>"),
        4,
        "unknown element <start> inside <channel>",
    );
}

#[test]
fn unknown_attribute_is_named() {
    let e = expect(
        &pd_with("", "<map mr=\"m\" vaddr=\"0x1000\" colour=\"red\"/>"),
        3,
        "unknown attribute 'colour' on <map>",
    );
    assert_eq!(e.element, "map");
    assert_eq!(e.column, 28, "points at the attribute");
    expect(&pd_with("smc=\"true\"", ""), 2, "unknown attribute 'smc' on <protection_domain>");
}

#[test]
fn missing_required_attribute() {
    let e = expect(&pd_with("", "<map mr=\"m\"/>"), 3, "missing required attribute 'vaddr'");
    assert_eq!(e.element, "map");
    expect(&sys("<memory_region size=\"0x1000\"/>"), 4, "missing required attribute 'name'");
    expect(&sys("<channel><end id=\"1\"/><end pd=\"b\" id=\"1\"/></channel>"), 4, "missing required attribute 'pd'");
}

#[test]
fn bad_numbers() {
    expect(&pd_with("", "<map mr=\"m\" vaddr=\"0x4z\"/>"), 3, "vaddr '0x4z' is not a number");
    expect(&sys("<memory_region name=\"m\" size=\"-4096\"/>"), 4, "size '-4096' is not a number");
    expect(&sys("<memory_region name=\"m\" size=\"0x1_0000_0000_0000_0000\"/>"), 4, "does not fit in 64 bits");
    expect(&pd_with("budget=\"\"", ""), 2, "budget '' is not a number");
}

#[test]
fn id_and_irq_must_be_decimal() {
    expect(
        &sys("<channel><end pd=\"a\" id=\"0x1\"/><end pd=\"b\" id=\"1\"/></channel>"),
        4,
        "id must be decimal, got '0x1'",
    );
    expect(&pd_with("", "<irq irq=\"0x4f\" id=\"1\"/>"), 3, "irq must be decimal, got '0x4f'");
    expect(&pd_with("", "<irq irq=\"-1\" id=\"1\"/>"), 3, "irq '-1' is not a decimal number");
}

#[test]
fn ids_must_be_below_62() {
    expect(&sys("<channel><end pd=\"a\" id=\"62\"/><end pd=\"b\" id=\"1\"/></channel>"), 4, "id 62 is out of range");
    expect(&pd_with("", "<irq irq=\"33\" id=\"62\"/>"), 3, "id 62 is out of range");
    expect(&pd_with("", "<irq irq=\"33\" id=\"300\"/>"), 3, "id 300 is out of range");
    let child =
        pd_with("", "<protection_domain name=\"c\" id=\"62\"><program_image path=\"c.elf\"/></protection_domain>");
    expect(&child, 3, "id 62 is out of range: channel, irq and child ids must be < 62");
}

#[test]
fn channel_and_irq_ids_share_a_pd_id_space() {
    let xml = sys("<channel><end pd=\"a\" id=\"1\"/><end pd=\"b\" id=\"1\"/></channel>\n\
                   <channel><end pd=\"a\" id=\"1\"/><end pd=\"b\" id=\"2\"/></channel>");
    expect(&xml, 5, "id 1 is already used in protection domain 'a' by the channel on line 4");
    let xml = pd_with("", "<irq irq=\"40\" id=\"7\"/><irq irq=\"41\" id=\"7\"/>");
    expect(&xml, 3, "id 7 is already used in protection domain 'p' by the irq on line 3");
    let xml = "<system>\n\
               <protection_domain name=\"a\" priority=\"1\"><program_image path=\"a.elf\"/><irq irq=\"40\" id=\"4\"/></protection_domain>\n\
               <protection_domain name=\"b\" priority=\"2\"><program_image path=\"b.elf\"/></protection_domain>\n\
               <channel><end pd=\"b\" id=\"4\"/><end pd=\"a\" id=\"4\"/></channel>\n\
               </system>";
    expect(xml, 4, "id 4 is already used in protection domain 'a' by the irq on line 2");
}

#[test]
fn duplicate_child_id() {
    let xml = pd_with(
        "",
        "<protection_domain name=\"c\" id=\"5\"><program_image path=\"c.elf\"/></protection_domain>\n\
         <protection_domain name=\"d\" id=\"5\"><program_image path=\"c.elf\"/></protection_domain>",
    );
    expect(&xml, 4, "duplicate child id 5 in protection domain 'p': already used by 'c' (line 3)");
}

#[test]
fn more_than_63_pds() {
    let mut xml = String::from("<system>\n");
    for i in 0..64 {
        xml.push_str(&format!(
            "<protection_domain name=\"pd{i}\"><program_image path=\"x.elf\"/></protection_domain>\n"
        ));
    }
    xml.push_str("</system>");
    let e = expect(&xml, 65, "too many protection domains: 64 in total, Microkit allows at most 63");
    assert_eq!(e.element, "protection_domain");
}

#[test]
fn duplicate_pd_name_even_across_levels() {
    let xml = "<system>\n\
               <protection_domain name=\"a\"><program_image path=\"a.elf\"/>\n\
               <protection_domain name=\"a\" id=\"1\"><program_image path=\"a.elf\"/></protection_domain>\n\
               </protection_domain>\n\
               </system>";
    expect(xml, 3, "duplicate protection domain name 'a' (first defined on line 2)");
}

#[test]
fn duplicate_memory_region_name() {
    expect(
        &sys("<memory_region name=\"m\" size=\"0x1000\"/>\n<memory_region name=\"m\" size=\"0x2000\"/>"),
        5,
        "duplicate memory region name 'm' (first defined on line 4)",
    );
}

#[test]
fn pd_name_longer_than_64_bytes() {
    let long = "x".repeat(65);
    let xml = format!(
        "<system>\n<protection_domain name=\"{long}\"><program_image path=\"a.elf\"/></protection_domain>\n</system>"
    );
    expect(&xml, 2, "is 65 bytes long; the maximum is 64");
}

#[test]
fn priority_above_254() {
    expect(&pd_with("priority=\"255\"", ""), 2, "priority 255 is out of range: it must be between 0 and 254");
    expect(&pd_with("priority=\"1000\"", ""), 2, "priority 1000 is out of range");
}

#[test]
fn budget_above_period() {
    expect(
        &pd_with("budget=\"2000\" period=\"1000\"", ""),
        2,
        "budget (2000) must be less than or equal to period (1000)",
    );
    // period defaults to the budget, so a budget alone is fine; a period alone below the default budget is not
    expect(&pd_with("period=\"500\"", ""), 2, "budget (1000) must be less than or equal to period (500)");
}

#[test]
fn channel_end_naming_unknown_pd() {
    let e = expect(
        &sys("<channel>\n<end pd=\"a\" id=\"1\"/>\n<end pd=\"zz\" id=\"1\"/></channel>"),
        6,
        "channel end names unknown protection domain 'zz'",
    );
    assert_eq!(e.element, "end");
}

#[test]
fn map_naming_unknown_region() {
    expect(&pd_with("", "<map mr=\"nope\" vaddr=\"0x1000\"/>"), 3, "map names unknown memory region 'nope'");
}

#[test]
fn setvar_naming_unknown_region() {
    let e = expect(
        &pd_with("", "<setvar symbol=\"x\" region_paddr=\"nope\"/>"),
        3,
        "setvar region_paddr names unknown memory region 'nope'",
    );
    assert_eq!(e.element, "setvar");
}

#[test]
fn both_ends_pp() {
    let e = expect(
        &sys("<channel><end pd=\"a\" id=\"1\" pp=\"true\"/><end pd=\"b\" id=\"1\" pp=\"true\"/></channel>"),
        4,
        "both ends have pp=\"true\"",
    );
    assert_eq!(e.element, "channel");
}

#[test]
fn ppc_must_go_to_strictly_higher_priority() {
    // b (2) calling a (1): lower
    expect(
        &sys("<channel>\n<end pd=\"a\" id=\"1\"/>\n<end pd=\"b\" id=\"1\" pp=\"true\"/></channel>"),
        6,
        "'b' (priority 2) may not make protected procedure calls to 'a' (priority 1)",
    );
    // equal priority
    let xml = "<system>\n\
               <protection_domain name=\"a\" priority=\"7\"><program_image path=\"a.elf\"/></protection_domain>\n\
               <protection_domain name=\"b\" priority=\"7\"><program_image path=\"b.elf\"/></protection_domain>\n\
               <channel><end pd=\"a\" id=\"1\" pp=\"true\"/><end pd=\"b\" id=\"1\"/></channel>\n\
               </system>";
    expect(xml, 4, "the callee's priority must be strictly higher");
}

#[test]
fn map_vaddr_not_aligned() {
    expect(
        &pd_with("", "<map mr=\"m\" vaddr=\"0x4001\"/>"),
        3,
        "vaddr 0x4001 is not aligned to the region's page size 0x1000",
    );
    expect(
        &pd_with("", "<map mr=\"big\" vaddr=\"0x1000\"/>"),
        3,
        "vaddr 0x1000 is not aligned to the region's page size 0x200000",
    );
}

#[test]
fn maps_overlapping_in_one_pd() {
    let xml = pd_with("", "<map mr=\"big\" vaddr=\"0x200000\"/>\n<map mr=\"m\" vaddr=\"0x3ff000\"/>");
    expect(&xml, 4, "map of 'm' [0x3ff000..0x400000) overlaps map of 'big' [0x200000..0x400000) on line 3");
}

#[test]
fn map_overlapping_the_stack_or_beyond_user_space() {
    // default stack 0x1000: stack is [0xfffffff000..0x10000000000)
    expect(
        &pd_with("", "<map mr=\"m\" vaddr=\"0xfffffff000\"/>"),
        3,
        "overlaps the stack [0xfffffff000..0x10000000000) of protection domain 'p'",
    );
    expect(
        &pd_with("stack_size=\"0x10000\"", "<map mr=\"m\" vaddr=\"0xffffff8000\"/>"),
        3,
        "overlaps the stack [0xffffff0000..",
    );
    // just below the stack is fine
    SystemDescription::parse(Path::new("ok.xml"), &pd_with("", "<map mr=\"m\" vaddr=\"0xffffffe000\"/>")).unwrap();
    expect(
        &pd_with("", "<map mr=\"m\" vaddr=\"0x20000000000\"/>"),
        3,
        "extends beyond the user address space, which ends at 0x10000000000",
    );
    expect(&pd_with("", "<map mr=\"m\" vaddr=\"0xfffffffffffff000\"/>"), 3, "wraps around the address space");
}

#[test]
fn region_size_rules() {
    expect(
        &sys("<memory_region name=\"m\" size=\"0x1800\"/>"),
        4,
        "size 0x1800 is not a multiple of the page size 0x1000",
    );
    // smaller than its page size
    expect(
        &sys("<memory_region name=\"m\" size=\"0x800\"/>"),
        4,
        "size 0x800 is not a multiple of the page size 0x1000",
    );
    expect(
        &sys("<memory_region name=\"m\" size=\"0x1000\" page_size=\"0x200000\"/>"),
        4,
        "size 0x1000 is not a multiple of the page size 0x200000",
    );
    expect(&sys("<memory_region name=\"m\" size=\"0\"/>"), 4, "size must not be zero");
}

#[test]
fn unsupported_page_size() {
    expect(
        &sys("<memory_region name=\"m\" size=\"0x3000\" page_size=\"0x3000\"/>"),
        4,
        "page_size 0x3000 is not supported: it must be 0x1000 or 0x200000",
    );
}

#[test]
fn phys_addr_alignment_and_overlap() {
    expect(
        &sys("<memory_region name=\"m\" size=\"0x1000\" phys_addr=\"0x9000800\"/>"),
        4,
        "phys_addr 0x9000800 is not aligned to the page size 0x1000",
    );
    expect(
        &sys(
            "<memory_region name=\"m\" size=\"0x2000\" phys_addr=\"0x9000000\"/>\n<memory_region name=\"n\" size=\"0x1000\" phys_addr=\"0x9001000\"/>",
        ),
        5,
        "physical range [0x9001000..0x9002000) of 'n' overlaps 'm'",
    );
}

#[test]
fn bad_perms() {
    expect(
        &pd_with("", "<map mr=\"m\" vaddr=\"0x1000\" perms=\"w\"/>"),
        3,
        "perms 'w': write-only mappings are not allowed",
    );
    expect(&pd_with("", "<map mr=\"m\" vaddr=\"0x1000\" perms=\"\"/>"), 3, "perms must not be empty");
    expect(
        &pd_with("", "<map mr=\"m\" vaddr=\"0x1000\" perms=\"rq\"/>"),
        3,
        "perms 'rq' may only contain the letters 'r', 'w' and 'x'",
    );
}

#[test]
fn channel_needs_exactly_two_ends() {
    expect(
        &sys("<channel><end pd=\"a\" id=\"1\"/></channel>"),
        4,
        "a channel must have exactly 2 <end> elements, found 1",
    );
    expect(
        &sys("<channel><end pd=\"a\" id=\"1\"/><end pd=\"b\" id=\"1\"/><end pd=\"b\" id=\"2\"/></channel>"),
        4,
        "found 3",
    );
}

#[test]
fn child_without_id_and_top_level_with_id() {
    let xml = pd_with("", "<protection_domain name=\"c\"><program_image path=\"c.elf\"/></protection_domain>");
    expect(&xml, 3, "child protection domain 'c' of 'p' has no 'id' attribute");
    expect(&pd_with("id=\"1\"", ""), 2, "attribute 'id' is only allowed on a child <protection_domain>");
}

#[test]
fn duplicate_setvar_symbol() {
    let xml = pd_with(
        "",
        "<map mr=\"m\" vaddr=\"0x1000\" setvar_vaddr=\"buf\"/>\n<setvar symbol=\"buf\" region_paddr=\"m\"/>",
    );
    let e = expect(&xml, 4, "setvar symbol 'buf' is already set on line 3 in protection domain 'p'");
    assert_eq!(e.element, "setvar");
    let xml = pd_with("", "<map mr=\"m\" vaddr=\"0x1000\" setvar_vaddr=\"s\" setvar_size=\"s\"/>");
    expect(&xml, 3, "setvar symbol 's' is already set on line 3");
}

#[test]
fn bad_irq_trigger() {
    expect(
        &pd_with("", "<irq irq=\"33\" id=\"1\" trigger=\"rising\"/>"),
        3,
        "trigger must be 'level' or 'edge', got 'rising'",
    );
}

#[test]
fn duplicate_irq_number_across_the_system() {
    let xml = "<system>\n\
               <protection_domain name=\"a\"><program_image path=\"a.elf\"/><irq irq=\"79\" id=\"1\"/></protection_domain>\n\
               <protection_domain name=\"b\"><program_image path=\"b.elf\"/><irq irq=\"79\" id=\"1\"/></protection_domain>\n\
               </system>";
    expect(xml, 3, "irq 79 is already used by protection domain 'a' (line 2)");
}

#[test]
fn stack_size_rules() {
    expect(&pd_with("stack_size=\"0x1800\"", ""), 2, "stack_size 0x1800 is not a multiple of the page size 0x1000");
    expect(
        &pd_with("stack_size=\"0\"", ""),
        2,
        "stack_size 0x0 is out of range: it must be between 0x1000 and 0x1000000",
    );
    expect(&pd_with("stack_size=\"0x2000000\"", ""), 2, "stack_size 0x2000000 is out of range");
}

#[test]
fn program_image_missing_or_repeated() {
    expect("<system>\n<protection_domain name=\"a\"/>\n</system>", 2, "protection domain 'a' has no <program_image>");
    expect(&pd_with("", "<program_image path=\"again.elf\"/>"), 3, "<program_image> given more than once");
}

#[test]
fn bad_booleans() {
    expect(
        &sys("<channel><end pd=\"a\" id=\"1\" pp=\"yes\"/><end pd=\"b\" id=\"1\"/></channel>"),
        4,
        "pp must be 'true' or 'false', got 'yes'",
    );
    expect(&pd_with("passive=\"1\"", ""), 2, "passive must be 'true' or 'false', got '1'");
    expect(&pd_with("", "<map mr=\"m\" vaddr=\"0x1000\" cached=\"False\"/>"), 3, "cached must be 'true' or 'false'");
}

#[test]
fn stray_text_and_virtual_machines() {
    expect(&sys("hello"), 4, "unexpected text 'hello' inside <system>");
    expect(&pd_with("", "<virtual_machine name=\"vm\"/>"), 3, "<virtual_machine> is not supported");
}

#[test]
fn no_protection_domains() {
    let errs = errors("<system>\n<memory_region name=\"m\" size=\"0x1000\"/>\n</system>");
    assert!(errs.iter().any(|e| e.message == "the system must contain at least one protection domain"), "{errs:?}");
}

#[test]
fn all_errors_are_collected_in_order() {
    let xml = "<system>\n\
               <protection_domain name=\"a\" priority=\"300\"><program_image path=\"a.elf\"/>\n\
               <map mr=\"nope\" vaddr=\"0x1000\"/>\n\
               <irq irq=\"5\" id=\"99\"/>\n\
               </protection_domain>\n\
               <memory_region name=\"m\" size=\"0x10\"/>\n\
               <channel><end pd=\"a\" id=\"1\"/><end pd=\"ghost\" id=\"2\"/></channel>\n\
               </system>";
    let errs = errors(xml);
    let lines: Vec<u32> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7], "{errs:#?}");
}

#[test]
fn follow_on_errors_are_suppressed() {
    // The region fails to parse; the map naming it must not add "unknown region".
    let xml = pd_with("", "<map mr=\"bad\" vaddr=\"0x1000\"/>")
        .replace("<memory_region name=\"m\" size=\"0x1000\"/>", "<memory_region name=\"bad\" size=\"lots\"/>");
    let errs = errors(&xml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].message.contains("size 'lots' is not a number"));
}

#[test]
fn display_format() {
    let e = expect(&pd_with("", "<map mr=\"m\" vaddr=\"0x4001\"/>"), 3, "vaddr 0x4001");
    assert_eq!(e.to_string(), "system.xml:3:1: <map>: vaddr 0x4001 is not aligned to the region's page size 0x1000");
    let errs = SystemDescription::parse(Path::new("s.xml"), "<system>\n<x/>\n<y/>\n</system>").unwrap_err();
    assert_eq!(
        errs.to_string(),
        "s.xml:2:1: <x>: unknown element <x> inside <system>\n\
         s.xml:3:1: <y>: unknown element <y> inside <system>\n\
         s.xml: <system>: the system must contain at least one protection domain"
    );
    let _: &dyn std::error::Error = &errs;
}
