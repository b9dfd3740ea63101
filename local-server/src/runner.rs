//! A [`TaskLauncher`] that plays ECS on this machine: each task is a child process, and
//! its life is reported as the EventBridge "ECS Task State Change" events Fargate would
//! send (PROVISIONING … STOPPED, increasing `version`, cumulative timestamps, `stopCode`,
//! the container's `exitCode`; `TaskFailedToStart` with no containers when the command
//! cannot start).
//!
//! It is also the reconciler's [`TaskInspector`]: like `DescribeTasks`, it answers each
//! task's current state (the same fields and `version` as its latest event, whether or
//! not that event was delivered), and like `ListTasks` by `startedBy`, the task an
//! attempt's launch started. And it is the [`TaskStopper`] of a cancel or a timeout: like
//! `StopTask`, SIGTERM to the task's processes, SIGKILL [`STOP_TIMEOUT`] later, and the
//! task reports stopCode `UserInitiated` with the reason it was given.

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
    InspectError, LaunchError, LaunchRefusal, Launched, StopError, TaskInspector, TaskLauncher, TaskLookup,
    TaskRequest, TaskStopper,
};
use shared::testing::fargate::{eventbridge_envelope, TaskTimeline};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::definitions::{LocalCommand, CONTAINER};
use crate::hostile::LaunchFaults;
use crate::logs::stream_path;

/// How long a stopped task's processes get between SIGTERM and SIGKILL (ECS's
/// `stopTimeout` defaults to 30 s; locally, a person is waiting at Ctrl-C).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two lifecycle events, so that a client polling the job can watch
/// it move as it would on Fargate (where each step takes seconds).
const STEP: Duration = Duration::from_millis(300);
pub const CLUSTER_ARN: &str = "arn:aws:ecs:local:000000000000:cluster/local";
const ACCOUNT: &str = "000000000000";
const REGION: &str = "local";
/// The stop code of a task stopped through StopTask (and of one the server's shutdown
/// stops, which is what it plays).
const USER_INITIATED: &str = "UserInitiated";
/// ECS keeps this many characters of a StopTask's reason.
const MAX_STOP_REASON: usize = 255;

pub struct LocalTaskRunner {
    commands: HashMap<String, LocalCommand>,
    log_dir: PathBuf,
    events: mpsc::UnboundedSender<Value>,
    /// RunTask's `clientToken` semantics: one task per attempt, however often launched.
    tasks: Mutex<HashMap<String, String>>,
    /// Each task's current state (its latest event's detail), by task ARN: what
    /// `DescribeTasks` answers.
    states: TaskStates,
    /// Each task's StopTask request (the first reason given), by task ARN; its player
    /// watches it.
    stops: TaskStops,
    /// RunTask calls that fail on purpose (`--throttle-launches`, `--no-capacity-launches`).
    faults: LaunchFaults,
    players: Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
}

type TaskStates = Arc<Mutex<HashMap<String, TaskStateChange>>>;
/// Each running task's StopTask channel (the first reason given), by task ARN.
type TaskStops = Arc<Mutex<HashMap<String, watch::Sender<Option<String>>>>>;

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
            stops: TaskStops::default(),
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

    /// Where the output of a task goes: `<log dir>/<definition>/<container>/<task id>`,
    /// the stream `awslogs` would write with the definition's name as its prefix (see
    /// [`crate::logs`]). `None` for a name that is not a plain relative path.
    pub fn log_path(&self, task_definition: &str, container: &str, task_arn: &str) -> Option<PathBuf> {
        let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
        stream_path(&self.log_dir, &format!("{task_definition}/{container}/{task_id}"))
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
        let (stop, stop_requested) = watch::channel(None);
        lock(&self.stops).insert(task_arn.clone(), stop);

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
            log_path: self.log_path(&request.task_definition, &request.container, &task_arn),
            events: self.events.clone(),
            states: self.states.clone(),
            stops: self.stops.clone(),
            shutdown: self.shutdown.subscribe(),
            stop: stop_requested,
            last_status: EcsTaskStatus::Provisioning,
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

impl TaskStopper for LocalTaskRunner {
    /// StopTask: the task's player stops it (see [`Task::play`]) and reports it, as ECS
    /// does, through DEACTIVATING … STOPPED with stopCode `UserInitiated` and `reason` as
    /// its `stoppedReason`. A task that has stopped, is stopping already, or is unknown is
    /// left as it is.
    async fn stop(&self, task_arn: &str, reason: &str) -> Result<(), StopError> {
        let last_status = lock(&self.states).get(task_arn).map(|detail| detail.last_status);
        let stops = lock(&self.stops);
        let outcome = match (last_status, stops.get(task_arn)) {
            (Some(EcsTaskStatus::Stopped), _) => "stopped already",
            (None, _) | (_, None) => "unknown task: nothing to stop",
            (Some(_), Some(stop)) => {
                let first = stop.send_if_modified(|requested| {
                    let first = requested.is_none();
                    if first {
                        *requested = Some(reason.chars().take(MAX_STOP_REASON).collect());
                    }
                    first
                });
                if first {
                    "stopping"
                } else {
                    "asked to stop already"
                }
            }
        };
        tracing::info!(task_arn, reason, outcome, "StopTask");
        Ok(())
    }
}

/// As ECS stops a container: SIGTERM to the whole process group, SIGKILL after
/// [`STOP_TIMEOUT`] to whatever of it is left, the command itself or anything it started
/// that outlived it. Answers how the command ended.
async fn stop_gracefully(
    child: &mut tokio::process::Child,
    group: Option<Pid>,
) -> std::io::Result<std::process::ExitStatus> {
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            end_group(group);
            child.wait().await
        }
    };
    // The command may have gone while processes it started ignore SIGTERM.
    while group.is_some_and(group_alive) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    end_group(group);
    status
}

/// Whether any process of the group is still there.
fn group_alive(group: Pid) -> bool {
    killpg(group, None).is_ok()
}

/// SIGKILL to whatever is left of the group: when a task's command ends, so does
/// everything it started, as a container's processes end with the container.
fn end_group(group: Option<Pid>) {
    if let Some(group) = group.filter(|group| group_alive(*group)) {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// Why a task is to stop before its container exits by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StopRequest {
    /// StopTask, with its reason.
    StopTask(String),
    /// The local server is shutting down.
    Shutdown,
}

impl StopRequest {
    /// The task's `stoppedReason`.
    fn reason(&self, started: bool) -> String {
        match (self, started) {
            (Self::StopTask(reason), _) => reason.clone(),
            (Self::Shutdown, true) => "Task stopped because the local server shut down".to_owned(),
            (Self::Shutdown, false) => "Task stopped before it started: the local server shut down".to_owned(),
        }
    }
}

/// Waits for a StopTask or the server's shutdown, whichever comes first.
async fn stop_requested(mut stop: watch::Receiver<Option<String>>, mut shutdown: watch::Receiver<bool>) -> StopRequest {
    let stop_task = async {
        let reason = stop.wait_for(Option::is_some).await.map(|reason| reason.clone());
        match reason {
            Ok(reason) => StopRequest::StopTask(reason.unwrap_or_default()),
            // The runner is gone: only the shutdown can stop the task now.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        request = stop_task => request,
        // An error means the runner is gone, which is a shutdown too.
        _ = shutdown.wait_for(|stop| *stop) => StopRequest::Shutdown,
    }
}

/// Ends the file at `path` with a newline if it does not end with one.
fn end_last_line(path: &std::path::Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let ended = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().read(true).append(true).open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(());
        }
        let mut last = [0u8];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
        Ok(())
    };
    if let Err(e) = ended() {
        tracing::warn!(path = %path.display(), error = %e, "cannot end the log's last line");
    }
}

/// One task from PROVISIONING to STOPPED.
struct Task {
    timeline: TaskTimeline,
    started_by: StartedBy,
    command: LocalCommand,
    environment: Vec<(String, String)>,
    log_path: Option<PathBuf>,
    events: mpsc::UnboundedSender<Value>,
    states: TaskStates,
    /// The runner's StopTask channels: this task's is removed once it has stopped.
    stops: TaskStops,
    shutdown: watch::Receiver<bool>,
    /// The reason of a StopTask, once one arrives.
    stop: watch::Receiver<Option<String>>,
    /// The status of the latest event.
    last_status: EcsTaskStatus,
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
        self.last_status = detail.last_status;
        let event = eventbridge_envelope(&detail, &uuid::Uuid::new_v4().to_string(), ACCOUNT, REGION);
        if detail.last_status == EcsTaskStatus::Stopped {
            lock(&self.stops).remove(&detail.task_arn);
        }
        lock(&self.states).insert(detail.task_arn.clone(), detail);
        // The receiver only goes away when the whole server stops.
        let _ = self.events.send(event);
    }

    async fn pause(&mut self) {
        if !*self.shutdown.borrow() {
            tokio::time::sleep(STEP).await;
        }
    }

    /// Whether a StopTask or the shutdown has come before the container started: then
    /// it never starts, and the task is stopping with stopCode `UserInitiated`.
    fn stopped_before_start(&mut self) -> bool {
        let request = match self.stop.borrow().clone() {
            Some(reason) => StopRequest::StopTask(reason),
            None if *self.shutdown.borrow() => StopRequest::Shutdown,
            None => return false,
        };
        self.timeline.stopping_because(USER_INITIATED, &request.reason(false));
        true
    }

    /// From PROVISIONING (emitted by the launch) to STOPPED. A stop that comes before the
    /// container starts means it never starts; one that comes while it runs stops it as
    /// ECS does (SIGTERM, SIGKILL [`STOP_TIMEOUT`] later), and the task reports the
    /// container's exit code as Docker does: its own, or 128 + the signal that ended it.
    async fn play(mut self) {
        use EcsTaskStatus::*;
        for status in [Pending, Activating] {
            self.pause().await;
            if self.stopped_before_start() {
                return self.stop().await;
            }
            self.emit(status);
        }
        self.pause().await;
        if self.stopped_before_start() {
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
        // The group of the command's processes: its own (see `spawn`), named by its pid,
        // which the child no longer tells once it has been waited for.
        let group = child.id().and_then(|pid| i32::try_from(pid).ok()).map(Pid::from_raw);

        let status = tokio::select! {
            // A command that exits just as a stop arrives has exited by itself, as on ECS.
            biased;
            status = child.wait() => {
                end_group(group);
                status
            }
            request = stop_requested(self.stop.clone(), self.shutdown.clone()) => {
                self.timeline.stopping_because(USER_INITIATED, &request.reason(true));
                // As on Fargate, the task shows it is stopping before its container is
                // told to: the reason is visible while the container takes its time.
                self.emit(Deactivating);
                self.pause().await;
                self.emit(Stopping);
                stop_gracefully(&mut child, group).await
            }
        };
        // Every process of the task has ended: its log is complete. A last line without
        // its newline gets one, as the awslogs driver sends a last partial line, so that
        // the log reader (which reads complete lines) shows it too.
        if let Some(path) = &self.log_path {
            end_last_line(path);
        }
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

    /// The stopping statuses not reported yet, then STOPPED.
    async fn stop(&mut self) {
        use EcsTaskStatus::*;
        for status in [Deactivating, Stopping, Deprovisioning] {
            if self.last_status < status {
                self.emit(status);
                self.pause().await;
            }
        }
        self.emit(Stopped);
    }

    /// The container: the definition's command, with its fixed environment, then
    /// `JOB_ID`, `JOB_ATTEMPT` and the parameters, writing to the attempt's log file.
    fn spawn(&self) -> Result<tokio::process::Child, String> {
        let path = self
            .log_path
            .as_deref()
            .ok_or("CannotCreateContainerError: the log stream is not a plain relative path")?;
        let cannot = |e: std::io::Error| format!("CannotCreateContainerError: log file {}: {e}", path.display());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(cannot)?;
        }
        let log = std::fs::File::create(path).map_err(cannot)?;
        let stderr = log.try_clone().map_err(cannot)?;
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
    use tokio::time::Instant;

    use super::*;

    /// `ok` exits 0 at once; `sleep` runs until stopped; `stubborn` ignores SIGTERM;
    /// `polite` exits 7 on SIGTERM; `partial` writes a last line without its newline;
    /// `../escape` names no plain directory.
    fn runner(events: mpsc::UnboundedSender<Value>) -> LocalTaskRunner {
        let shell = |script: &str| LocalCommand {
            program: "sh".to_owned(),
            args: vec!["-c".to_owned(), script.to_owned()],
            environment: BTreeMap::new(),
            description: None,
        };
        let log_dir = std::env::temp_dir().join(format!("local-runner-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&log_dir).expect("a log directory");
        LocalTaskRunner::new(
            HashMap::from([
                ("ok".to_owned(), shell("exit 0")),
                ("sleep".to_owned(), shell("sleep 30")),
                ("stubborn".to_owned(), shell("trap '' TERM; sleep 30")),
                (
                    "polite".to_owned(),
                    shell("trap 'exit 7' TERM; while :; do sleep 0.1; done"),
                ),
                ("partial".to_owned(), shell("echo one; echo two >&2; printf three")),
                ("../escape".to_owned(), shell("echo out")),
            ]),
            log_dir,
            events,
        )
    }

    fn request(started_by: StartedBy) -> TaskRequest {
        request_of("ok", started_by)
    }

    fn request_of(definition: &str, started_by: StartedBy) -> TaskRequest {
        TaskRequest {
            task_definition: definition.to_owned(),
            container: CONTAINER.to_owned(),
            environment: Vec::new(),
            started_by,
        }
    }

    /// Launches a task of `definition`, and reads its events up to the first with
    /// `status` (inclusive).
    async fn launched_until(
        runner: &LocalTaskRunner,
        emitted: &mut mpsc::UnboundedReceiver<Value>,
        definition: &str,
        status: &str,
    ) -> (String, StartedBy) {
        let started_by = attempt();
        let Ok(Launched::Started { task_arn }) = runner.launch(&request_of(definition, started_by)).await else {
            panic!("not started")
        };
        loop {
            let event = emitted.recv().await.expect("an event");
            if event["detail"]["lastStatus"] == status {
                return (task_arn, started_by);
            }
        }
    }

    /// The events up to STOPPED (inclusive).
    async fn until_stopped(emitted: &mut mpsc::UnboundedReceiver<Value>) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let event = emitted.recv().await.expect("an event");
            let stopped = event["detail"]["lastStatus"] == "STOPPED";
            events.push(event);
            if stopped {
                return events;
            }
        }
    }

    fn statuses(events: &[Value]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e["detail"]["lastStatus"].as_str().unwrap_or_default())
            .collect()
    }

    async fn described(runner: &LocalTaskRunner, task_arn: &str) -> shared::domain::TaskObservation {
        match runner
            .describe(&[task_arn.to_owned()])
            .await
            .expect("answers")
            .as_slice()
        {
            [TaskLookup::Found(task)] => task.clone(),
            other => panic!("not found: {other:?}"),
        }
    }

    #[tokio::test]
    async fn stop_task_stops_a_running_task_as_ecs_does_and_only_once() {
        let (events, mut emitted) = mpsc::unbounded_channel();
        let runner = runner(events);
        let (task_arn, _) = launched_until(&runner, &mut emitted, "sleep", "RUNNING").await;

        runner.stop(&task_arn, "timed out after 3 s").await.expect("stops");
        let stopping = until_stopped(&mut emitted).await;
        assert_eq!(
            statuses(&stopping),
            ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
        );
        for event in &stopping {
            let detail = &event["detail"];
            assert_eq!(detail["stopCode"], "UserInitiated", "{event}");
            assert_eq!(detail["stoppedReason"], "timed out after 3 s", "{event}");
            assert_eq!(detail["desiredStatus"], "STOPPED", "{event}");
        }
        // The shell was ended by SIGTERM: 128 + 15, as ECS reports a signalled container.
        let last = &stopping[3]["detail"];
        assert_eq!(last["containers"][0]["exitCode"], 143, "{last}");
        assert!(
            last["stoppingAt"].is_string() && last["stoppedAt"].is_string(),
            "{last}"
        );

        // DescribeTasks answers what the last event said.
        let now = described(&runner, &task_arn).await;
        assert_eq!(now.last_status, EcsTaskStatus::Stopped);
        assert_eq!(Some(now.version), last["version"].as_u64());
        assert_eq!(now.stop_code.as_deref(), Some("UserInitiated"));
        assert_eq!(now.stopped_reason.as_deref(), Some("timed out after 3 s"));
        assert_eq!(now.containers[0].exit_code, Some(143));

        // A stopped task, or one ECS never ran, is stopped already: nothing changes.
        runner.stop(&task_arn, "cancelled").await.expect("a no-op");
        runner
            .stop("arn:aws:ecs:local:000000000000:task/local/unknown", "cancelled")
            .await
            .expect("a no-op");
        tokio::time::sleep(STEP * 2).await;
        assert!(emitted.try_recv().is_err(), "no event after STOPPED");
        assert_eq!(described(&runner, &task_arn).await, now);
    }

    #[tokio::test]
    async fn a_container_that_ignores_sigterm_is_killed_and_one_that_handles_it_reports_its_own_code() {
        let (events, mut stubborn_events) = mpsc::unbounded_channel();
        let stubborn = runner(events);
        let (events, mut polite_events) = mpsc::unbounded_channel();
        let polite = runner(events);
        let (stubborn_arn, _) = launched_until(&stubborn, &mut stubborn_events, "stubborn", "RUNNING").await;
        let (polite_arn, _) = launched_until(&polite, &mut polite_events, "polite", "RUNNING").await;

        let asked = Instant::now();
        stubborn.stop(&stubborn_arn, "cancelled").await.expect("stops");
        polite.stop(&polite_arn, "cancelled").await.expect("stops");
        let (stubborn_stopping, polite_stopping) =
            tokio::join!(until_stopped(&mut stubborn_events), until_stopped(&mut polite_events));

        // SIGKILL, STOP_TIMEOUT after SIGTERM: 128 + 9.
        let last = &stubborn_stopping.last().expect("STOPPED")["detail"];
        assert_eq!(last["containers"][0]["exitCode"], 137, "{last}");
        assert_eq!(last["stopCode"], "UserInitiated", "{last}");
        assert!(asked.elapsed() >= STOP_TIMEOUT, "{:?}", asked.elapsed());
        // Its own exit code, on SIGTERM, long before the SIGKILL would have come.
        let last = &polite_stopping.last().expect("STOPPED")["detail"];
        assert_eq!(last["containers"][0]["exitCode"], 7, "{last}");
        assert_eq!(last["stopCode"], "UserInitiated", "{last}");
        assert!(
            time_of(last, "stoppedAt") - time_of(last, "stoppingAt")
                < chrono::Duration::from_std(STOP_TIMEOUT).unwrap_or_default(),
            "{last}"
        );
    }

    fn time_of(detail: &Value, field: &str) -> chrono::DateTime<Utc> {
        detail[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("no {field} in {detail}"))
            .into()
    }

    /// A command that leaves a process behind, which writes its pid to a file: one that
    /// ignores SIGTERM (`stop` ends the command), or one left when the command exits 1.
    fn leaving_behind(script: &str) -> (LocalTaskRunner, mpsc::UnboundedReceiver<Value>, PathBuf) {
        let (events, emitted) = mpsc::unbounded_channel();
        let pid_file = std::env::temp_dir().join(format!("left-behind-{}", uuid::Uuid::new_v4().simple()));
        let command = LocalCommand {
            program: "sh".to_owned(),
            args: vec!["-c".to_owned(), script.to_owned()],
            environment: BTreeMap::from([("PID_FILE".to_owned(), pid_file.display().to_string())]),
            description: None,
        };
        let log_dir = std::env::temp_dir().join(format!("local-runner-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&log_dir).expect("a log directory");
        let runner = LocalTaskRunner::new(HashMap::from([("leaves".to_owned(), command)]), log_dir, events);
        (runner, emitted, pid_file)
    }

    /// Whether the process the command left behind still runs (a zombie waiting for its
    /// new parent to reap it does not).
    fn still_runs(pid_file: &std::path::Path) -> bool {
        let pid = std::fs::read_to_string(pid_file).expect("the pid file");
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    }

    #[tokio::test]
    async fn nothing_a_task_started_outlives_it() {
        // Stopped: the command goes on SIGTERM, what it started ignores SIGTERM and is
        // killed with the rest of its group.
        let (runner, mut emitted, pid_file) =
            leaving_behind("(trap '' TERM; exec sleep 600) & echo $! > \"$PID_FILE\"; wait");
        let (task_arn, _) = launched_until(&runner, &mut emitted, "leaves", "RUNNING").await;
        tokio::time::sleep(STEP).await;
        assert!(still_runs(&pid_file));
        runner.stop(&task_arn, "cancelled").await.expect("stops");
        until_stopped(&mut emitted).await;
        assert!(!still_runs(&pid_file), "a process of the stopped task still runs");
        let _ = std::fs::remove_file(&pid_file);

        // Exited by itself: what it left running ends with it.
        let (runner, mut emitted, pid_file) = leaving_behind("sleep 600 & echo $! > \"$PID_FILE\"; exit 1");
        launched_until(&runner, &mut emitted, "leaves", "RUNNING").await;
        let stopped = until_stopped(&mut emitted).await;
        let last = &stopped.last().expect("STOPPED")["detail"];
        assert_eq!(last["containers"][0]["exitCode"], 1, "{last}");
        assert!(!still_runs(&pid_file), "a process of the finished task still runs");
        let _ = std::fs::remove_file(&pid_file);
    }

    #[tokio::test]
    async fn a_task_stopped_before_it_runs_never_starts_its_container() {
        for stopped_at in ["PROVISIONING", "PENDING", "ACTIVATING"] {
            let (events, mut emitted) = mpsc::unbounded_channel();
            let runner = runner(events);
            let (task_arn, _) = launched_until(&runner, &mut emitted, "sleep", stopped_at).await;
            runner.stop(&task_arn, "cancelled").await.expect("stops");
            let rest = until_stopped(&mut emitted).await;

            assert_eq!(
                statuses(&rest),
                ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"],
                "stopped at {stopped_at}"
            );
            let last = &rest[3]["detail"];
            assert_eq!(last["stopCode"], "UserInitiated", "{last}");
            assert_eq!(last["stoppedReason"], "cancelled", "{last}");
            assert_eq!(last["startedAt"], Value::Null, "{last}");
            assert_eq!(last["containers"][0]["exitCode"], Value::Null, "{last}");
            let log = runner.log_path("sleep", CONTAINER, &task_arn).expect("a log path");
            assert!(!log.exists(), "the container never started");
            let now = described(&runner, &task_arn).await;
            assert_eq!(
                (now.last_status, now.stop_code.as_deref()),
                (EcsTaskStatus::Stopped, Some("UserInitiated"))
            );
        }
    }

    #[tokio::test]
    async fn a_task_logs_to_its_stream_file_and_its_last_line_is_ended() {
        let (events, mut emitted) = mpsc::unbounded_channel();
        let runner = runner(events);
        let (task_arn, _) = launched_until(&runner, &mut emitted, "partial", "RUNNING").await;
        until_stopped(&mut emitted).await;
        let task_id = task_arn.rsplit('/').next().expect("a task id");
        // <log dir>/<stream>, the stream as awslogs names it with the definition as prefix.
        let log = runner.log_dir.join("partial").join(CONTAINER).join(task_id);
        assert_eq!(runner.log_path("partial", CONTAINER, &task_arn), Some(log.clone()));
        assert_eq!(std::fs::read_to_string(&log).expect("the log"), "one\ntwo\nthree\n");
    }

    #[tokio::test]
    async fn a_definition_that_names_no_plain_directory_fails_to_start() {
        let (events, mut emitted) = mpsc::unbounded_channel();
        let runner = runner(events);
        let started_by = attempt();
        let Ok(Launched::Started { task_arn }) = runner.launch(&request_of("../escape", started_by)).await else {
            panic!("not started")
        };
        assert_eq!(runner.log_path("../escape", CONTAINER, &task_arn), None);
        let stopped = until_stopped(&mut emitted).await;
        let last = &stopped.last().expect("STOPPED")["detail"];
        assert_eq!(last["stopCode"], "TaskFailedToStart", "{last}");
        let parent = runner.log_dir.parent().expect("a parent");
        assert!(
            !parent.join("escape").exists(),
            "nothing written outside the log directory"
        );
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

        // A StopTask after the task stopped by itself changes nothing.
        runner.stop(&task_arn, "cancelled").await.expect("a no-op");
        assert_eq!(described(&runner, &task_arn).await, *now);
        assert!(emitted.try_recv().is_err(), "no event after STOPPED");
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
