//! The browser app's API types are generated from a copy of the OpenAPI
//! document (web/src/api/openapi.json, by `scripts/openapi-types`), so the app
//! builds without a server. This keeps that copy the document the server
//! serves: a change to the API's wire types fails here until it is refreshed.
//! (`npm run typecheck` in web/ then checks the generated types against the
//! copy, and the app against the types.)

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

const SNAPSHOT: &str = "web/src/api/openapi.json";
const REGENERATE: &str = "scripts/openapi-types";

/// Where `a` and `b` differ, as JSON pointers with what each side has there.
fn differences(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match y.get(k) {
                    Some(w) => differences(&here, v, w, out),
                    None => out.push(format!("{here}: served, not in the copy")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(format!("{here}: in the copy, no longer served"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(&format!("{at}/{i}"), v, w, out);
            }
        }
        _ if a != b => out.push(format!("{at}: served {a}, the copy has {b}")),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_apps_copy_of_the_openapi_document_is_the_served_one() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let served: Value = serde_json::from_str(&app.get("/api/openapi.json", None).await.text)
        .expect("the served document is JSON");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SNAPSHOT);
    let copy: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);

    let mut diff = Vec::new();
    differences("", &served, &copy, &mut diff);
    let shown = diff
        .iter()
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    let more = diff.len().saturating_sub(20);
    assert!(
        diff.is_empty(),
        "{SNAPSHOT} is not the OpenAPI document the server serves, so the browser app's \
         API types are stale. Run `{REGENERATE}` and commit {SNAPSHOT} and \
         web/src/api/schema.d.ts (then `cd web && npm run typecheck`).\nDifferences:\n  {shown}{}",
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        }
    );
    app.stop().await;
}

/// Generated clients and types key operations by id, and links name them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_id_is_unique() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let doc: Value = serde_json::from_str(&app.get("/api/openapi.json", None).await.text).unwrap();
    let mut uses = BTreeMap::<&str, Vec<String>>::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                uses.entry(id).or_default().push(format!("{method} {path}"));
            }
        }
    }
    let clashes: Vec<_> = uses.into_iter().filter(|(_, ops)| ops.len() > 1).collect();
    assert!(
        clashes.is_empty(),
        "operation ids used more than once: {clashes:?}"
    );
    app.stop().await;
}
