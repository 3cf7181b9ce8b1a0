//! The timer PD: [`timer::TimerPd`] on this system's timer IRQ.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

microkit::include_system!("timer");

fn init() -> timer::TimerPd {
    timer::TimerPd::new(irq::IRQ_30)
}

microkit::protection_domain!(init);
