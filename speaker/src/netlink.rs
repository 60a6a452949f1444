//! The link monitor: every network interface of the node and its state, from rtnetlink.
//!
//! One task subscribes to link notifications (`RTNLGRP_LINK`), then dumps the links (so no change between
//! the dump and the subscription is missed), and publishes [`Links`] on a watch channel whenever an
//! interface appears, disappears or changes. A link going down reaches the layer2 task and the owner loop
//! within the same millisecond, which is what lets a node step aside at once.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use tokio::sync::watch;

use crate::interfaces::{Interface, Interfaces};
use crate::task::TaskHandle;
use ferrolb_proto::MacAddr;

/// The node's interfaces as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Links {
    /// The first dump has arrived.
    pub known: bool,
    /// Interfaces by index.
    pub interfaces: Interfaces,
}

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkMonitorError {
    /// The netlink socket could not be opened or subscribed.
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] std::io::Error),
}

/// An interface from a link message (pure).
pub fn interface(msg: &LinkMessage) -> Option<Interface> {
    let mut name = None;
    let mut mac = None;
    let mut master = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(bytes) => {
                if let Ok(octets) = <[u8; 6]>::try_from(bytes.as_slice()) {
                    mac = Some(MacAddr(octets));
                }
            }
            LinkAttribute::Controller(m) => master = Some(*m),
            _ => {}
        }
    }
    let f = msg.header.flags;
    Some(Interface {
        index: msg.header.index,
        name: name?,
        mac,
        up: f.contains(LinkFlags::Up),
        running: f.contains(LinkFlags::Running) || f.contains(LinkFlags::LowerUp),
        broadcast: f.contains(LinkFlags::Broadcast),
        noarp: f.contains(LinkFlags::Noarp),
        loopback: f.contains(LinkFlags::Loopback),
        master,
    })
}

/// Starts the monitor. The receiver reports `known: false` until the first dump is in.
pub fn spawn() -> Result<(watch::Receiver<Arc<Links>>, Vec<TaskHandle>), LinkMonitorError> {
    let (conn, handle, mut messages) =
        rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link])
            .map_err(LinkMonitorError::Socket)?;
    let conn_task = TaskHandle::spawn("netlink connection", conn);
    let (tx, rx) = watch::channel(Arc::new(Links::default()));
    let monitor = TaskHandle::spawn("link monitor", async move {
        let mut links = Links {
            known: true,
            interfaces: Interfaces::new(),
        };
        let mut dump = handle.link().get().execute();
        loop {
            match dump.try_next().await {
                Ok(Some(msg)) => {
                    if let Some(i) = interface(&msg) {
                        links.interfaces.insert(i.index, i);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "dumping network links");
                    break;
                }
            }
        }
        tracing::debug!(interfaces = links.interfaces.len(), "links dumped");
        tx.send_replace(Arc::new(links.clone()));
        while let Some((msg, _)) = messages.next().await {
            let NetlinkPayload::InnerMessage(inner) = msg.payload else {
                continue;
            };
            let changed = match inner {
                RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::SetLink(m) => match interface(&m) {
                    Some(i) => {
                        let changed = links.interfaces.get(&i.index) != Some(&i);
                        if changed {
                            tracing::info!(interface = %i.name, up = i.up, carrier = i.running, "link changed");
                        }
                        links.interfaces.insert(i.index, i);
                        changed
                    }
                    None => false,
                },
                RouteNetlinkMessage::DelLink(m) => {
                    let gone = links.interfaces.remove(&m.header.index);
                    if let Some(i) = &gone {
                        tracing::info!(interface = %i.name, "link removed");
                    }
                    gone.is_some()
                }
                _ => false,
            };
            if changed {
                tx.send_replace(Arc::new(links.clone()));
            }
        }
        tracing::error!("the netlink link monitor stopped");
    });
    Ok((rx, vec![conn_task, monitor]))
}
