//! A whole client PD's event loop on one driver's queues: the driver's
//! notifications, with the restart protocol and resubmission, dispatched to a
//! [`ClientApp`].

use microkit::{Channel, Handler, Region};

use crate::server::{Completion, Reclaimed};
use crate::shell::client::QueueClient;

/// What a client PD does with its driver's queues: [`ClientPd`] runs it.
pub trait ClientApp {
    /// A request completed (or failed: see [`QueueClient::next_completion`]).
    /// Submitting more here is fine.
    fn completed(&mut self, queues: &mut QueueClient<Region, Channel>, pair: usize, completion: Completion);
    /// After the last completion of a notification.
    fn idle(&mut self, queues: &mut QueueClient<Region, Channel>) {
        let _ = queues;
    }
    /// A request the dead driver held was resubmitted to the new one (at `epoch`).
    fn resubmitted(&mut self, epoch: u64, request: &Reclaimed) {
        let _ = (epoch, request);
    }
}

/// A client PD on one driver: its [`QueueClient`] and its app. `init`
/// returns one; it is the PD's [`microkit::Handler`]: on each notification
/// from the driver, every completion goes to [`ClientApp::completed`] (what a
/// dead driver held is resubmitted first), then [`ClientApp::idle`].
pub struct ClientPd<A: ClientApp> {
    queues: QueueClient<Region, Channel>,
    app: A,
    driver: Channel,
}

impl<A: ClientApp> ClientPd<A> {
    /// The PD of `app` on `queues`, whose driver notifies on `driver`.
    pub fn new(queues: QueueClient<Region, Channel>, app: A, driver: Channel) -> Self {
        ClientPd { queues, app, driver }
    }
}

impl<A: ClientApp> Handler for ClientPd<A> {
    fn notified(&mut self, ch: Channel) {
        if ch != self.driver {
            return;
        }
        let app = &mut self.app;
        while let Some((pair, completion)) = self.queues.next_completion(|epoch, r| app.resubmitted(epoch, r)) {
            app.completed(&mut self.queues, pair, completion);
        }
        app.idle(&mut self.queues);
    }
}
