//! The recovery test's supervisor: a thin shell around `qemu_tests::Supervisor`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{
    CHANNEL_LIMIT, Channel, Child, Fault, FaultAction, Handler, InjectKind, KernelError, clock, debug_println,
};
use qemu_tests::{CounterReport, Effects, Supervisor, Who, report};

microkit::include_system!("test_supervisor");

struct Pd {
    logic: Supervisor,
}

struct World;

fn child_of(who: Who) -> Child {
    match who {
        Who::Counter => child::TEST_COUNTER,
        Who::Panicker => child::TEST_PANICKER,
    }
}

impl Effects for World {
    fn line(&mut self, line: core::fmt::Arguments<'_>) {
        debug_println!("{line}");
    }
    fn inject(&mut self, who: Who, kind: InjectKind) -> Result<(), KernelError> {
        child_of(who).inject(kind)
    }
    fn restart(&mut self, who: Who) -> Result<(), KernelError> {
        child_of(who).restart()
    }
}

impl Handler for Pd {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::TEST_COUNTER {
            let r = region::counter_report();
            let word = |offset| r.read_u64(offset).unwrap_or(u64::MAX);
            let report = CounterReport {
                boot: word(report::BOOTS),
                data: word(report::DATA),
                bss: word(report::BSS),
                init_at: word(report::INIT_AT),
            };
            self.logic.counter_ready(report, &mut World);
        } else if ch == channel::TEST_PANICKER {
            let boot = region::panicker_state().read_u64(0).unwrap_or(u64::MAX);
            self.logic.panicker_ready(boot, &mut World);
        }
    }

    fn fault(&mut self, child: Child, fault: Fault) -> FaultAction {
        let now = clock::now();
        let who = match child {
            child::TEST_COUNTER => Who::Counter,
            child::TEST_PANICKER => Who::Panicker,
            other => {
                debug_println!("test_supervisor: fault of unknown child {}: {fault}", other.index());
                return FaultAction::Leave;
            }
        };
        self.logic.fault(who, fault, now, &mut World);
        FaultAction::Leave
    }
}

fn init() -> Pd {
    debug_println!("test_supervisor: clock {} at {} {}/s", clock::COUNTER, clock::frequency(), clock::UNIT);
    // Shows what `--inject` compiled in (this test carries out its own injections).
    for entry in microkit::inject_schedule().iter() {
        debug_println!("test_supervisor: compiled-in injection {entry} (not carried out by this test)");
    }
    let mut logic = Supervisor::new();
    // The first id that `system.xml` gives no child of this PD.
    let stranger = (0..CHANNEL_LIMIT).map(Child::new).find(|c| child::ALL.iter().all(|spec| spec.child != *c));
    logic.stranger_restarted(stranger.map(Child::restart), &mut World);
    Pd { logic }
}

microkit::protection_domain!(init);
