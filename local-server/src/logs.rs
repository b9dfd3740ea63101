//! Job logs on this machine: the [`LogReader`] over the files the task runner writes.
//!
//! The runner writes each task's output (stdout and stderr) to `<log dir>/<stream>`,
//! where the stream is named as the `awslogs` driver names it on Fargate and as
//! [`shared::domain::Job::log_location`] computes it: `<definition>/<container>/<task id>`
//! (each local definition's `streamPrefix` is its name; its group, `local`, names no
//! directory). So `GET /jobs/{id}/logs` reads the very file the job wrote.
//!
//! A position is a byte offset into the file, as a decimal string. A page is the complete
//! lines (ending in `\n`) from that offset, at most [`PAGE_LINES`] of them: a last line
//! still being written is left for the next read (when its task stops, the runner ends
//! the file with a `\n`, as the `awslogs` driver flushes a last partial line, so no line
//! is ever lost). A file keeps no time per line: every event of a page carries the
//! file's modification time, which is the time of its latest line, so at worst a line is
//! stamped later than it was written.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use shared::domain::LogLocation;
use shared::ports::{LogError, LogEvent, LogPage, LogReader};

/// Lines per page, as the CloudWatch Logs reader pages them.
pub const PAGE_LINES: usize = 500;
/// Bytes read for one page at most: a page a person reads, and an API answer well under
/// API Gateway's limit. A single line longer than this comes in pieces of this size.
pub const PAGE_BYTES: u64 = 1024 * 1024;

/// The path of `stream` in `dir`, or `None` if the stream is not a relative path of plain
/// names (no `..`, no `.`, no root, no empty name): a stream never leaves its directory.
pub fn stream_path(dir: &Path, stream: &str) -> Option<PathBuf> {
    if stream.is_empty() || stream.contains('\0') || stream.split('/').any(str::is_empty) {
        return None;
    }
    let relative = Path::new(stream);
    relative
        .components()
        .all(|part| matches!(part, Component::Normal(_)))
        .then(|| dir.join(relative))
}

/// Reads the logs the local task runner writes under one directory.
#[derive(Debug, Clone)]
pub struct LocalLogReader {
    dir: PathBuf,
}

impl LocalLogReader {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl LogReader for LocalLogReader {
    async fn read(&self, at: &LogLocation, from: Option<&str>) -> Result<LogPage, LogError> {
        let path = stream_path(&self.dir, &at.stream).ok_or_else(|| {
            LogError::Unavailable(format!("log stream {:?} is not a relative path of plain names", at.stream).into())
        })?;
        let from = from.map(str::to_owned);
        tokio::task::spawn_blocking(move || read_page(&path, from.as_deref()))
            .await
            .map_err(|e| LogError::Unavailable(Box::new(e)))?
    }
}

/// A byte offset written as this reader writes it: decimal digits only.
fn offset_of(position: &str) -> Result<u64, LogError> {
    if position.is_empty() || !position.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LogError::InvalidPosition);
    }
    position.parse().map_err(|_| LogError::InvalidPosition)
}

/// One page of the file at `path` from `from` (see the module's documentation).
pub fn read_page(path: &Path, from: Option<&str>) -> Result<LogPage, LogError> {
    let offset = from.map(offset_of).transpose()?.unwrap_or(0);
    let file = match File::open(path) {
        Ok(file) => file,
        // The container has not started (or never will): nothing yet, as CloudWatch
        // answers for a stream that does not exist.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(LogPage {
                events: Vec::new(),
                next: from.unwrap_or_default().to_owned(),
                caught_up: true,
            })
        }
        Err(e) => return Err(LogError::Unavailable(Box::new(e))),
    };
    let metadata = file.metadata().map_err(|e| LogError::Unavailable(Box::new(e)))?;
    // A file only grows: a position past its end was never handed out.
    if offset > metadata.len() {
        return Err(LogError::InvalidPosition);
    }
    let timestamp = metadata
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(|e| LogError::Unavailable(Box::new(e)))?;
    let mut page = reader.take(PAGE_BYTES);
    let mut events = Vec::new();
    let mut next = offset;
    let mut line = Vec::new();
    while events.len() < PAGE_LINES {
        line.clear();
        let read = page
            .read_until(b'\n', &mut line)
            .map_err(|e| LogError::Unavailable(Box::new(e)))?;
        let complete = line.last() == Some(&b'\n');
        // A line longer than a whole page is cut, rather than never shown.
        let cut = !complete && events.is_empty() && read as u64 == PAGE_BYTES;
        if read == 0 || !(complete || cut) {
            break;
        }
        next += read as u64;
        if complete {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        events.push(LogEvent {
            timestamp,
            message: String::from_utf8_lossy(&line).into_owned(),
        });
        if cut {
            break;
        }
    }
    Ok(LogPage {
        caught_up: from.is_some() && events.is_empty(),
        events,
        next: next.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("local-logs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    }

    fn location(stream: &str) -> LogLocation {
        LogLocation {
            group: "local".to_owned(),
            stream: stream.to_owned(),
            console_url: None,
        }
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the log opens")
            .write_all(text.as_bytes())
            .expect("written");
    }

    fn messages(page: &LogPage) -> Vec<&str> {
        page.events.iter().map(|e| e.message.as_str()).collect()
    }

    #[tokio::test]
    async fn reads_complete_lines_from_an_offset_and_follows_the_file() {
        let dir = scratch();
        let reader = LocalLogReader::new(&dir);
        let at = location("report/app/0123abcd");
        std::fs::create_dir_all(dir.join("report/app")).expect("dirs");
        let path = dir.join("report/app/0123abcd");
        append(&path, "first\nsecond\r\nthird, unfinish");

        let page = reader.read(&at, None).await.expect("reads");
        assert_eq!(messages(&page), ["first", "second"]);
        assert_eq!(page.next, "14", "past \"second\\r\\n\", before the partial line");
        assert!(!page.caught_up, "a first read is never caught up");
        let modified: DateTime<Utc> = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime")
            .into();
        assert!(
            page.events.iter().all(|e| e.timestamp == modified),
            "stamped with the file's mtime"
        );

        // The partial line waits; nothing complete remains: caught up, same position.
        let again = reader.read(&at, Some(&page.next)).await.expect("reads");
        assert_eq!(
            (messages(&again), again.next.as_str(), again.caught_up),
            (vec![], "14", true)
        );

        append(&path, "ed\nfourth\n");
        let more = reader.read(&at, Some(&page.next)).await.expect("reads");
        assert_eq!(messages(&more), ["third, unfinished", "fourth"]);
        assert!(!more.caught_up);
        let end = std::fs::metadata(&path).expect("metadata").len();
        assert_eq!(more.next, end.to_string());
        let done = reader.read(&at, Some(&more.next)).await.expect("reads");
        assert!(done.events.is_empty() && done.caught_up && done.next == more.next);

        // Any offset handed out reads on from there.
        let middle = reader.read(&at, Some("6")).await.expect("reads");
        assert_eq!(messages(&middle), ["second", "third, unfinished", "fourth"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn pages_hold_at_most_500_lines() {
        let dir = scratch();
        let reader = LocalLogReader::new(&dir);
        let text: String = (1..=1201).map(|n| format!("line {n}\n")).collect();
        append(&dir.join("many"), &text);
        let at = location("many");
        let (mut from, mut pages, mut lines) = (None, Vec::new(), Vec::new());
        loop {
            let page = reader.read(&at, from.as_deref()).await.expect("reads");
            if page.caught_up {
                break;
            }
            pages.push(page.events.len());
            lines.extend(page.events.into_iter().map(|e| e.message));
            from = Some(page.next);
        }
        assert_eq!(pages, [500, 500, 201]);
        assert_eq!(lines, (1..=1201).map(|n| format!("line {n}")).collect::<Vec<_>>());
        assert_eq!(from.as_deref(), Some(text.len().to_string().as_str()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_line_longer_than_a_page_comes_in_pieces() {
        let dir = scratch();
        let reader = LocalLogReader::new(&dir);
        let long = "x".repeat(PAGE_BYTES as usize + 10);
        append(&dir.join("long"), &format!("{long}\nshort\n"));
        let at = location("long");
        let first = reader.read(&at, None).await.expect("reads");
        assert_eq!(first.events.len(), 1);
        assert_eq!(first.events[0].message.len(), PAGE_BYTES as usize);
        let rest = reader.read(&at, Some(&first.next)).await.expect("reads");
        assert_eq!(messages(&rest), ["x".repeat(10).as_str(), "short"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_missing_file_reads_empty_and_caught_up_at_the_same_position() {
        let dir = scratch();
        let reader = LocalLogReader::new(&dir);
        let at = location("report/app/not-started");
        let page = reader.read(&at, None).await.expect("reads");
        assert_eq!((page.events.len(), page.next.as_str(), page.caught_up), (0, "", true));
        let page = reader.read(&at, Some("0")).await.expect("reads");
        assert_eq!((page.events.len(), page.next.as_str(), page.caught_up), (0, "0", true));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn positions_it_never_handed_out_are_refused() {
        let dir = scratch();
        let reader = LocalLogReader::new(&dir);
        append(&dir.join("short"), "one\ntwo\n");
        let at = location("short");
        for bad in [
            "",
            "abc",
            "-1",
            "+4",
            " 4",
            "4 ",
            "1e3",
            "0x4",
            "99",
            "18446744073709551616",
        ] {
            assert!(
                matches!(reader.read(&at, Some(bad)).await, Err(LogError::InvalidPosition)),
                "{bad:?}"
            );
        }
        // Not even for a file that does not exist yet.
        assert!(matches!(
            reader.read(&location("missing"), Some("x")).await,
            Err(LogError::InvalidPosition)
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn streams_never_leave_the_log_directory() {
        let dir = scratch();
        let inside = dir.join("inside");
        std::fs::create_dir_all(&inside).expect("dirs");
        append(&dir.join("secret"), "not yours\n");
        let reader = LocalLogReader::new(&inside);
        for stream in [
            "../secret",
            "report/../../secret",
            "/etc/passwd",
            "./secret",
            "report//app",
            "report/app/",
            "",
            "..",
            "a\0b",
        ] {
            assert!(
                matches!(
                    reader.read(&location(stream), None).await,
                    Err(LogError::Unavailable(_))
                ),
                "{stream:?}"
            );
            assert_eq!(stream_path(&inside, stream), None, "{stream:?}");
        }
        assert_eq!(
            stream_path(&inside, "report/app/0123"),
            Some(inside.join("report").join("app").join("0123"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
