//! The floor for the end-to-end benchmark: a bare client that only walks `/events-stream` by
//! cursor and discards every page. Same HTTP stack as the collector (reqwest, rustls), same
//! `limit`, no normalizing, no compressing, no storage. `benches/e2e.sh` runs it beside a full
//! collector run over the same simulated organization.
//!
//! `bare_walk --base-url http://127.0.0.1:PORT --org-id ORG --api-key KEY [--limit 500]`
//! prints `{"pages": N, "events": N, "wall_seconds": S}`.
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Instant;

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    next: Option<String>,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; anything not ours is ignored.
    let args: Vec<String> = std::env::args().collect();
    let Some(base) = arg(&args, "--base-url") else {
        eprintln!("bare_walk: --base-url is required (see benches/e2e.sh); nothing to do");
        return Ok(());
    };
    let org = arg(&args, "--org-id").ok_or("--org-id is required")?;
    let key = arg(&args, "--api-key").ok_or("--api-key is required")?;
    let limit: usize = arg(&args, "--limit")
        .map(|l| l.parse())
        .transpose()?
        .unwrap_or(500);
    let http = reqwest::Client::builder().build()?;
    let url = format!(
        "{}/admin/v1/orgs/{org}/events-stream",
        base.trim_end_matches('/')
    );

    let started = Instant::now();
    let (mut pages, mut events) = (0u64, 0u64);
    let mut cursor: Option<String> = None;
    loop {
        let mut request_url = url::Url::parse(&url)?;
        {
            let mut q = request_url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            q.append_pair("sortOrder", "asc");
            match &cursor {
                Some(c) => q.append_pair("cursor", c),
                None => q.append_pair("from", "0"),
            };
        }
        let body = http
            .get(request_url)
            .bearer_auth(&key)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let page: Page = serde_json::from_slice(&body)?;
        pages += 1;
        events += page.data.len() as u64;
        if page.data.len() < limit || page.meta.next.is_none() {
            break;
        }
        cursor = page.meta.next;
    }
    println!(
        "{}",
        serde_json::json!({
            "pages": pages,
            "events": events,
            "wall_seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
