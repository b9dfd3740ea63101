//! Making the local server hostile on purpose, so that anyone can watch the service keep
//! its promise (every job reaches its true terminal state) when the outside world
//! misbehaves the ways AWS is allowed to:
//!
//! - [`EventFaults`]: ECS events lost for good, delivered twice, delivered out of order
//!   (EventBridge delivers at least once and unordered; a dead-letter queue nobody
//!   redrives loses events);
//! - [`LaunchFaults`]: RunTask calls throttled, or refused for lack of capacity.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use shared::infra::sync::lock;
use shared::ports::{LaunchRefusal, Launched};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How many events the reordering holds at most before releasing them shuffled.
pub const REORDER_WINDOW: usize = 3;
/// How long the reordering holds an event at most.
pub const REORDER_HOLD: Duration = Duration::from_millis(200);

/// A probability, for clap: a number from 0 to 1.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number; expected a fraction from 0.0 to 1.0"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is outside 0.0..=1.0"))
    }
}

/// What happens to the ECS events on their way from the task runner to job-events.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EventFaults {
    /// The probability that an event is lost for good.
    pub drop: f64,
    /// The probability that an event that is delivered is delivered twice.
    pub duplicate: f64,
    /// Release events in random order within windows of [`REORDER_WINDOW`] events.
    pub reorder: bool,
}

impl EventFaults {
    /// For the banner: what is active, or `None`.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.drop > 0.0 {
            parts.push(format!("drop {}% of ECS events", percent(self.drop)));
        }
        if self.duplicate > 0.0 {
            parts.push(format!("deliver {}% of events twice", percent(self.duplicate)));
        }
        if self.reorder {
            parts.push(format!(
                "shuffle events in windows of {REORDER_WINDOW} (held at most {} ms)",
                REORDER_HOLD.as_millis()
            ));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

fn percent(fraction: f64) -> String {
    let value = fraction * 100.0;
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// Passes the events of `from` on to `to`, losing, duplicating and reordering them as
/// `faults` says. Ends (after releasing what it holds) once `from` has no sender left.
pub async fn relay_events(
    mut from: mpsc::UnboundedReceiver<Value>,
    to: mpsc::UnboundedSender<Value>,
    faults: EventFaults,
    mut rng: fastrand::Rng,
) {
    let mut held: Vec<Value> = Vec::new();
    let mut release_at: Option<Instant> = None;
    loop {
        let received = match release_at {
            Some(at) => tokio::select! {
                received = from.recv() => received,
                () = tokio::time::sleep_until(at) => {
                    release(&mut held, &to, &mut rng);
                    release_at = None;
                    continue;
                }
            },
            None => from.recv().await,
        };
        let Some(event) = received else { break };
        if rng.f64() < faults.drop {
            tracing::info!(event = %summary(&event), "ECS event dropped (--drop-events)");
            continue;
        }
        let copies = if rng.f64() < faults.duplicate {
            tracing::info!(event = %summary(&event), "ECS event delivered twice (--duplicate-events)");
            2
        } else {
            1
        };
        for _ in 0..copies {
            held.push(event.clone());
        }
        if !faults.reorder || held.len() >= REORDER_WINDOW {
            release(&mut held, &to, &mut rng);
            release_at = None;
        } else if release_at.is_none() {
            release_at = Some(Instant::now() + REORDER_HOLD);
        }
    }
    release(&mut held, &to, &mut rng);
}

/// Sends every held event, in random order (one event, or a window without reordering,
/// keeps its order only by chance when there is more than one).
fn release(held: &mut Vec<Value>, to: &mpsc::UnboundedSender<Value>, rng: &mut fastrand::Rng) {
    rng.shuffle(held);
    for event in held.drain(..) {
        // The receiver only goes away when the whole server stops.
        let _ = to.send(event);
    }
}

/// "STATUS v3 of arn…", for the log.
fn summary(event: &Value) -> String {
    let detail = &event["detail"];
    format!(
        "{} v{} of {}",
        detail["lastStatus"].as_str().unwrap_or("?"),
        detail["version"],
        detail["taskArn"].as_str().unwrap_or("?")
    )
}

/// RunTask calls that fail on purpose: the first `throttle` are throttled, the
/// `no_capacity` after them are refused for lack of capacity; the rest are ECS's usual.
#[derive(Debug, Default)]
pub struct LaunchFaults {
    left: Mutex<(u32, u32)>,
}

impl LaunchFaults {
    pub fn new(throttle: u32, no_capacity: u32) -> Self {
        Self {
            left: Mutex::new((throttle, no_capacity)),
        }
    }

    /// The answer to this RunTask call if it is one of those that fail.
    pub fn next(&self) -> Option<Launched> {
        let mut left = lock(&self.left);
        let (throttle, no_capacity) = &mut *left;
        if *throttle > 0 {
            *throttle -= 1;
            return Some(Launched::Throttled);
        }
        if *no_capacity > 0 {
            *no_capacity -= 1;
            return Some(Launched::Refused(LaunchRefusal::NoCapacity));
        }
        None
    }
}

/// For the banner: the launch faults configured, or `None`.
pub fn describe_launch_faults(throttle: u32, no_capacity: u32) -> Option<String> {
    let mut parts = Vec::new();
    if throttle > 0 {
        parts.push(format!("throttle the first {throttle} RunTask calls"));
    }
    if no_capacity > 0 {
        let which = if throttle > 0 { "the next" } else { "the first" };
        parts.push(format!("refuse {which} {no_capacity} for lack of capacity"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(version: u64) -> Value {
        json!({"detail": {"taskArn": "arn:t", "lastStatus": "RUNNING", "version": version}})
    }

    /// Relays `count` events through `faults` and collects what comes out, in order.
    async fn relayed(faults: EventFaults, count: u64) -> Vec<u64> {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let relay = tokio::spawn(relay_events(in_rx, out_tx, faults, fastrand::Rng::with_seed(7)));
        for version in 1..=count {
            in_tx.send(event(version)).expect("send");
        }
        drop(in_tx);
        relay.await.expect("relay ends");
        let mut out = Vec::new();
        while let Ok(event) = out_rx.try_recv() {
            out.push(event["detail"]["version"].as_u64().expect("version"));
        }
        out
    }

    #[tokio::test]
    async fn without_faults_every_event_passes_once_in_order() {
        assert_eq!(relayed(EventFaults::default(), 20).await, (1..=20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropping_everything_delivers_nothing() {
        let faults = EventFaults {
            drop: 1.0,
            duplicate: 1.0,
            reorder: true,
        };
        assert!(relayed(faults, 20).await.is_empty());
    }

    #[tokio::test]
    async fn duplicating_everything_delivers_each_event_twice() {
        let faults = EventFaults {
            duplicate: 1.0,
            ..EventFaults::default()
        };
        let out = relayed(faults, 10).await;
        assert_eq!(out, (1..=10).flat_map(|v| [v, v]).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn reordering_shuffles_but_loses_nothing() {
        let faults = EventFaults {
            reorder: true,
            ..EventFaults::default()
        };
        let out = relayed(faults, 60).await;
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=60).collect::<Vec<_>>());
        assert_ne!(out, sorted, "60 events in windows of 3 came out in order");
    }

    #[tokio::test]
    async fn a_held_event_is_released_after_the_hold_time() {
        let faults = EventFaults {
            reorder: true,
            ..EventFaults::default()
        };
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let _relay = tokio::spawn(relay_events(in_rx, out_tx, faults, fastrand::Rng::with_seed(1)));
        in_tx.send(event(1)).expect("send");
        let released = tokio::time::timeout(REORDER_HOLD * 2, out_rx.recv()).await;
        assert_eq!(
            released.expect("released within the hold time").expect("an event")["detail"]["version"],
            1
        );
    }

    #[test]
    fn launch_faults_throttle_first_then_refuse_then_pass() {
        let faults = LaunchFaults::new(2, 1);
        assert_eq!(faults.next(), Some(Launched::Throttled));
        assert_eq!(faults.next(), Some(Launched::Throttled));
        assert_eq!(faults.next(), Some(Launched::Refused(LaunchRefusal::NoCapacity)));
        assert_eq!(faults.next(), None);
        assert_eq!(faults.next(), None);
    }

    #[test]
    fn fractions_outside_zero_to_one_are_refused() {
        assert_eq!(parse_fraction("0"), Ok(0.0));
        assert_eq!(parse_fraction("1.0"), Ok(1.0));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
        for bad in ["-0.1", "1.5", "NaN", "half", ""] {
            assert!(parse_fraction(bad).is_err(), "{bad}");
        }
    }
}
