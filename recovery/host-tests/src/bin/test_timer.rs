//! The timer driver, built for the test systems.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

microkit::include_system!("test_timer");

fn init() -> timer::TimerPd {
    timer::TimerPd::new(irq::IRQ_30)
}

microkit::protection_domain!(init);
