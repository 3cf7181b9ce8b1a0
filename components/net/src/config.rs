//! The interface's configuration: addresses from the configuration beside
//! `system.xml`, never from code.

/// IPv4 address, prefix length and default gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Config {
    pub addr: [u8; 4],
    pub prefix_len: u8,
    pub gateway: Option<[u8; 4]>,
}

/// What the interface needs at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The device's MAC address (kept by the server across driver restarts, so
    /// peers' ARP caches stay valid).
    pub mac: [u8; 6],
    pub ipv4: Ipv4Config,
    /// Seed of smoltcp's initial sequence numbers and ephemeral ports.
    pub random_seed: u64,
}
