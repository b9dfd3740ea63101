//! ECS Task State Change events for tests, from the fixtures in `tests/fixtures/ecs/`
//! (derived from the example in AWS's documentation), re-addressed to a task of ours.

use std::path::PathBuf;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

/// The task an event sequence is about.
#[derive(Debug, Clone)]
pub struct Task<'a> {
    pub task_arn: &'a str,
    pub cluster_arn: &'a str,
    pub started_by: Option<&'a str>,
    /// The job container's name: the fixtures' `FargateApp` becomes this.
    pub container: &'a str,
}

/// The events of one fixture sequence (`success`, `exit-code-3`, `failed-to-start`), in
/// the order ECS emitted them, moved in time so that the task starts a minute from now
/// (after the job it belongs to was created, as in real life).
pub fn sequence(name: &str, task: &Task<'_>) -> Vec<Value> {
    // One shift per test process, so that sequences built for different jobs of one test
    // carry identical timelines.
    static SHIFT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    let shift = *SHIFT.get_or_init(|| {
        let fixture_start: DateTime<Utc> = "2020-01-23T17:57:00Z".parse().expect("a timestamp");
        Utc::now() + Duration::minutes(1) - fixture_start
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/ecs")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixture directory {}: {e}", dir.display()))
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("fixture readable");
            let mut event: Value = serde_json::from_str(&text).expect("fixture is JSON");
            shift_timestamps(&mut event, shift);
            readdress(event, task)
        })
        .collect()
}

/// Moves every timestamp in `value` (the envelope's `time` and every `...At`) by `shift`.
fn shift_timestamps(value: &mut Value, shift: Duration) {
    let Some(object) = value.as_object_mut() else {
        if let Some(items) = value.as_array_mut() {
            items.iter_mut().for_each(|item| shift_timestamps(item, shift));
        }
        return;
    };
    for (key, field) in object.iter_mut() {
        let stamp = field.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok());
        match stamp {
            Some(at) if key == "time" => *field = (at + shift).to_rfc3339_opts(SecondsFormat::Secs, true).into(),
            Some(at) if key.ends_with("At") => {
                *field = (at + shift).to_rfc3339_opts(SecondsFormat::Millis, true).into()
            }
            _ => shift_timestamps(field, shift),
        }
    }
}

/// The event, about `task` instead of the fixture's task.
pub fn readdress(mut event: Value, task: &Task<'_>) -> Value {
    event["resources"] = serde_json::json!([task.task_arn]);
    let detail = &mut event["detail"];
    detail["taskArn"] = task.task_arn.into();
    detail["clusterArn"] = task.cluster_arn.into();
    match task.started_by {
        Some(started_by) => detail["startedBy"] = started_by.into(),
        None => {
            if let Some(map) = detail.as_object_mut() {
                map.remove("startedBy");
            }
        }
    }
    if let Some(containers) = detail["containers"].as_array_mut() {
        for container in containers {
            container["taskArn"] = task.task_arn.into();
            if container["name"] == "FargateApp" {
                container["name"] = task.container.into();
            }
        }
    }
    if let Some(overrides) = detail["overrides"]["containerOverrides"].as_array_mut() {
        for o in overrides {
            o["name"] = task.container.into();
        }
    }
    event
}

/// A deterministic shuffle with duplicates: every event at least once, some twice or
/// three times, in an order decided by `seed` (a xorshift generator, so that a failing
/// seed can be replayed).
pub fn shuffled_with_duplicates(events: &[Value], seed: u64) -> Vec<Value> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut delivered: Vec<Value> = Vec::new();
    for event in events {
        let copies = 1 + (next() % 3) as usize;
        delivered.extend(std::iter::repeat_n(event.clone(), copies));
    }
    for i in (1..delivered.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        delivered.swap(i, j);
    }
    delivered
}
