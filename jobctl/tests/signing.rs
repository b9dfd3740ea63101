//! jobctl's SigV4 headers are exactly botocore's (`SigV4Auth`, what the AWS CLI signs
//! with) for the same requests: fixed credentials with a session token, region, time,
//! bodies, a base path, encoded path segments and a query with repeated keys.
//!
//! botocore comes from the moto virtualenv that `scripts/devenv install` creates (the
//! test command runs it first). Without it this test fails, saying so: never a silent skip.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use jobctl::client::build_url;
use jobctl::signing::{sign, Request};
use serde_json::{json, Value};
use url::Url;

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCWV1LXdlc3QtMSJHMEUCIQ+token=";
/// 2026-11-27T12:00:00Z, the time both signers use.
const SIGNED_AT: u64 = 1_795_780_800;

/// botocore's SigV4Auth with its clock fixed; reads requests (JSON lines) on stdin and
/// prints the headers it added, one JSON object per line.
const BOTOCORE: &str = r#"
import datetime, json, sys
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

botocore.auth.get_current_datetime = lambda *args, **kwargs: datetime.datetime(2026, 11, 27, 12, 0, 0)
for line in sys.stdin:
    spec = json.loads(line)
    request = AWSRequest(method=spec["method"], url=spec["url"], data=spec["body"].encode(),
                         headers=dict(spec["headers"]))
    credentials = Credentials(spec["accessKey"], spec["secretKey"], spec["sessionToken"])
    SigV4Auth(credentials, "execute-api", spec["region"]).add_auth(request)
    added = {name.lower(): value for name, value in request.headers.items()
             if name.lower() in ("authorization", "x-amz-date", "x-amz-security-token")}
    print(json.dumps(added, sort_keys=True))
"#;

fn python() -> PathBuf {
    let python = common::workspace_root().join(".tools/moto/bin/python3");
    assert!(
        python.is_file(),
        "{} is missing: run `scripts/devenv install` (it creates the moto virtualenv with botocore) \
         before this test",
        python.display()
    );
    python
}

struct Case {
    method: &'static str,
    base: &'static str,
    segments: Vec<&'static str>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(String, String)>,
    body: &'static str,
    region: &'static str,
    session_token: Option<&'static str>,
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn cases() -> Vec<Case> {
    let accept = header("accept", "application/json");
    vec![
        // The list of a filtered page: repeated keys (in an order that is not sorted),
        // an instant and a token with characters that must be encoded.
        Case {
            method: "GET",
            base: "https://abc123.execute-api.eu-west-1.amazonaws.com",
            segments: vec!["jobs"],
            query: vec![
                ("status", "RUNNING".into()),
                ("status", "FAILED".into()),
                ("createdAfter", "2026-11-27T12:00:00.000+01:00".into()),
                ("limit", "5".into()),
                ("nextToken", "eyJrIjoiYS9iK2M9In0=/+ ~x".into()),
            ],
            headers: vec![accept.clone()],
            body: "",
            region: "eu-west-1",
            session_token: Some(SESSION_TOKEN),
        },
        // A submit with a JSON body and an idempotency key.
        Case {
            method: "POST",
            base: "https://abc123.execute-api.eu-west-1.amazonaws.com",
            segments: vec!["jobs"],
            query: vec![],
            headers: vec![
                header("content-type", "application/json"),
                header("idempotency-key", "nightly-2026-11-27"),
                accept.clone(),
            ],
            body: r#"{"definition":"report","parameters":{"REPORT_DATE":"2026-11-01"}}"#,
            region: "eu-west-1",
            session_token: Some(SESSION_TOKEN),
        },
        // A cancel under a stage's base path, with an id that needs encoding (encoded
        // once on the wire, twice in the canonical request), long-term credentials.
        Case {
            method: "DELETE",
            base: "https://abc123.execute-api.us-east-2.amazonaws.com/prod/",
            segments: vec!["jobs", "a b/c%d"],
            query: vec![],
            headers: vec![accept.clone()],
            body: "",
            region: "us-east-2",
            session_token: None,
        },
        // The logs of an attempt on a custom domain with a port (signed with --sigv4).
        Case {
            method: "GET",
            base: "https://jobs.example.com:8443",
            segments: vec!["jobs", "0f3c2a9e-0000-4000-8000-000000000001", "logs"],
            query: vec![
                ("attempt", "2".into()),
                ("nextToken", "f/00000000000000000000001".into()),
            ],
            headers: vec![accept],
            body: "",
            region: "ap-southeast-2",
            session_token: Some(SESSION_TOKEN),
        },
    ]
}

#[test]
fn authorization_headers_match_botocore() {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(SIGNED_AT);
    let cases = cases();
    let mut input = String::new();
    let mut ours = Vec::new();
    for case in &cases {
        let Ok(base) = Url::parse(case.base) else {
            panic!("{} is a URL", case.base)
        };
        let url = build_url(&base, &case.segments, &case.query);
        let credentials = Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            case.session_token.map(str::to_owned),
            None,
            "test",
        );
        let request = Request {
            method: case.method,
            url: url.as_str(),
            headers: &case.headers,
            body: case.body.as_bytes(),
        };
        let signed =
            sign(&request, &credentials, case.region, time).unwrap_or_else(|e| panic!("{} {url}: {e}", case.method));
        let signed: serde_json::Map<String, Value> = signed
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        ours.push((format!("{} {url}", case.method), Value::Object(signed)));
        let spec = json!({
            "method": case.method,
            "url": url.as_str(),
            "headers": case.headers,
            "body": case.body,
            "region": case.region,
            "accessKey": ACCESS_KEY,
            "secretKey": SECRET_KEY,
            "sessionToken": case.session_token,
        });
        input.push_str(&format!("{spec}\n"));
    }

    let mut child = Command::new(python())
        .args(["-c", BOTOCORE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("the moto virtualenv's python does not run: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("cannot feed python: {e}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("python did not finish: {e}"));
    assert!(
        output.status.success(),
        "botocore failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    assert_eq!(theirs.len(), ours.len(), "one answer per request");
    for ((request, ours), theirs) in ours.iter().zip(&theirs) {
        assert_eq!(ours, theirs, "{request}");
        assert!(
            ours["authorization"]
                .as_str()
                .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/")),
            "{request}: {ours}"
        );
    }
}

/// A server that checks each request's signature with botocore, as received on the
/// wire (path, query, signed headers and body as reqwest sent them): prints its port,
/// answers `REQUESTS` requests, then exits. A mismatch is answered 403, as API Gateway
/// answers a bad signature.
const VERIFIER: &str = r#"
import datetime, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS, SECRET, TOKEN, REGION, REQUESTS = sys.argv[1:6]

class Handler(BaseHTTPRequestHandler):
    def check(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        received = self.headers.get("authorization", "")
        signed = received.split("SignedHeaders=")[1].split(",")[0].split(";") if "SignedHeaders=" in received else []
        stamp = self.headers.get("x-amz-date", "")
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") if stamp else None
        botocore.auth.get_current_datetime = lambda *args, **kwargs: when
        headers = {name: self.headers[name] for name in signed if name not in ("x-amz-date", "x-amz-security-token")}
        request = AWSRequest(method=self.command, url="http://" + self.headers["host"] + self.path, data=body, headers=headers)
        SigV4Auth(Credentials(ACCESS, SECRET, TOKEN), "execute-api", REGION).add_auth(request)
        expected = request.headers["Authorization"]
        ok = bool(when) and received == expected and self.headers.get("x-amz-security-token") == TOKEN
        if self.path.startswith("/jobs?"):
            answer = {"jobs": [], "nextToken": None}
        else:
            answer = {"jobId": "j1", "definition": "report", "status": "SUBMITTED"}
        if not ok:
            answer = {"message": "signature mismatch: got %r, botocore %r" % (received, expected)}
        data = json.dumps(answer).encode()
        self.send_response(200 if ok else 403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_DELETE = check
    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
server.timeout = 60
print(server.server_address[1], flush=True)
for _ in range(int(REQUESTS)):
    server.handle_request()
"#;

#[test]
fn signed_requests_verify_on_the_wire() {
    use std::io::{BufRead, BufReader};

    let commands: [&[&str]; 3] = [
        &[
            "list",
            "--status",
            "RUNNING",
            "--status",
            "FAILED",
            "--created-after",
            "2026-11-27T12:00:00+01:00",
            "--limit",
            "5",
        ],
        &[
            "submit",
            "report",
            "-p",
            "REPORT_DATE=2026-11-01",
            "-p",
            "FORMAT=a b+c",
            "--idempotency-key",
            "k-1",
        ],
        &["cancel", "0f3c2a9e-0000-4000-8000-000000000001"],
    ];
    let mut verifier = Command::new(python())
        .args(["-c", VERIFIER, ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, "eu-west-1"])
        .arg(commands.len().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("the moto virtualenv's python does not run: {e}"));
    let port = verifier
        .stdout
        .take()
        .and_then(|stdout| BufReader::new(stdout).lines().next())
        .and_then(Result::ok)
        .unwrap_or_default();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());
    for args in commands {
        let output = common::jobctl(args)
            .args(["--endpoint", &endpoint, "--sigv4", "--region", "eu-west-1"])
            // Only these credentials: no profile, no instance metadata.
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output();
        let run = common::Run::of(output);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    let _ = verifier.wait();
}
