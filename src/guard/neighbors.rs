//! Which neighbours smoltcp can reach right now: a mirror of its ARP (and, with IPv6, neighbour
//! discovery) cache.
//!
//! smoltcp keeps its neighbour cache private, yet a UDP sender must know whether a reply can
//! leave at once: a smoltcp UDP socket only ever tries the head of its send queue, and a head
//! addressed to a neighbour that never answers ARP blocks every datagram behind it (smoltcp
//! issue #594, see `docs/upstream/`). The guard sees every frame before smoltcp does, and
//! smoltcp fills its cache from exactly one kind of frame (an ARP request or reply aimed at one of
//! our addresses, from a unicast sender in one of our subnets), so the mirror applies the same
//! rule, with the same 60 s lifetime, the same capacity and the same eviction (soonest to
//! expire). It answers "would smoltcp find this neighbour now?" without touching smoltcp.
//!
//! IPv6 (feature `ipv6`) has neighbour discovery instead of ARP; smoltcp fills its cache from
//! a neighbour solicitation with a source link-layer address option, and from an advertisement
//! with a target link-layer address option (unless it knows the neighbour already and the
//! override flag is clear), each checksummed, with hop limit 255, sent to us (one of our
//! addresses, all-nodes, or our solicited-node group) from a unicast source. The mirror
//! applies the same rule ([`NeighborMirror::observe_ndisc`]). smoltcp also extends an entry's
//! life whenever a unicast packet arrives from it; the mirror does not, so it may forget a
//! neighbour smoltcp still knows (a reply then takes the resolve lane: slower, never lost), and
//! never the other way round.

use heapless::LinearMap;
use smoltcp::config::IFACE_NEIGHBOR_CACHE_COUNT;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{ArpOperation, ArpRepr, EthernetAddress, IpAddress, IpCidr, Ipv4Address};

/// smoltcp's neighbour entry lifetime (`iface::neighbor::Cache::ENTRY_LIFETIME`).
const ENTRY_LIFETIME: Duration = Duration::from_secs(60);

/// An entry this close to expiring counts as gone: a reply queued now is sent on a later poll.
const MARGIN: Duration = Duration::from_secs(1);

/// The mirror of smoltcp's neighbour cache.
#[derive(Debug, Default)]
pub(crate) struct NeighborMirror {
    expires: LinearMap<IpAddress, Instant, IFACE_NEIGHBOR_CACHE_COUNT>,
}

impl NeighborMirror {
    /// Learn from an ARP packet, as smoltcp's `process_arp` does.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        eth_dst: EthernetAddress,
        arp: &ArpRepr,
        our_mac: Option<EthernetAddress>,
        our_addrs: &[IpCidr],
    ) {
        #[allow(irrefutable_let_patterns)]
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = *arp
        else {
            return;
        };
        let for_us = eth_dst.is_broadcast() || eth_dst.is_multicast() || Some(eth_dst) == our_mac;
        let target_is_ours = our_addrs
            .iter()
            .any(|cidr| cidr.address() == IpAddress::Ipv4(target_protocol_addr));
        let source = IpAddress::Ipv4(source_protocol_addr);
        let same_network = our_addrs.iter().any(|cidr| cidr.contains_addr(&source));
        let known_operation = matches!(operation, ArpOperation::Request | ArpOperation::Reply);
        let learn = for_us
            && target_is_ours
            && known_operation
            && same_network
            && is_unicast(source_protocol_addr)
            && source_hardware_addr.is_unicast();
        if learn {
            self.fill(now, source);
        }
    }

    /// Learn from an IPv6 neighbour solicitation or advertisement, as smoltcp's
    /// `process_ndisc` does (see the module docs).
    #[cfg(feature = "ipv6")]
    pub(crate) fn observe_ndisc(
        &mut self,
        now: Instant,
        nd: &super::segment::Ndisc,
        our_mac: Option<EthernetAddress>,
        our_addrs: &[IpCidr],
    ) {
        let for_us_eth =
            nd.eth_dst.is_broadcast() || nd.eth_dst.is_multicast() || Some(nd.eth_dst) == our_mac;
        let ours = |addr: smoltcp::wire::Ipv6Address| {
            our_addrs
                .iter()
                .any(|cidr| cidr.address() == IpAddress::Ipv6(addr))
        };
        // ff02::1 and ff02::1:ffXX:XXXX, our solicited-node groups.
        let solicited_node = |addr: smoltcp::wire::Ipv6Address| {
            let o = addr.octets();
            o[..13] == [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
                && our_addrs.iter().any(|cidr| match cidr.address() {
                    IpAddress::Ipv6(a) => a.octets()[13..] == o[13..],
                    #[allow(unreachable_patterns)]
                    _ => false,
                })
        };
        let to_us = ours(nd.dst)
            || nd.dst == smoltcp::wire::IPV6_LINK_LOCAL_ALL_NODES
            || solicited_node(nd.dst);
        let unicast = |a: smoltcp::wire::Ipv6Address| !(a.is_multicast() || a.is_unspecified());
        let Some(lladdr) = nd.lladdr else {
            return;
        };
        let source = IpAddress::Ipv6(nd.src);
        let learn = for_us_eth
            && to_us
            && unicast(nd.src)
            && unicast(nd.target)
            && lladdr.is_unicast()
            && (!nd.advert || nd.override_flag || !self.knows_any(source, now));
        if learn {
            self.fill(now, source);
        }
    }

    /// Whether an unexpired entry for `addr` exists (smoltcp's `lookup(..).found()`).
    #[cfg(feature = "ipv6")]
    fn knows_any(&self, addr: IpAddress, now: Instant) -> bool {
        self.expires
            .get(&addr)
            .is_some_and(|expires| now < *expires)
    }

    fn fill(&mut self, now: Instant, source: IpAddress) {
        let source_protocol_addr = source;
        let expires = now + ENTRY_LIFETIME;
        if self.expires.insert(source_protocol_addr, expires).is_err() {
            // Full: smoltcp evicts the entry that expires first.
            if let Some(oldest) = self
                .expires
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(addr, _)| *addr)
            {
                self.expires.remove(&oldest);
            }
            self.expires.insert(source_protocol_addr, expires).ok();
        }
    }

    /// Whether smoltcp knows `addr`'s hardware address at `now` (and will for another second).
    pub(crate) fn knows(&self, addr: IpAddress, now: Instant) -> bool {
        self.expires
            .get(&addr)
            .is_some_and(|expires| now + MARGIN < *expires)
    }
}

/// smoltcp's `x_is_unicast` for IPv4.
fn is_unicast(addr: Ipv4Address) -> bool {
    !(addr.is_broadcast() || addr.is_multicast() || addr.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
    const PEER: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    fn arp(op: ArpOperation, from: Ipv4Address, to: Ipv4Address) -> ArpRepr {
        ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 9]),
            source_protocol_addr: from,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: to,
        }
    }

    fn addrs() -> [IpCidr; 1] {
        [IpCidr::new(IpAddress::Ipv4(US), 24)]
    }

    #[test]
    fn learns_like_smoltcp_and_forgets_after_a_minute() {
        let mut mirror = NeighborMirror::default();
        let t0 = Instant::from_secs(5);
        let request = arp(ArpOperation::Request, PEER, US);
        mirror.observe(
            t0,
            EthernetAddress::BROADCAST,
            &request,
            Some(OUR_MAC),
            &addrs(),
        );
        assert!(mirror.knows(IpAddress::Ipv4(PEER), t0));
        assert!(mirror.knows(IpAddress::Ipv4(PEER), t0 + Duration::from_secs(58)));
        assert!(!mirror.knows(IpAddress::Ipv4(PEER), t0 + Duration::from_secs(60)));
    }

    #[test]
    fn ignores_what_smoltcp_ignores() {
        let mut mirror = NeighborMirror::default();
        let t0 = Instant::from_secs(5);
        let other = Ipv4Address::new(192, 168, 69, 7);
        let outside = Ipv4Address::new(10, 0, 0, 1);
        // Aimed at another host, from outside our subnet, from a broadcast address, and a
        // frame sent to another MAC.
        for (repr, dst) in [
            (
                arp(ArpOperation::Request, PEER, other),
                EthernetAddress::BROADCAST,
            ),
            (
                arp(ArpOperation::Request, outside, US),
                EthernetAddress::BROADCAST,
            ),
            (
                arp(ArpOperation::Reply, Ipv4Address::BROADCAST, US),
                OUR_MAC,
            ),
            (
                arp(ArpOperation::Reply, PEER, US),
                EthernetAddress([2, 0, 0, 0, 0, 5]),
            ),
        ] {
            mirror.observe(t0, dst, &repr, Some(OUR_MAC), &addrs());
        }
        assert!(!mirror.knows(IpAddress::Ipv4(PEER), t0));
        assert!(!mirror.knows(IpAddress::Ipv4(outside), t0));
    }

    #[test]
    fn full_mirror_evicts_the_entry_that_expires_first() {
        let mut mirror = NeighborMirror::default();
        for i in 0..=IFACE_NEIGHBOR_CACHE_COUNT {
            let peer = Ipv4Address::new(192, 168, 69, 10 + i as u8);
            let at = Instant::from_millis(i as i64);
            mirror.observe(
                at,
                OUR_MAC,
                &arp(ArpOperation::Reply, peer, US),
                Some(OUR_MAC),
                &addrs(),
            );
        }
        let now = Instant::from_millis(IFACE_NEIGHBOR_CACHE_COUNT as i64);
        assert!(!mirror.knows(IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 10)), now));
        assert!(mirror.knows(IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 11)), now));
    }

    #[cfg(feature = "ipv6")]
    mod ndisc {
        use super::*;
        use crate::guard::segment::Ndisc;
        use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

        const US6: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);
        const PEER6: Ipv6Address = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, 0x100);
        const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);

        fn addrs6() -> [IpCidr; 2] {
            [
                IpCidr::new(IpAddress::Ipv4(US), 24),
                IpCidr::Ipv6(Ipv6Cidr::new(US6, 64)),
            ]
        }

        /// A solicitation from the peer for our address, to our solicited-node group.
        fn solicit() -> Ndisc {
            Ndisc {
                eth_dst: EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1]),
                src: PEER6,
                dst: Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1),
                target: US6,
                lladdr: Some(PEER_MAC),
                advert: false,
                override_flag: false,
            }
        }

        #[test]
        fn learns_from_a_solicitation_or_an_advertisement_as_smoltcp_does() {
            let t0 = Instant::from_secs(5);
            let peer = IpAddress::Ipv6(PEER6);
            let mut mirror = NeighborMirror::default();
            mirror.observe_ndisc(t0, &solicit(), Some(OUR_MAC), &addrs6());
            assert!(mirror.knows(peer, t0));
            assert!(!mirror.knows(peer, t0 + Duration::from_secs(60)));
            // A solicited advertisement to our address, without the override flag: learnt
            // when new, not refreshed when known (smoltcp's `process_ndisc`).
            let advert = Ndisc {
                eth_dst: OUR_MAC,
                dst: US6,
                target: PEER6,
                advert: true,
                ..solicit()
            };
            let mut mirror = NeighborMirror::default();
            mirror.observe_ndisc(t0, &advert, Some(OUR_MAC), &addrs6());
            let t1 = t0 + Duration::from_secs(30);
            mirror.observe_ndisc(t1, &advert, Some(OUR_MAC), &addrs6());
            assert!(
                !mirror.knows(peer, t0 + Duration::from_secs(60)),
                "not refreshed"
            );
            let overriding = Ndisc {
                override_flag: true,
                ..advert
            };
            mirror.observe_ndisc(t1, &overriding, Some(OUR_MAC), &addrs6());
            assert!(
                mirror.knows(peer, t0 + Duration::from_secs(60)),
                "refreshed"
            );
        }

        #[test]
        fn ignores_what_smoltcp_ignores() {
            let t0 = Instant::from_secs(5);
            let other_group = Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 7);
            for nd in [
                // No link-layer address option.
                Ndisc {
                    lladdr: None,
                    ..solicit()
                },
                // To another host's solicited-node group, and to another host's address.
                Ndisc {
                    dst: other_group,
                    ..solicit()
                },
                Ndisc {
                    dst: PEER6,
                    ..solicit()
                },
                // From a multicast source, with a multicast link-layer address.
                Ndisc {
                    src: other_group,
                    ..solicit()
                },
                Ndisc {
                    lladdr: Some(EthernetAddress([0x33, 0x33, 0, 0, 0, 1])),
                    ..solicit()
                },
                // Sent to another MAC.
                Ndisc {
                    eth_dst: EthernetAddress([2, 0, 0, 0, 0, 5]),
                    ..solicit()
                },
            ] {
                let mut mirror = NeighborMirror::default();
                mirror.observe_ndisc(t0, &nd, Some(OUR_MAC), &addrs6());
                assert!(!mirror.knows(IpAddress::Ipv6(nd.src), t0), "{nd:?}");
            }
        }
    }
}
