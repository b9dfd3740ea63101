//! `openapi.yaml`, the machine-readable REST contract, and the check every response the
//! tests obtain is held to: the operation exists, documents the status, the content type
//! is the documented one, the body validates against the documented schema (JSON Schema
//! 2020-12, formats checked) and every required header is there and valid.
//!
//! A request no operation describes must get the answer `x-unmatched-requests` documents
//! (404 `route-not-found` for an unknown path, 405 `method-not-allowed` for a known path
//! with another method), and `GET /openapi.yaml` (the local server's own route, not an
//! API operation) must answer this document.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::{Draft, Validator};
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Where the document is: the repository root.
pub fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml")
}

static DOCUMENT: LazyLock<OpenApi> = LazyLock::new(|| {
    let path = document_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    OpenApi::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
});

/// The repository's `openapi.yaml`, parsed once.
pub fn document() -> &'static OpenApi {
    &DOCUMENT
}

/// Panics, saying why, unless `openapi.yaml` documents this answer to `method path`
/// (`path` as sent: a query string is ignored).
pub fn check_response(method: &str, path: &str, status: u16, headers: &HeaderMap, body: &[u8]) {
    if let Err(why) = document().verify(method, path, status, headers, body) {
        panic!("{why}");
    }
}

/// [`check_response`] for a handler's `lambda_http` response.
pub fn check_lambda_response(method: &str, path: &str, response: &Response<Body>) {
    check_response(
        method,
        path,
        response.status().as_u16(),
        response.headers(),
        response.body().as_ref(),
    );
}

/// For a response whose request is not known here: panics unless some operation of
/// `openapi.yaml` (or an answer of `x-unmatched-requests`) documents it exactly.
pub fn check_lambda_response_of_some_operation(response: &Response<Body>) {
    let body: &[u8] = response.body().as_ref();
    if let Err(why) = document().verify_any(response.status().as_u16(), response.headers(), body) {
        panic!("{why}");
    }
}

/// [`check_response`] for the API Gateway (payload 2.0) response a function binary
/// returned to the Runtime API: `statusCode`, `headers`, `body`.
pub fn check_gateway_response(method: &str, path: &str, response: &Value) {
    let (status, headers, body) = gateway_parts(response);
    check_response(method, path, status, &headers, &body);
}

/// [`check_lambda_response_of_some_operation`] for an API Gateway (payload 2.0) response.
pub fn check_gateway_response_of_some_operation(response: &Value) {
    let (status, headers, body) = gateway_parts(response);
    if let Err(why) = document().verify_any(status, &headers, &body) {
        panic!("{why}");
    }
}

fn gateway_parts(response: &Value) -> (u16, HeaderMap, Vec<u8>) {
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| panic!("an API Gateway response has a statusCode: {response}"));
    let mut headers = HeaderMap::new();
    for (name, value) in response["headers"].as_object().into_iter().flatten() {
        let name = lambda_http::http::HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        let value = lambda_http::http::HeaderValue::from_str(&value)
            .unwrap_or_else(|e| panic!("header {name}: {value:?}: {e}"));
        headers.append(name, value);
    }
    assert!(
        response["isBase64Encoded"] != true,
        "the service answers text bodies, not base64: {response}"
    );
    let body = response["body"].as_str().unwrap_or_default().as_bytes().to_vec();
    (status, headers, body)
}

/// An OpenAPI 3.1 document and the validators compiled from it so far.
pub struct OpenApi {
    doc: Value,
    /// One per documented response body (keyed by its location in the document).
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// Where a request lands in the document.
enum Target<'a> {
    Operation {
        template: &'a str,
        method: String,
    },
    /// An unknown path, or a known path with another method: the answer documented under
    /// `x-unmatched-requests` with this name.
    Unmatched(&'static str),
    /// `GET /openapi.yaml`: this document itself.
    Document,
}

impl OpenApi {
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let doc: Value = yaml_serde::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
        let version = doc["openapi"].as_str().unwrap_or_default();
        if !version.starts_with("3.1.") {
            return Err(format!("openapi is {version:?}, not 3.1.x"));
        }
        if !doc["paths"].is_object() {
            return Err("no paths".to_owned());
        }
        Ok(Self {
            doc,
            validators: Mutex::new(HashMap::new()),
        })
    }

    pub fn as_json(&self) -> &Value {
        &self.doc
    }

    /// Every operation as (`METHOD`, path template), in document order.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut operations = Vec::new();
        for (template, item) in self.paths() {
            for method in METHODS {
                if item.get(method).is_some() {
                    operations.push((method.to_ascii_uppercase(), template.clone()));
                }
            }
        }
        operations
    }

    fn paths(&self) -> &serde_json::Map<String, Value> {
        self.doc["paths"].as_object().expect("checked at load")
    }

    /// Why this answer to `method path` is not the documented one, if it is not.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let answer = Answer::new(status, headers, body);
        match self.target(method, path) {
            Target::Document => verify_document_answer(&answer),
            Target::Unmatched(name) => {
                let pointer = format!("/x-unmatched-requests/{name}");
                let what = format!("{method} {path} (no operation: x-unmatched-requests.{name})");
                match self.doc.pointer(&pointer) {
                    Some(response) => self.verify_response(&what, &pointer, response, &answer),
                    None => Err(format!(
                        "openapi.yaml has no operation {method} {path}, and no x-unmatched-requests.{name} \
                         answer for it: {answer}"
                    )),
                }
            }
            Target::Operation { template, method } => {
                let what = format!("{} {template}", method.to_ascii_uppercase());
                let responses = &self.paths()[template][method.as_str()]["responses"];
                let Some(key) = response_key(responses, status) else {
                    let documented: Vec<&String> =
                        responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
                    return Err(format!(
                        "openapi.yaml does not document status {status} for {what} (documented: {documented:?}): {answer}"
                    ));
                };
                let pointer = format!(
                    "/paths/{}/{method}/responses/{}",
                    escape_pointer(template),
                    escape_pointer(&key)
                );
                self.verify_response(&format!("{what} → {key}"), &pointer, &responses[key.as_str()], &answer)
            }
        }
    }

    /// Passes if any operation (or unmatched-request answer) documents this answer.
    pub fn verify_any(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        let answer = Answer::new(status, headers, body);
        let mut candidates = Vec::new();
        for (method, template) in self.operations() {
            let responses = &self.paths()[&template][method.to_ascii_lowercase().as_str()]["responses"];
            if let Some(key) = response_key(responses, status) {
                let pointer = format!(
                    "/paths/{}/{}/responses/{}",
                    escape_pointer(&template),
                    method.to_ascii_lowercase(),
                    escape_pointer(&key)
                );
                candidates.push((format!("{method} {template} → {key}"), pointer));
            }
        }
        if let Some(unmatched) = self.doc["x-unmatched-requests"].as_object() {
            for name in unmatched.keys() {
                candidates.push((
                    format!("x-unmatched-requests.{name}"),
                    format!("/x-unmatched-requests/{}", escape_pointer(name)),
                ));
            }
        }
        let mut failures = Vec::new();
        for (what, pointer) in &candidates {
            let response = self.doc.pointer(pointer).expect("a pointer built from the document");
            // Unmatched answers name their status only through their schema (and the
            // problem's `status`, which must be the response's).
            match self.verify_response(what, pointer, response, &answer) {
                Ok(()) => return Ok(()),
                Err(why) => failures.push(why),
            }
        }
        if candidates.is_empty() {
            return Err(format!(
                "openapi.yaml documents status {status} for no operation: {answer}"
            ));
        }
        Err(format!(
            "no operation of openapi.yaml documents this answer ({answer}); each candidate:\n- {}",
            failures.join("\n- ")
        ))
    }

    fn target<'a>(&'a self, method: &str, path: &str) -> Target<'a> {
        if method.eq_ignore_ascii_case("GET") && path == "/openapi.yaml" {
            return Target::Document;
        }
        let segments: Vec<&str> = path.split('/').collect();
        // A template without variables wins over one with them (OpenAPI's rule), then the
        // one with the fewest variables.
        let mut matched: Option<(&String, usize)> = None;
        for template in self.paths().keys() {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut variables = 0;
            let fits = parts.iter().zip(&segments).all(|(part, segment)| {
                if part.starts_with('{') && part.ends_with('}') {
                    variables += 1;
                    !segment.is_empty()
                } else {
                    part == segment
                }
            });
            if fits && matched.is_none_or(|(_, fewest)| variables < fewest) {
                matched = Some((template, variables));
            }
        }
        let Some((template, _)) = matched else {
            return Target::Unmatched("unknownRoute");
        };
        let method = method.to_ascii_lowercase();
        if METHODS.contains(&method.as_str()) && self.paths()[template].get(&method).is_some() {
            Target::Operation { template, method }
        } else {
            Target::Unmatched("unsupportedMethod")
        }
    }

    /// Follows an OpenAPI `$ref` (`#/...` only) to what it names.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..16 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("openapi.yaml: only local references are supported, not {reference}"))?;
            value = self
                .doc
                .pointer(pointer)
                .ok_or_else(|| format!("openapi.yaml: {reference} names nothing"))?;
        }
        Err("openapi.yaml: a $ref chain longer than 16".to_owned())
    }

    fn verify_response(&self, what: &str, pointer: &str, response: &Value, answer: &Answer) -> Result<(), String> {
        let response = self.resolve(response)?;
        // Headers (Content-Type aside, which `content` describes).
        if let Some(documented) = response.get("headers").and_then(Value::as_object) {
            for (name, header) in documented {
                if name.eq_ignore_ascii_case("content-type") {
                    continue;
                }
                let header = self.resolve(header)?;
                match answer.headers.get(name.as_str()).map(|v| v.to_str()) {
                    None if header["required"] == true => {
                        return Err(format!("{what}: the required header {name} is missing: {answer}"));
                    }
                    None => {}
                    Some(Err(_)) => return Err(format!("{what}: header {name} is not visible ASCII: {answer}")),
                    Some(Ok(value)) => {
                        let schema = &header["schema"];
                        let instance = header_instance(schema, value);
                        let header_pointer = format!("{pointer}/headers/{}/schema", escape_pointer(name));
                        self.validate(&header_pointer, schema, &instance).map_err(|errors| {
                            format!(
                                "{what}: header {name}: {value:?} does not match its schema: {}",
                                errors.trim_start()
                            )
                        })?;
                    }
                }
            }
        }
        // Content type and body.
        let content = response.get("content").and_then(Value::as_object);
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            if answer.body.is_empty() {
                return Ok(());
            }
            return Err(format!("{what}: documented without a body, but has one: {answer}"));
        };
        let Some(essence) = answer.media_type() else {
            return Err(format!(
                "{what}: no Content-Type (documented: {:?}): {answer}",
                content.keys().collect::<Vec<_>>()
            ));
        };
        let Some((media_type, media)) = content.iter().find(|(key, _)| media_type_matches(key, &essence)) else {
            return Err(format!(
                "{what}: Content-Type {essence} is not documented (documented: {:?}): {answer}",
                content.keys().collect::<Vec<_>>()
            ));
        };
        let Some(schema) = media.get("schema") else {
            return Ok(());
        };
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Ok(());
        }
        let body: Value =
            serde_json::from_slice(answer.body).map_err(|e| format!("{what}: the body is not JSON ({e}): {answer}"))?;
        if essence == "application/problem+json" && body.get("status").is_some_and(|s| s != answer.status) {
            return Err(format!("{what}: the problem's status is not the response's: {answer}"));
        }
        let schema_pointer = format!("{pointer}/content/{}/schema", escape_pointer(media_type));
        self.validate(&schema_pointer, schema, &body).map_err(|errors| {
            let explained = self.explain(schema, &body).unwrap_or(errors);
            format!("{what} ({media_type}): the body does not match its schema:\n{explained}\nbody: {body}")
        })
    }

    /// Validates `instance` against `schema` (found at `pointer` in the document) with the
    /// document's components in scope; the errors as text.
    fn validate(&self, pointer: &str, schema: &Value, instance: &Value) -> Result<(), String> {
        let validator = self.validator(pointer, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    format!("  - {e}")
                } else {
                    format!("  - at {at}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    fn validator(&self, pointer: &str, schema: &Value) -> Result<Arc<Validator>, String> {
        let mut cache = self.validators.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(validator) = cache.get(pointer) {
            return Ok(validator.clone());
        }
        // The schema's `#/components/...` references resolve in a root that carries the
        // document's components.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("openapi.yaml: the schema at {pointer} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(pointer.to_owned(), validator.clone());
        Ok(validator)
    }

    /// For a `oneOf` of problem types: the errors against the branch of the body's own
    /// `type`, or that its `type` is not one of them. `None` when that does not apply.
    fn explain(&self, schema: &Value, body: &Value) -> Option<String> {
        let schema = self.resolve(schema).ok()?;
        let branches = schema.get("oneOf")?.as_array()?;
        let kind = body.get("type")?.as_str()?;
        let mut documented = Vec::new();
        for branch in branches {
            let resolved = self.resolve(branch).ok()?;
            let constant = resolved.pointer("/properties/type/const")?.as_str()?;
            if constant == kind {
                let name = branch["$ref"].as_str().unwrap_or("its branch");
                let pointer = branch["$ref"]
                    .as_str()
                    .map_or_else(String::new, |r| r.trim_start_matches('#').to_owned());
                return Some(match self.validate(&pointer, branch, body) {
                    Err(errors) => format!("{errors}\n  (against {name})"),
                    Ok(()) => format!("  - valid against {name} alone, but also against another oneOf branch"),
                });
            }
            documented.push(constant.to_owned());
        }
        Some(format!(
            "  - problem type {kind} is not documented here (documented: {})",
            documented.join(", ")
        ))
    }
}

/// The key of `responses` that documents `status`: the code itself, its range (`4XX`)
/// or `default`.
fn response_key(responses: &Value, status: u16) -> Option<String> {
    let responses = responses.as_object()?;
    [status.to_string(), format!("{}XX", status / 100), "default".to_owned()]
        .into_iter()
        .find(|key| responses.contains_key(key))
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A header value as the JSON instance its schema describes (headers are text on the
/// wire; an integer header is validated as the integer it spells).
fn header_instance(schema: &Value, value: &str) -> Value {
    let numeric = matches!(schema["type"].as_str(), Some("integer" | "number"));
    if numeric {
        if let Ok(number) = serde_json::from_str::<serde_json::Number>(value.trim()) {
            return Value::Number(number);
        }
    }
    if schema["type"] == "boolean" && (value == "true" || value == "false") {
        return Value::Bool(value == "true");
    }
    Value::String(value.to_owned())
}

fn media_type_matches(documented: &str, actual: &str) -> bool {
    let documented = documented.to_ascii_lowercase();
    documented == actual
        || documented == "*/*"
        || documented
            .strip_suffix("/*")
            .is_some_and(|major| actual.split('/').next() == Some(major))
}

fn verify_document_answer(answer: &Answer) -> Result<(), String> {
    if answer.status != 200 {
        return Err(format!("GET /openapi.yaml: expected 200 with this document: {answer}"));
    }
    let yaml = answer.media_type().is_some_and(|t| {
        t == "application/yaml" || t == "application/openapi+yaml" || t.ends_with("+yaml") || t == "text/yaml"
    });
    if !yaml {
        return Err(format!("GET /openapi.yaml: expected a YAML content type: {answer}"));
    }
    let served = std::str::from_utf8(answer.body).map_err(|e| format!("GET /openapi.yaml: not UTF-8: {e}"))?;
    let served = OpenApi::from_yaml(served).map_err(|e| format!("GET /openapi.yaml: {e}"))?;
    if served.doc != document().doc {
        return Err("GET /openapi.yaml: the document served is not the repository's openapi.yaml".to_owned());
    }
    Ok(())
}

/// A response, for checking and for messages.
struct Answer<'a> {
    status: u16,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl<'a> Answer<'a> {
    fn new(status: u16, headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        Self { status, headers, body }
    }

    /// The Content-Type without its parameters, lowercase.
    fn media_type(&self) -> Option<String> {
        let value = self.headers.get("content-type")?.to_str().ok()?;
        let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        (!essence.is_empty()).then_some(essence)
    }
}

impl std::fmt::Display for Answer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut headers = String::new();
        for (name, value) in self.headers {
            let _ = write!(headers, " {name}: {};", value.to_str().unwrap_or("<binary>"));
        }
        const SHOWN: usize = 2000;
        let text = String::from_utf8_lossy(self.body);
        let body = match text.char_indices().nth(SHOWN) {
            Some((end, _)) => format!("{}… ({} bytes)", &text[..end], self.body.len()),
            None => text.into_owned(),
        };
        write!(f, "status {} [{}] body {body}", self.status, headers.trim())
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::{HeaderMap, HeaderValue};
    use serde_json::{json, Value};

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    const JSON: (&str, &str) = ("content-type", "application/json");
    const PROBLEM: (&str, &str) = ("content-type", "application/problem+json");

    fn job() -> Value {
        json!({
            "jobId": "0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41", "definition": "report", "status": "RUNNING",
            "statusReason": null, "parameters": {"REPORT_DATE": "2026-11-01"},
            "createdAt": "2026-11-27T12:00:00.123Z", "updatedAt": "2026-11-27T12:00:41.007Z",
            "startedAt": "2026-11-27T12:00:40.918Z", "stoppedAt": null,
            "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/jobs/9f0c", "exitCode": null,
            "nextAttemptAt": null, "retry": {"attempts": 3}, "timeoutSeconds": null, "cancelRequestedAt": null,
            "attempts": [{
                "attempt": 1, "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/jobs/9f0c",
                "taskStatus": "RUNNING", "stopCode": null, "stoppedReason": null, "exitCode": null,
                "createdAt": "2026-11-27T12:00:00.123Z", "startedAt": "2026-11-27T12:00:40.918Z", "stoppedAt": null,
                "logs": {"group": "local", "stream": "0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41-1.log", "consoleUrl": null}
            }],
            "links": {"self": "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41"}
        })
    }

    fn problem_of(kind: &str, status: u16) -> Value {
        json!({"type": format!("tag:job-tracker,2026:problem:{kind}"), "title": "A title", "status": status,
            "detail": "A detail."})
    }

    fn verify(
        method: &str,
        path: &str,
        status: u16,
        pairs: &[(&'static str, &str)],
        body: &Value,
    ) -> Result<(), String> {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        document().verify(method, path, status, &headers(pairs), &body)
    }

    fn refused(result: Result<(), String>, expected: &str) {
        let why = result.expect_err("refused");
        assert!(why.contains(expected), "expected {expected:?} in: {why}");
    }

    #[test]
    fn the_document_has_the_five_operations_of_the_contract() {
        let mut operations = document().operations();
        operations.sort();
        let expected = [
            ("DELETE", "/jobs/{id}"),
            ("GET", "/jobs"),
            ("GET", "/jobs/{id}"),
            ("GET", "/jobs/{id}/logs"),
            ("POST", "/jobs"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(operations, expected);
    }

    #[test]
    fn every_example_in_the_document_matches_its_schema() {
        let doc = document().as_json();
        let mut checked = 0;
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
                    continue;
                };
                for (status, response) in responses {
                    let response = document().resolve(response).expect("resolves");
                    let Some(content) = response.get("content").and_then(Value::as_object) else {
                        continue;
                    };
                    for (media_type, media) in content {
                        for (name, example) in media.get("examples").and_then(Value::as_object).into_iter().flatten() {
                            let example = document().resolve(example).expect("resolves");
                            let pointer = format!(
                                "/paths/{}/{method}/responses/{status}/content/{}/schema",
                                escape_pointer(template),
                                escape_pointer(media_type)
                            );
                            document()
                                .validate(&pointer, &media["schema"], &example["value"])
                                .unwrap_or_else(|e| panic!("{method} {template} {status} example {name}: {e}"));
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked >= 25, "only {checked} examples");
    }

    #[test]
    fn request_examples_match_the_request_schema() {
        let media = &document().as_json()["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"];
        for (name, example) in media["examples"].as_object().expect("examples") {
            document()
                .validate("request", &media["schema"], &example["value"])
                .unwrap_or_else(|e| panic!("request example {name}: {e}"));
        }
        refused(
            document().validate(
                "request",
                &media["schema"],
                &json!({"definition": "report", "other": 1}),
            ),
            "other",
        );
    }

    #[test]
    fn a_right_job_passes() {
        let location = ("location", "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41");
        verify(
            "GET",
            "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41",
            200,
            &[JSON],
            &job(),
        )
        .expect("valid");
        verify("POST", "/jobs", 201, &[JSON, location], &job()).expect("valid");
        verify(
            "DELETE",
            "/jobs/x",
            202,
            &[("content-type", "application/json; charset=utf-8")],
            &job(),
        )
        .expect("valid");
    }

    #[test]
    fn a_wrong_job_fails_saying_where() {
        let path = "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41";
        let mut missing = job();
        missing["attempts"][0].as_object_mut().expect("attempt").remove("logs");
        refused(verify("GET", path, 200, &[JSON], &missing), "/attempts/0");
        let mut extra = job();
        extra["progress"] = json!(50);
        refused(verify("GET", path, 200, &[JSON], &extra), "progress");
        let mut status = job();
        status["status"] = json!("DONE");
        refused(verify("GET", path, 200, &[JSON], &status), "/status");
        let mut timestamp = job();
        timestamp["createdAt"] = json!("yesterday");
        refused(verify("GET", path, 200, &[JSON], &timestamp), "/createdAt");
        let mut id = job();
        id["jobId"] = json!("not-a-uuid");
        refused(verify("GET", path, 200, &[JSON], &id), "/jobId");
    }

    #[test]
    fn an_undocumented_status_content_type_or_header_fails() {
        let path = "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41";
        refused(
            verify("GET", path, 418, &[JSON], &job()),
            "does not document status 418",
        );
        refused(
            verify("GET", path, 200, &[("content-type", "text/plain")], &job()),
            "text/plain",
        );
        refused(verify("GET", path, 200, &[], &job()), "no Content-Type");
        // 201 without its Location, and with a Location that is not the job's URL form.
        refused(verify("POST", "/jobs", 201, &[JSON], &job()), "Location is missing");
        refused(
            verify("POST", "/jobs", 201, &[JSON, ("location", "jobs/1")], &job()),
            "header Location",
        );
        let busy = json!({"type": "tag:job-tracker,2026:problem:store-unavailable", "title": "Service temporarily unavailable",
            "status": 503, "detail": "The job store did not answer."});
        verify("GET", path, 503, &[PROBLEM, ("retry-after", "1")], &busy).expect("valid");
        refused(verify("GET", path, 503, &[PROBLEM], &busy), "Retry-After is missing");
        refused(
            verify("GET", path, 503, &[PROBLEM, ("retry-after", "soon")], &busy),
            "Retry-After",
        );
    }

    #[test]
    fn problems_are_held_to_their_type_per_route() {
        let finished = json!({"type": "tag:job-tracker,2026:problem:job-finished", "title": "Job already finished",
            "status": 409, "detail": "The job is SUCCEEDED and cannot be cancelled; it is unchanged.",
            "jobId": "f4114c2e-7d0a-4f3b-9a61-2c8e5d7b3f90", "jobStatus": "SUCCEEDED"});
        verify(
            "DELETE",
            "/jobs/f4114c2e-7d0a-4f3b-9a61-2c8e5d7b3f90",
            409,
            &[PROBLEM],
            &finished,
        )
        .expect("valid");
        refused(
            verify("DELETE", "/jobs/x", 409, &[JSON], &finished),
            "Content-Type application/json is not documented",
        );
        let mut no_status = finished.clone();
        no_status.as_object_mut().expect("object").remove("jobStatus");
        refused(verify("DELETE", "/jobs/x", 409, &[PROBLEM], &no_status), "jobStatus");
        let mut extension = finished.clone();
        extension["secret"] = json!("leaked");
        refused(verify("DELETE", "/jobs/x", 409, &[PROBLEM], &extension), "secret");

        let unknown = json!({"type": "tag:job-tracker,2026:problem:unknown-definition", "title": "Unknown job definition",
            "status": 400, "detail": "There is no job definition \"x\"; known definitions: report.",
            "knownDefinitions": ["report"]});
        verify("POST", "/jobs", 400, &[PROBLEM], &unknown).expect("valid");
        // A problem type the route does not produce.
        refused(
            verify("GET", "/jobs", 400, &[PROBLEM], &unknown),
            "unknown-definition is not documented",
        );
        let mut wrong_status = unknown.clone();
        wrong_status["status"] = json!(422);
        refused(
            verify("POST", "/jobs", 400, &[PROBLEM], &wrong_status),
            "status is not the response's",
        );
    }

    #[test]
    fn requests_no_operation_describes_get_the_unmatched_answers() {
        let route = json!({"type": "tag:job-tracker,2026:problem:route-not-found", "title": "Not found", "status": 404,
            "detail": "no such route"});
        verify("GET", "/nothing-here", 404, &[PROBLEM], &route).expect("valid");
        refused(verify("GET", "/nothing-here", 200, &[JSON], &job()), "unknownRoute");
        refused(
            verify(
                "GET",
                "/nothing-here",
                404,
                &[PROBLEM],
                &problem_of("job-not-found", 404),
            ),
            "/type",
        );
        let method = json!({"type": "tag:job-tracker,2026:problem:method-not-allowed", "title": "Method not allowed",
            "status": 405, "detail": "method not allowed on this route"});
        let allow = [PROBLEM, ("allow", "GET, DELETE")];
        verify("PUT", "/jobs/x", 405, &allow, &method).expect("valid");
        verify("POST", "/jobs/x/logs", 405, &[PROBLEM, ("allow", "GET")], &method).expect("valid");
        refused(verify("PUT", "/jobs/x", 405, &[PROBLEM], &method), "Allow");
        refused(verify("PUT", "/jobs/x", 404, &allow, &route), "method-not-allowed");
    }

    #[test]
    fn a_query_string_is_not_part_of_the_path() {
        let list = json!({"jobs": [], "nextToken": null});
        verify("GET", "/jobs?status=RUNNING&limit=5", 200, &[JSON], &list).expect("valid");
        let mut item = job();
        item.as_object_mut().expect("object").remove("attempts");
        verify(
            "GET",
            "/jobs",
            200,
            &[JSON],
            &json!({"jobs": [item], "nextToken": "abc"}),
        )
        .expect("valid");
        refused(
            verify(
                "GET",
                "/jobs",
                200,
                &[JSON],
                &json!({"jobs": [job()], "nextToken": null}),
            ),
            "attempts",
        );
    }

    #[test]
    fn gateway_responses_are_checked_as_http_responses() {
        let response = json!({"statusCode": 201, "isBase64Encoded": false, "body": job().to_string(),
            "headers": {"content-type": "application/json", "location": "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41"}});
        check_gateway_response("POST", "/jobs", &response);
        check_gateway_response_of_some_operation(&response);
        let mut missing = response.clone();
        missing["headers"].as_object_mut().expect("headers").remove("location");
        let (status, headers, body) = gateway_parts(&missing);
        refused(
            document().verify("POST", "/jobs", status, &headers, &body),
            "Location is missing",
        );
    }

    #[test]
    fn an_answer_of_unknown_origin_passes_if_some_operation_documents_it() {
        let created = headers(&[JSON, ("location", "/jobs/0b6f2c1e-3f1d-4a8e-9d53-7e2f1c9b8a41")]);
        let body = job().to_string();
        document().verify_any(201, &created, body.as_bytes()).expect("valid");
        document()
            .verify_any(200, &headers(&[JSON]), body.as_bytes())
            .expect("valid");
        let mut wrong = job();
        wrong["status"] = json!("DONE");
        let wrong = wrong.to_string();
        let why = document()
            .verify_any(200, &headers(&[JSON]), wrong.as_bytes())
            .expect_err("refused");
        assert!(why.contains("GET /jobs/{id} → 200"), "{why}");
        document()
            .verify_any(418, &headers(&[JSON]), body.as_bytes())
            .expect_err("refused");
    }
}
