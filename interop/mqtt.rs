//! Interoperability: minimq 0.10, an MQTT 5 client written against embedded-nal 0.9's
//! `TcpClientStack` by people who never saw smolsock, runs unmodified on `nal::NalStack` over a
//! Linux TAP device and talks to Debian's mosquitto broker on the kernel side of that device,
//! inside a network namespace made for the test (`smolsock-PID-mqtt-N`, deleted afterwards;
//! the broker is the test's own process, listening only on 192.168.69.100 in that namespace).
//!
//! Needs root, `ip`, `/dev/net/tun` and `mosquitto` (`apt-get install mosquitto`); without them
//! the test is reported ignored with the reason (failed under `SMOLSOCK_REQUIRE_ALL=1`).

#[path = "../tests/harness/mod.rs"]
mod harness;
#[path = "../tests/netns/mod.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use minimq::embedded_time::{self, fraction::Fraction};
use minimq::{ConfigBuilder, Minimq, Publication};
use netns::{Netns, KERNEL_IP, SMOLSOCK_IP, TAP};
use smolsock::clock::{Clock, StdClock};
use smolsock::nal::NalStack;
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{EthernetAddress, IpCidr};
use smolsock::storage::{TcpStorage, UdpStorage};
use smolsock::tap::TapDevice;
use smolsock::{Stack, StackConfig};

const MQTT_PORT: u16 = 1883;

fn main() -> std::process::ExitCode {
    let unavailable = netns::unavailable().map(str::to_string).or_else(|| {
        let found = Command::new("mosquitto")
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        (!found).then(|| "mosquitto is not installed (apt-get install mosquitto)".to_string())
    });
    harness::run(
        harness::tests![minimq_on_smolsock_publishes_and_receives_through_mosquitto],
        unavailable,
    )
}

/// The broker, a child of this process inside the namespace; killed and reaped on drop.
struct Broker {
    child: Child,
    config: PathBuf,
}

impl Broker {
    fn start(ns: &Netns) -> Broker {
        let config = std::env::temp_dir().join(format!("{}-mosquitto.conf", ns.name()));
        std::fs::write(
            &config,
            format!("listener {MQTT_PORT} {KERNEL_IP}\nallow_anonymous true\npersistence false\n"),
        )
        .expect("write the broker's configuration");
        let child = ns
            .command("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let broker = Broker { child, config };
        // Listening once the kernel accepts a connection there (from inside the namespace).
        let target: SocketAddr = format!("{KERNEL_IP}:{MQTT_PORT}").parse().expect("address");
        let up = ns.run(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        });
        assert!(up, "mosquitto did not listen on {target} within 10 s");
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // `ip netns exec` runs mosquitto in its own process (exec), so this is the broker.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// minimq's clock: milliseconds of the host's monotonic clock.
struct Millis(Instant);

impl embedded_time::Clock for Millis {
    type T = u32;
    const SCALING_FACTOR: Fraction = Fraction::new(1, 1000);

    fn try_now(&self) -> Result<embedded_time::Instant<Self>, embedded_time::clock::Error> {
        Ok(embedded_time::Instant::new(
            self.0.elapsed().as_millis() as u32
        ))
    }
}

/// On smolsock over `tap0` (call it inside the namespace): connect to the broker, subscribe to
/// `topic`, publish `message` to it, and return what the broker delivers back.
fn mqtt_round_trip(topic: &str, message: &str) -> Result<String, String> {
    let mut device = TapDevice::open(TAP).map_err(|e| format!("open {TAP}: {e}"))?;
    let clock = StdClock::new();
    let mut slots = [SocketStorage::EMPTY; 4];
    let ip: Ipv4Addr = SMOLSOCK_IP.parse().expect("address");
    let mac = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let seed = u64::from(std::process::id());
    let config = StackConfig::ethernet(mac, IpCidr::new(ip.into(), 24)).with_seed(seed);
    let mut stack = Stack::new(config, &mut device, &mut slots, clock.now());
    let mut tcp: Vec<TcpStorage<4096, 4096>> = (0..2).map(|_| TcpStorage::new()).collect();
    let mut udp: [UdpStorage<1, 16>; 0] = [];
    let net = NalStack::<1, 2, _, _, _, _, _, _>::new(
        &mut stack,
        &mut device,
        clock,
        &mut tcp,
        &mut udp,
        seed,
    );

    // From here on, minimq's own example, unchanged but for the stack and the clock.
    let broker: Ipv4Addr = KERNEL_IP.parse().expect("address");
    let mut buffer = [0u8; 1024];
    let mut mqtt: Minimq<'_, _, _, minimq::broker::IpBroker> = Minimq::new(
        net,
        Millis(Instant::now()),
        ConfigBuilder::new(IpAddr::V4(broker).into(), &mut buffer)
            .client_id("smolsock")
            .map_err(|e| format!("client id: {e:?}"))?
            .keepalive_interval(60),
    );
    let (mut subscribed, mut published) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let received = mqtt
            .poll(|_client, topic, payload, _properties| {
                (
                    topic.to_string(),
                    String::from_utf8_lossy(payload).into_owned(),
                )
            })
            .map_err(|e| format!("poll: {e:?}"))?;
        if let Some((from, payload)) = received {
            if from == topic {
                return Ok(payload);
            }
        }
        let client = mqtt.client();
        if !subscribed {
            if client.is_connected() {
                client
                    .subscribe(&[topic.into()], &[])
                    .map_err(|e| format!("subscribe: {e:?}"))?;
                subscribed = true;
            }
        } else if !client.subscriptions_pending() && !published {
            client
                .publish(Publication::new(topic, message.as_bytes()))
                .map_err(|e| format!("publish: {e:?}"))?;
            published = true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!(
        "no message back within 20 s (subscribed: {subscribed}, published: {published})"
    ))
}

fn minimq_on_smolsock_publishes_and_receives_through_mosquitto() {
    let ns = Netns::new("mqtt").expect("namespace");
    ns.add_tap().expect("TAP device");
    let _broker = Broker::start(&ns);
    let topic = format!("smolsock/{}/lesson", std::process::id());
    let message = "hello from smolsock";
    let got = ns.run(move || mqtt_round_trip(&topic, message));
    assert_eq!(got.as_deref(), Ok(message));
}
