//! `GET /jobs` and `GET /jobs/{id}/logs` through job-api's handler, as API Gateway
//! delivers them, over the DynamoDB adapter (DynamoDB Local) and a scripted ECS.

use std::sync::Arc;

use serde_json::Value;
use shared::adapters::dynamodb::DynamoJobStore;
use shared::testing::launcher::InMemoryTaskLauncher;
use tests::api::{assert_problem, job_logs, json_body, list_jobs, Caller, ALICE, BOB};
use tests::emulators::fresh_dynamo_store;
use tests::events::{sequence, Task};
use tests::world::{definitions, World};

const DEFINITIONS: &str = r#"{
    "report": {"taskDefinition": "report", "container": "app", "parameters": ["REPORT_DATE"],
               "logs": {"group": "/ecs/jobs", "region": "eu-west-1", "streamPrefix": "report"}},
    "other": {"taskDefinition": "other", "container": "app"}}"#;

async fn world() -> World<Arc<DynamoJobStore>, Arc<InMemoryTaskLauncher>> {
    World::new(
        Arc::new(fresh_dynamo_store().await),
        Arc::new(InMemoryTaskLauncher::answering([])),
        definitions(DEFINITIONS),
    )
}

async fn submit(
    world: &World<Arc<DynamoJobStore>, Arc<InMemoryTaskLauncher>>,
    definition: &str,
    caller: Caller<'_>,
) -> Value {
    let response = world
        .post(&format!(r#"{{"definition": "{definition}"}}"#), caller, None)
        .await;
    assert_eq!(response.status(), 201, "{}", json_body(&response));
    json_body(&response)
}

async fn list(
    world: &World<Arc<DynamoJobStore>, Arc<InMemoryTaskLauncher>>,
    query: &[(&str, &str)],
    caller: Caller<'_>,
) -> Value {
    let response = world.api.handle(list_jobs(query, caller)).await;
    assert_eq!(response.status(), 200, "GET /jobs {query:?}: {}", json_body(&response));
    json_body(&response)
}

fn ids(page: &Value) -> Vec<String> {
    page["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["jobId"].as_str().expect("jobId").to_owned())
        .collect()
}

/// Runs a job's task to success, as ECS reports it.
async fn succeed(world: &World<Arc<DynamoJobStore>, Arc<InMemoryTaskLauncher>>, job: &Value) {
    let started_by = format!("job-tracker/{}/1", job["jobId"].as_str().expect("jobId"));
    let task = Task {
        task_arn: job["taskArn"].as_str().expect("taskArn"),
        cluster_arn: "arn:aws:ecs:us-east-1:111122223333:cluster/jobs",
        started_by: Some(&started_by),
        container: "app",
    };
    for outcome in world.deliver(&sequence("success", &task)).await {
        outcome.expect("event accepted");
    }
}

#[tokio::test]
async fn the_caller_pages_through_their_own_jobs_newest_first_without_attempts() {
    let world = world().await;
    let mut submitted = Vec::new();
    for _ in 0..5 {
        submitted.push(
            submit(&world, "report", ALICE).await["jobId"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    submit(&world, "report", BOB).await;
    submitted.reverse();

    let mut listed = Vec::new();
    let mut query = vec![("limit", "2".to_owned())];
    loop {
        let borrowed: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = list(&world, &borrowed, ALICE).await;
        assert!(page["jobs"].as_array().expect("jobs").len() <= 2);
        for job in page["jobs"].as_array().expect("jobs") {
            assert!(job.get("attempts").is_none(), "list items leave attempts out: {job}");
            assert_eq!(
                job["links"]["self"],
                format!("/jobs/{}", job["jobId"].as_str().expect("id"))
            );
        }
        listed.extend(ids(&page));
        match page["nextToken"].as_str() {
            Some(token) => query = vec![("limit", "2".to_owned()), ("nextToken", token.to_owned())],
            None => break,
        }
    }
    assert_eq!(listed, submitted, "every job of Alice's, newest first, once");
    assert_eq!(ids(&list(&world, &[], BOB).await).len(), 1);
    let default_page = list(&world, &[], ALICE).await;
    assert_eq!(ids(&default_page).len(), 5);
    assert!(default_page["nextToken"].is_null());
}

#[tokio::test]
async fn filters_list_exactly_the_matching_jobs() {
    let world = world().await;
    let done = submit(&world, "report", ALICE).await;
    succeed(&world, &done).await;
    let waiting = submit(&world, "report", ALICE).await;
    let other = submit(&world, "other", ALICE).await;
    let id = |job: &Value| job["jobId"].as_str().expect("id").to_owned();

    let succeeded = list(&world, &[("status", "SUCCEEDED")], ALICE).await;
    assert_eq!(ids(&succeeded), vec![id(&done)]);
    assert_eq!(succeeded["jobs"][0]["status"], "SUCCEEDED");
    // Launched, not yet reported running by ECS.
    let either = list(&world, &[("status", "SUCCEEDED"), ("status", "STARTING")], ALICE).await;
    assert_eq!(ids(&either).len(), 3);
    let joined = list(&world, &[("status", "SUCCEEDED,STARTING")], ALICE).await;
    assert_eq!(ids(&joined), ids(&either));
    let reports = list(&world, &[("definition", "report"), ("status", "STARTING")], ALICE).await;
    assert_eq!(ids(&reports), vec![id(&waiting)]);
    assert_eq!(
        ids(&list(&world, &[("definition", "other")], ALICE).await),
        vec![id(&other)]
    );
    let created = waiting["createdAt"].as_str().expect("createdAt");
    let since = list(&world, &[("createdAfter", created)], ALICE).await;
    assert_eq!(ids(&since), vec![id(&other), id(&waiting)]);
    let before = list(&world, &[("createdBefore", created)], ALICE).await;
    assert_eq!(ids(&before), vec![id(&done)]);
}

#[tokio::test]
async fn a_next_token_works_only_for_its_caller_and_its_filters_unaltered() {
    let world = world().await;
    for _ in 0..3 {
        submit(&world, "report", ALICE).await;
    }
    for _ in 0..3 {
        submit(&world, "report", BOB).await;
    }
    let first = list(&world, &[("limit", "1"), ("definition", "report")], ALICE).await;
    let token = first["nextToken"].as_str().expect("more pages").to_owned();
    let refused = |response: lambda_http::Response<lambda_http::Body>| {
        assert_problem(&response, 400, "invalid-next-token");
    };
    // Bob, with Alice's token: never Alice's page, never Bob's either.
    refused(
        world
            .api
            .handle(list_jobs(
                &[("limit", "1"), ("definition", "report"), ("nextToken", &token)],
                BOB,
            ))
            .await,
    );
    // Alice, with other filters.
    refused(
        world
            .api
            .handle(list_jobs(
                &[("limit", "1"), ("definition", "other"), ("nextToken", &token)],
                ALICE,
            ))
            .await,
    );
    refused(
        world
            .api
            .handle(list_jobs(&[("limit", "1"), ("nextToken", &token)], ALICE))
            .await,
    );
    // An edited token: one character changed anywhere.
    for at in [0, token.len() / 2, token.len() - 1] {
        let mut edited = token.clone().into_bytes();
        edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).expect("ascii");
        refused(
            world
                .api
                .handle(list_jobs(
                    &[("limit", "1"), ("definition", "report"), ("nextToken", &edited)],
                    ALICE,
                ))
                .await,
        );
    }
    refused(
        world
            .api
            .handle(list_jobs(&[("nextToken", "not a token")], ALICE))
            .await,
    );
    // The token itself, as issued, goes on; and a different limit is fine.
    let second = list(
        &world,
        &[("limit", "2"), ("definition", "report"), ("nextToken", &token)],
        ALICE,
    )
    .await;
    assert_eq!(ids(&second).len(), 2);
    assert!(!ids(&second).contains(&ids(&first)[0]));
}

#[tokio::test]
async fn a_bad_query_is_a_problem_that_names_the_parameter() {
    let world = world().await;
    for (query, parameter) in [
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "101")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("status", "DONE")], "status"),
        (vec![("createdAfter", "yesterday")], "createdAfter"),
        (vec![("createdBefore", "2026-13-01T00:00:00Z")], "createdBefore"),
        (vec![("definition", "")], "definition"),
        (vec![("limit", "1"), ("limit", "2")], "limit"),
        (vec![("state", "RUNNING")], "state"),
    ] {
        let response = world.api.handle(list_jobs(&query, ALICE)).await;
        let problem = assert_problem(&response, 400, "invalid-query");
        assert_eq!(problem["parameter"], parameter, "{query:?}");
    }
    assert_problem(
        &world.api.handle(list_jobs(&[], Caller::Anonymous)).await,
        401,
        "unauthenticated",
    );
}

#[tokio::test]
async fn the_owner_reads_an_attempts_log_to_its_end() {
    let world = world().await;
    let job = submit(&world, "report", ALICE).await;
    let id = job["jobId"].as_str().expect("id").to_owned();
    let logs = &world.job(&id, ALICE).await["attempts"][0]["logs"];
    let task_id = job["taskArn"]
        .as_str()
        .expect("taskArn")
        .rsplit('/')
        .next()
        .expect("task id");
    assert_eq!(logs["group"], "/ecs/jobs");
    assert_eq!(logs["stream"], format!("report/app/{task_id}"));
    assert_eq!(
        logs["consoleUrl"],
        format!(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/\
             $252Fecs$252Fjobs/log-events/report$252Fapp$252F{task_id}"
        )
    );
    let at = chrono::Utc::now();
    for line in ["one", "two", "three", "four"] {
        world
            .logs
            .write("/ecs/jobs", &format!("report/app/{task_id}"), at, line);
    }

    // While the task may still write, the answer always says where to go on from.
    let read = |query: Vec<(&'static str, String)>| {
        let world = &world;
        let id = id.clone();
        async move {
            let borrowed: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = world.api.handle(job_logs(&id, &borrowed, ALICE)).await;
            assert_eq!(response.status(), 200, "{}", json_body(&response));
            json_body(&response)
        }
    };
    let first = read(vec![]).await;
    let messages = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["message"].as_str().expect("message").to_owned())
            .collect()
    };
    assert_eq!(messages(&first), ["one", "two", "three"]);
    let token = first["nextToken"].as_str().expect("more").to_owned();
    let second = read(vec![("nextToken", token)]).await;
    assert_eq!(messages(&second), ["four"]);
    let token = second["nextToken"].as_str().expect("the task still runs").to_owned();
    let idle = read(vec![("nextToken", token.clone())]).await;
    assert!(messages(&idle).is_empty());
    assert!(idle["nextToken"].is_string(), "a running attempt can write more");

    succeed(&world, &job).await;
    world
        .logs
        .write("/ecs/jobs", &format!("report/app/{task_id}"), at, "five");
    let last = read(vec![("nextToken", token)]).await;
    assert_eq!(messages(&last), ["five"]);
    let end = read(vec![(
        "nextToken",
        last["nextToken"]
            .as_str()
            .expect("not yet known to be the end")
            .to_owned(),
    )])
    .await;
    assert!(messages(&end).is_empty());
    assert!(end["nextToken"].is_null(), "a stopped attempt read to its end: {end}");
    let explicit = read(vec![("attempt", "1".to_owned())]).await;
    assert_eq!(messages(&explicit), ["one", "two", "three"]);
}

#[tokio::test]
async fn a_log_is_only_its_owners_and_only_of_attempts_that_exist() {
    let world = world().await;
    let job = submit(&world, "report", ALICE).await;
    let id = job["jobId"].as_str().expect("id");
    assert_problem(&world.api.handle(job_logs(id, &[], BOB)).await, 404, "job-not-found");
    let missing = assert_problem(
        &world.api.handle(job_logs(id, &[("attempt", "2")], ALICE)).await,
        404,
        "attempt-not-found",
    );
    assert_eq!(missing["attempts"], 1);
    let bad = assert_problem(
        &world.api.handle(job_logs(id, &[("attempt", "0")], ALICE)).await,
        400,
        "invalid-query",
    );
    assert_eq!(bad["parameter"], "attempt");
    let first = world.api.handle(job_logs(id, &[], ALICE)).await;
    let token = json_body(&first)["nextToken"].as_str().expect("running").to_owned();
    // It goes on with its attempt, named or not; a missing attempt is still a 404.
    let again = world
        .api
        .handle(job_logs(id, &[("attempt", "1"), ("nextToken", &token)], ALICE))
        .await;
    assert_eq!(again.status(), 200, "{}", json_body(&again));
    assert_problem(
        &world
            .api
            .handle(job_logs(id, &[("attempt", "9"), ("nextToken", &token)], ALICE))
            .await,
        404,
        "attempt-not-found",
    );
    // Another caller, or another job, cannot use it.
    let other = submit(&world, "report", ALICE).await;
    let other_id = other["jobId"].as_str().expect("id");
    assert_problem(
        &world
            .api
            .handle(job_logs(other_id, &[("nextToken", &token)], ALICE))
            .await,
        400,
        "invalid-next-token",
    );
    // A job of a definition that keeps no log: no location, and nothing to read.
    let quiet = submit(&world, "other", ALICE).await;
    let quiet_id = quiet["jobId"].as_str().expect("id");
    assert!(world.job(quiet_id, ALICE).await["attempts"][0]["logs"].is_null());
    let empty = json_body(&world.api.handle(job_logs(quiet_id, &[], ALICE)).await);
    assert_eq!(empty["events"], serde_json::json!([]));
}
