//! ECS Task State Change events for tests, from the fixtures in `tests/fixtures/ecs/`
//! (derived from the example in AWS's documentation), re-addressed to a task of ours.

use std::path::PathBuf;

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
/// the order ECS emitted them.
pub fn sequence(name: &str, task: &Task<'_>) -> Vec<Value> {
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
            let event: Value = serde_json::from_str(&text).expect("fixture is JSON");
            readdress(event, task)
        })
        .collect()
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
