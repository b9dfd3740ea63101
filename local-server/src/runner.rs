//! A [`TaskLauncher`] that plays ECS on this machine: each task is a child process, and
//! its life is reported as the EventBridge "ECS Task State Change" events Fargate would
//! send (PROVISIONING … STOPPED, increasing `version`, cumulative timestamps, `stopCode`,
//! the container's `exitCode`; `TaskFailedToStart` with no containers when the command
//! cannot start).
//!
//! It is also the reconciler's [`TaskInspector`]: like `DescribeTasks`, it answers each
//! task's current state (the same fields and `version` as its latest event, whether or
//! not that event was delivered), and like `ListTasks` by `startedBy`, the task an
//! attempt's launch started.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use shared::domain::EcsTaskStatus;
use shared::domain::StartedBy;
use shared::inbound::ecs_event::TaskStateChange;
use shared::infra::sync::lock;
use shared::ports::{
    InspectError, LaunchError, LaunchRefusal, Launched, TaskInspector, TaskLauncher, TaskLookup, TaskRequest,
};
use shared::testing::fargate::{eventbridge_envelope, TaskTimeline};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::definitions::{LocalCommand, CONTAINER};
use crate::hostile::LaunchFaults;

/// How long a stopped task's processes get between SIGTERM and SIGKILL (ECS's
/// `stopTimeout` defaults to 30 s; locally, a person is waiting at Ctrl-C).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two lifecycle events, so that a client polling the job can watch
/// it move as it would on Fargate (where each step takes seconds).
const STEP: Duration = Duration::from_millis(300);
pub const CLUSTER_ARN: &str = "arn:aws:ecs:local:000000000000:cluster/local";
const ACCOUNT: &str = "000000000000";
const REGION: &str = "local";

pub struct LocalTaskRunner {
    commands: HashMap<String, LocalCommand>,
    log_dir: PathBuf,
    events: mpsc::UnboundedSender<Value>,
    /// RunTask's `clientToken` semantics: one task per attempt, however often launched.
    tasks: Mutex<HashMap<String, String>>,
    /// Each task's current state (its latest event's detail), by task ARN: what
    /// `DescribeTasks` answers.
    states: TaskStates,
    /// RunTask calls that fail on purpose (`--throttle-launches`, `--no-capacity-launches`).
    faults: LaunchFaults,
    players: Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
}

type TaskStates = Arc<Mutex<HashMap<String, TaskStateChange>>>;

impl LocalTaskRunner {
    /// Tasks' events go to `events`, in the order each task emits them.
    pub fn new(
        commands: HashMap<String, LocalCommand>,
        log_dir: PathBuf,
        events: mpsc::UnboundedSender<Value>,
    ) -> Self {
        Self {
            commands,
            log_dir,
            events,
            tasks: Mutex::default(),
            states: TaskStates::default(),
            faults: LaunchFaults::default(),
            players: Mutex::default(),
            shutdown: watch::Sender::new(false),
        }
    }

    /// The same runner, answering some RunTask calls with failures (see [`LaunchFaults`]).
    pub fn with_faults(mut self, faults: LaunchFaults) -> Self {
        self.faults = faults;
        self
    }

    /// Where the output of an attempt goes.
    pub fn log_path(&self, started_by: &StartedBy) -> PathBuf {
        self.log_dir
            .join(format!("{}-{}.log", started_by.job_id, started_by.attempt))
    }

    /// Stops every running task (as `StopTask` would, stopCode `UserInitiated`) and
    /// waits until each has reported STOPPED.
    pub async fn shut_down(&self) {
        self.shutdown.send_replace(true);
        let players: Vec<JoinHandle<()>> = lock(&self.players).drain(..).collect();
        for player in players {
            let _ = player.await;
        }
    }
}

impl TaskLauncher for LocalTaskRunner {
    async fn launch(&self, request: &TaskRequest) -> Result<Launched, LaunchError> {
        let Some(command) = self.commands.get(&request.task_definition) else {
            tracing::warn!(task_definition = request.task_definition, "no such local definition");
            return Ok(Launched::Refused(LaunchRefusal::TaskDefinitionNotFound));
        };
        if *self.shutdown.borrow() {
            return Err(LaunchError::new("the local server is shutting down"));
        }
        // ECS throttles or refuses a call before it looks at its client token.
        if let Some(failure) = self.faults.next() {
            tracing::info!(
                job_id = %request.started_by.job_id,
                answer = ?failure,
                "RunTask fails on purpose (--throttle-launches / --no-capacity-launches)"
            );
            return Ok(failure);
        }
        let token = request.started_by.client_token();
        let mut tasks = lock(&self.tasks);
        if let Some(task_arn) = tasks.get(&token) {
            return Ok(Launched::Started {
                task_arn: task_arn.clone(),
            });
        }
        let task_arn = format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:task/local/{}",
            uuid::Uuid::new_v4().simple()
        );
        tasks.insert(token, task_arn.clone());

        let mut task = Task {
            timeline: TaskTimeline::new(
                task_arn.clone(),
                CLUSTER_ARN,
                Some(request.started_by.to_string()),
                &[CONTAINER],
                Utc::now(),
            ),
            started_by: request.started_by,
            command: command.clone(),
            environment: request.environment.clone(),
            log_path: self.log_path(&request.started_by),
            events: self.events.clone(),
            states: self.states.clone(),
            shutdown: self.shutdown.subscribe(),
        };
        // The task exists from RunTask's answer on: DescribeTasks knows it at once.
        task.emit(EcsTaskStatus::Provisioning);
        lock(&self.players).push(tokio::spawn(task.play()));
        Ok(Launched::Started { task_arn })
    }
}

impl TaskInspector for LocalTaskRunner {
    async fn describe(&self, task_arns: &[String]) -> Result<Vec<TaskLookup>, InspectError> {
        let states = lock(&self.states);
        Ok(task_arns
            .iter()
            .map(|arn| match states.get(arn) {
                Some(detail) => {
                    tracing::info!(
                        task_arn = arn,
                        started_by = detail.started_by.as_deref(),
                        last_status = %detail.last_status,
                        version = detail.version,
                        "DescribeTasks (reconciler)"
                    );
                    TaskLookup::Found(detail.observation())
                }
                None => {
                    tracing::info!(task_arn = arn, "DescribeTasks (reconciler): MISSING");
                    TaskLookup::Missing { task_arn: arn.clone() }
                }
            })
            .collect())
    }

    async fn find(&self, started_by: StartedBy) -> Result<Option<String>, InspectError> {
        Ok(lock(&self.tasks).get(&started_by.client_token()).cloned())
    }
}

/// As ECS stops a container: SIGTERM to the whole process group, SIGKILL after
/// [`STOP_TIMEOUT`].
async fn stop_gracefully(child: &mut tokio::process::Child) -> std::io::Result<std::process::ExitStatus> {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            child.wait().await
        }
    }
}

async fn shutting_down(mut shutdown: watch::Receiver<bool>) {
    // An error means the runner is gone, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One task from PROVISIONING to STOPPED.
struct Task {
    timeline: TaskTimeline,
    started_by: StartedBy,
    command: LocalCommand,
    environment: Vec<(String, String)>,
    log_path: PathBuf,
    events: mpsc::UnboundedSender<Value>,
    states: TaskStates,
    shutdown: watch::Receiver<bool>,
}

impl Task {
    fn emit(&mut self, status: EcsTaskStatus) {
        let detail: TaskStateChange = self.timeline.advance(status, Utc::now());
        tracing::info!(
            job_id = %self.started_by.job_id,
            attempt = self.started_by.attempt,
            last_status = %detail.last_status,
            version = detail.version,
            exit_code = detail.containers.first().and_then(|c| c.exit_code),
            stop_code = detail.stop_code.as_deref(),
            "task state change"
        );
        let event = eventbridge_envelope(&detail, &uuid::Uuid::new_v4().to_string(), ACCOUNT, REGION);
        lock(&self.states).insert(detail.task_arn.clone(), detail);
        // The receiver only goes away when the whole server stops.
        let _ = self.events.send(event);
    }

    async fn pause(&mut self) {
        if !*self.shutdown.borrow() {
            tokio::time::sleep(STEP).await;
        }
    }

    /// From PROVISIONING (emitted by the launch) to STOPPED.
    async fn play(mut self) {
        use EcsTaskStatus::*;
        self.pause().await;
        self.emit(Pending);
        self.pause().await;
        self.emit(Activating);
        self.pause().await;

        if *self.shutdown.borrow() {
            self.timeline.stopping_because(
                "UserInitiated",
                "Task stopped before it started: the local server shut down",
            );
            return self.stop().await;
        }
        let mut child = match self.spawn() {
            Ok(child) => child,
            Err(reason) => {
                tracing::warn!(job_id = %self.started_by.job_id, %reason, "task failed to start");
                self.timeline.failed_to_start(&reason);
                return self.stop().await;
            }
        };
        self.emit(Running);

        let status = tokio::select! {
            status = child.wait() => status,
            () = shutting_down(self.shutdown.clone()) => {
                self.timeline.stopping_because("UserInitiated", "Task stopped because the local server shut down");
                stop_gracefully(&mut child).await
            }
        };
        // As Docker reports it: the exit code, or 128 + the signal that ended the process.
        let exit_code = match status {
            Ok(status) => status.code().or_else(|| status.signal().map(|s| 128 + s)),
            Err(_) => None,
        };
        match exit_code {
            Some(code) => self.timeline.container_exited(CONTAINER, code),
            None => self.timeline.container_stopped_without_exit_code(CONTAINER),
        }
        if self.timeline.stop_code().is_none() {
            self.timeline
                .stopping_because("EssentialContainerExited", "Essential container in task exited");
        }
        self.stop().await;
    }

    async fn stop(&mut self) {
        use EcsTaskStatus::*;
        for status in [Deactivating, Stopping, Deprovisioning] {
            self.emit(status);
            self.pause().await;
        }
        self.emit(Stopped);
    }

    /// The container: the definition's command, with its fixed environment, then
    /// `JOB_ID`, `JOB_ATTEMPT` and the parameters, writing to the attempt's log file.
    fn spawn(&self) -> Result<tokio::process::Child, String> {
        let log = std::fs::File::create(&self.log_path)
            .map_err(|e| format!("CannotCreateContainerError: log file {}: {e}", self.log_path.display()))?;
        let stderr = log
            .try_clone()
            .map_err(|e| format!("CannotCreateContainerError: log file {}: {e}", self.log_path.display()))?;
        tokio::process::Command::new(&self.command.program)
            .args(&self.command.args)
            .envs(&self.command.environment)
            .envs(self.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true)
            // Its own process group, so that stopping the task stops everything it started.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("CannotStartContainerError: {}: {e}", self.command.program))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shared::domain::JobId;

    use super::*;

    fn runner(events: mpsc::UnboundedSender<Value>) -> LocalTaskRunner {
        let command = LocalCommand {
            program: "true".to_owned(),
            args: Vec::new(),
            environment: BTreeMap::new(),
            description: None,
        };
        LocalTaskRunner::new(
            HashMap::from([("ok".to_owned(), command)]),
            std::env::temp_dir(),
            events,
        )
    }

    fn request(started_by: StartedBy) -> TaskRequest {
        TaskRequest {
            task_definition: "ok".to_owned(),
            container: CONTAINER.to_owned(),
            environment: Vec::new(),
            started_by,
        }
    }

    fn attempt() -> StartedBy {
        StartedBy {
            job_id: JobId::random(),
            attempt: 1,
        }
    }

    #[tokio::test]
    async fn describes_each_task_as_its_latest_event_whether_delivered_or_not() {
        let (events, mut emitted) = mpsc::unbounded_channel();
        let runner = runner(events);
        let started_by = attempt();
        let Ok(Launched::Started { task_arn }) = runner.launch(&request(started_by)).await else {
            panic!("not started")
        };
        // Known from RunTask's answer on, before any event is read.
        let lookups = runner.describe(std::slice::from_ref(&task_arn)).await.expect("answers");
        let [TaskLookup::Found(first)] = lookups.as_slice() else {
            panic!("not found: {lookups:?}")
        };
        assert_eq!((first.last_status, first.version), (EcsTaskStatus::Provisioning, 1));
        assert_eq!(first.started_by, Some(started_by));
        assert_eq!(runner.find(started_by).await.expect("answers"), Some(task_arn.clone()));
        assert_eq!(runner.find(attempt()).await.expect("answers"), None);

        let mut last = None;
        while let Some(event) = emitted.recv().await {
            let stopped = event["detail"]["lastStatus"] == "STOPPED";
            last = Some(event);
            if stopped {
                break;
            }
        }
        let last = last.expect("events");
        let lookups = runner
            .describe(&[
                task_arn.clone(),
                "arn:aws:ecs:local:000000000000:task/local/unknown".to_owned(),
            ])
            .await
            .expect("answers");
        let TaskLookup::Found(now) = &lookups[0] else {
            panic!("not found")
        };
        assert_eq!(now.last_status, EcsTaskStatus::Stopped);
        assert_eq!(Some(now.version), last["detail"]["version"].as_u64());
        assert_eq!(now.containers[0].exit_code, Some(0));
        assert_eq!(now.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert!(matches!(&lookups[1], TaskLookup::Missing { task_arn } if task_arn.ends_with("/unknown")));
    }

    #[tokio::test]
    async fn launch_faults_start_no_task() {
        let (events, mut emitted) = mpsc::unbounded_channel();
        let runner = runner(events).with_faults(LaunchFaults::new(1, 1));
        let started_by = attempt();
        assert_eq!(
            runner.launch(&request(started_by)).await.expect("answer"),
            Launched::Throttled
        );
        assert_eq!(
            runner.launch(&request(started_by)).await.expect("answer"),
            Launched::Refused(LaunchRefusal::NoCapacity)
        );
        assert_eq!(runner.find(started_by).await.expect("answers"), None);
        assert!(emitted.try_recv().is_err(), "no task, no event");
        let Ok(Launched::Started { task_arn }) = runner.launch(&request(started_by)).await else {
            panic!("not started")
        };
        // The same token, the same task.
        assert_eq!(
            runner.launch(&request(started_by)).await.expect("answer"),
            Launched::Started { task_arn }
        );
        runner.shut_down().await;
    }
}
