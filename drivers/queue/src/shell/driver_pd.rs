//! A whole driver PD's event loop: the device's interrupt and the client's
//! notifications, dispatched to a [`Device`] through its [`DriverShell`].

use microkit::{Channel, Handler, Region};

use crate::shell::driver::{Device, DriverShell};

/// A driver PD: its shell (the client's queues), its device part and the
/// device's IRQ channel. `init` returns one; it is the PD's
/// [`microkit::Handler`]:
///
/// - the IRQ: [`Device::interrupt`] (a broken device panics), then the input
///   goes into the client's posted buffers, then the IRQ is acknowledged;
/// - the client: the restart protocol, then every pair
///   ([`DriverShell::serve_pairs`]).
pub struct DriverPd<D: Device<Region>> {
    shell: DriverShell<Region, Channel>,
    device: D,
    irq: Channel,
    client: Channel,
}

impl<D: Device<Region>> DriverPd<D> {
    /// The PD of `device` on `irq`, serving the client of `shell` on `client`
    /// (the channel the shell notifies).
    pub fn new(shell: DriverShell<Region, Channel>, device: D, irq: Channel, client: Channel) -> Self {
        DriverPd { shell, device, irq, client }
    }
}

impl<D: Device<Region>> Handler for DriverPd<D> {
    fn notified(&mut self, ch: Channel) {
        if ch == self.irq {
            if let Err(e) = self.device.interrupt() {
                self.shell.device_broken(e);
            }
            self.shell.deliver(&mut self.device);
            if let Err(e) = self.irq.irq_ack() {
                // No further interrupt would come: a broken driver, for RS to restart.
                panic!("{}: cannot acknowledge the device's IRQ: {e}", microkit::pd_name());
            }
        } else if ch == self.client && self.shell.on_notify() {
            self.shell.serve_pairs(&mut self.device);
        }
    }
}
