#!/usr/bin/env bash
# Runs the Lambda locally through cargo-lambda against the simulated organization and moto, the
# way a fresh deploy of template.yaml meets it:
#   1. creates the bucket, the checkpoint table (keyed as in the template) and the secret (with the
#      template's placeholder) in moto, and derives the function's environment from the template;
#   2. invokes with events/scheduled-event.json: the run must fail, naming the placeholder;
#   3. puts a key the org rejects in the secret: the run fails on the 401 (AuthFailures);
#   4. puts the org id and key, with the key's expiry 10 days ahead, in the secret, invokes again:
#      objects land in S3, a checkpoint in DynamoDB, every event exactly once (KeyDaysLeft);
#   5. has the simulated org answer 429 with a reset past the budget: the run stops there and
#      reports how far behind it is (IngestLagSeconds); holds the lease as another run would: the
#      run leaves the source alone (LeaseHeld);
#   6. invokes with events/manual-run.json: caught up, nothing written twice;
#   7. invokes with events/check.json before and after the secret is filled in: the setup check
#      names the placeholder, then says "Everything looks good" and that the key expires soon;
#   8. turns the EMF lines the function printed into metrics in moto's CloudWatch, creates the
#      template's alarms and dashboard there, and checks that every metric they read (namespace,
#      name, dimension) is one the function emitted;
#   9. registry mode (SourcesRegistry=Enabled): two simulated organizations, their secrets under the
#      stack's prefix, `sources add` for both; invokes the dispatcher, hands each message of the task
#      queue (moto's SQS) to the collector as the event source mapping would, and checks that each
#      organization's events landed once under its own p_source_id; dispatches again (duplicates are
#      harmless), and checks every source with {"action": "check"}.
# Needs AWS_ENDPOINT_URL pointing at moto (scripts/test.sh and `make invoke` set it up).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
: "${AWS_ENDPOINT_URL:?start moto first (make invoke does)}"
export PATH="$root/.venv/bin:$PATH"
work="$root/target/lambda-invoke"
rm -rf "$work" && mkdir -p "$work"
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cargo build --locked --quiet --bin atlassian-audit --bin atlassian-audit-lambda --bin atlassian-audit-dispatcher
suffix="$(date +%s)-$$"
api_key="local-invoke-key-$suffix"
org_id=sim-org-0001
sim_port="$(free_port)"
"$root/target/debug/atlassian-audit" simulate --port "$sim_port" --events 700 --invalid 3 \
  --org-id "$org_id" --api-key "$api_key" >"$work/simulate.log" 2>&1 &
pids+=($!)

bucket="lambda-invoke-$suffix"
table="lambda-invoke-$suffix"
secret="lambda-invoke/$suffix"
stack=atlassian-audit-local
fixture() { python "$root/scripts/aws_fixture.py" "$@"; }
topic_arn="$(fixture create --template template.yaml --bucket "$bucket" --table "$table" --secret "$secret" \
  --topic "lambda-invoke-alerts-$suffix")"

# The template's environment, with the simulated org as the API (its host on the allow-list the
# Lambda demands for any host but api.atlassian.com), then what only a local run needs: moto's
# address.
fixture lambda-env --template template.yaml --bucket "$bucket" --table "$table" --secret "$secret" \
  --alerts-topic-arn "$topic_arn" --stack-name "$stack" --parameter OutputPrefix=audit/ \
  --parameter "ApiBaseUrl=http://127.0.0.1:$sim_port" --parameter ApiAllowedHosts=127.0.0.1 >"$work/lambda.env"
# The stack's own alerts bus (AlertsEventBus=stack, the default), as the deploy creates it.
bus="$(sed -n 's/^ALERTS_EVENT_BUS=//p' "$work/lambda.env")"
if [ "$bus" != default ]; then
  fixture create-bus --name "$bus"
fi
cat >>"$work/lambda.env" <<ENV
S3_FORCE_PATH_STYLE=true
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=${AWS_REGION:-us-east-1}
AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing}
AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
AWS_EC2_METADATA_DISABLED=true
ENV

invoke_port="$(free_port)"
cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-file "$work/lambda.env" >"$work/watch.log" 2>&1 &
pids+=($!)
watch_pid=$!
for _ in $(seq 1 300); do
  if python -c "import socket; socket.create_connection(('127.0.0.1', $invoke_port), 1)" 2>/dev/null; then break; fi
  sleep 0.2
done

invoke() { # invoke EVENT_FILE OUT_NAME
  echo "==> cargo lambda invoke atlassian-audit-lambda --data-file events/$1"
  timeout 300 cargo lambda invoke atlassian-audit-lambda --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --data-file "$root/events/$1" >"$work/$2.json" 2>"$work/$2.err"
}

# A fresh deploy: the secret still holds the placeholder. The run fails and says so.
if invoke scheduled-event.json placeholder; then
  echo "the invoke succeeded with the placeholder secret" >&2; exit 1
fi
if ! grep -q "placeholder" "$work/placeholder.err" "$work/placeholder.json"; then
  echo "the placeholder failure does not say what to do:" >&2; cat "$work/placeholder.err" >&2; exit 1
fi
echo "    failed as it should, naming the placeholder"
invoke check.json check-placeholder
if ! python - "$work/check-placeholder.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
sys.exit(0 if not answer["everything_looks_good"] and "placeholder" in " ".join(answer["report"]) else 1)
PY
then
  echo "the check did not name the placeholder:" >&2; cat "$work/check-placeholder.json" >&2; exit 1
fi
echo "    the setup check names the placeholder"

# A key Atlassian rejects: the run fails with 401s counted (AuthFailures, the auth-failures alarm).
fixture put-secret --secret "$secret" --org-id "$org_id" --api-key "wrong-$api_key"
if invoke scheduled-event.json rejected; then
  echo "the invoke succeeded with a rejected key" >&2; exit 1
fi
if ! grep -q "rejected (401)" "$work/rejected.err" "$work/rejected.json"; then
  echo "the 401 failure does not say so:" >&2; cat "$work/rejected.err" >&2; exit 1
fi
echo "    failed as it should on a rejected key (401)"

# The right key, with its expiry 10 days ahead: the check says so, runs emit KeyDaysLeft.
fixture put-secret --secret "$secret" --org-id "$org_id" --api-key "$api_key" --expires-in-days 10
invoke check.json check
if ! python - "$work/check.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
print("\n".join("    " + line for line in answer["report"]))
expiry = [line for line in answer["report"] if "API key expires on" in line]
sys.exit(0 if answer["everything_looks_good"] and answer["report"][-1] == "Everything looks good."
         and expiry and "rotate it now" in expiry[0] else 1)
PY
then
  echo "the setup check failed:" >&2; cat "$work/check.json" >&2; exit 1
fi
if ! invoke scheduled-event.json first; then
  echo "invoke failed:" >&2; cat "$work/first.err" "$work/watch.log" >&2; exit 1
fi
cat "$work/first.json"; echo
fixture verify --bucket "$bucket" --table "$table" --prefix audit/ --source-id "$stack" \
  --response "$work/first.json" --expect-events 700 --expect-quarantined 3

# The API throttles with a reset past any run's budget: the run stops there, with events possibly
# left to collect, and reports how far behind it is (IngestLagSeconds, the ingest-lag alarm).
python - "http://127.0.0.1:$sim_port" "$api_key" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(
    sys.argv[1] + "/_simulated/throttle-next-request?reset_in_secs=3599", method="POST",
    headers={"Authorization": "Bearer " + sys.argv[2]})).read()
PY
if ! invoke manual-run.json throttled; then
  echo "invoke failed:" >&2; cat "$work/throttled.err" "$work/watch.log" >&2; exit 1
fi
if ! grep -Eq '"stop_reason": ?"rate_limited"' "$work/throttled.json"; then
  echo "the run did not stop on the rate limit:" >&2; cat "$work/throttled.json" >&2; exit 1
fi
echo "    stopped on a rate limit past its budget"

# Another run holds the lease: this one leaves the source alone (LeaseHeld, the lease-held alarm).
fixture hold-lease --table "$table" --source-id "$stack"
if ! invoke manual-run.json lease-held; then
  echo "invoke failed:" >&2; cat "$work/lease-held.err" "$work/watch.log" >&2; exit 1
fi
if ! grep -Eq '"stop_reason": ?"lease_held"' "$work/lease-held.json"; then
  echo "the run did not leave the held lease alone:" >&2; cat "$work/lease-held.json" >&2; exit 1
fi
echo "    left the source to the run holding its lease"
fixture hold-lease --table "$table" --source-id "$stack" --release

if ! invoke manual-run.json second; then
  echo "invoke failed:" >&2; cat "$work/second.err" "$work/watch.log" >&2; exit 1
fi
fixture verify --bucket "$bucket" --table "$table" --prefix audit/ --source-id "$stack" \
  --response "$work/second.json" --expect-events 700 --expect-quarantined 3

# Someone lowers the checkpoint's batch_sequence under the warm function: it refuses the record and
# writes nothing (CheckpointWentBackwards, the checkpoint-went-backwards alarm); put back, it goes on.
sequence="$(fixture set-sequence --table "$table" --source-id "$stack" --sequence 0)"
if invoke scheduled-event.json rewound; then
  echo "the invoke succeeded on a checkpoint that went backwards" >&2; exit 1
fi
if ! grep -q "went backwards" "$work/rewound.err" "$work/rewound.json"; then
  echo "the refusal does not say so:" >&2; cat "$work/rewound.err" >&2; exit 1
fi
echo "    refused a checkpoint whose sequence went backwards ($sequence -> 0), writing nothing"
fixture set-sequence --table "$table" --source-id "$stack" --sequence "$sequence" >/dev/null
if ! invoke scheduled-event.json after-rewind; then
  echo "invoke failed:" >&2; cat "$work/after-rewind.err" "$work/watch.log" >&2; exit 1
fi
fixture verify --bucket "$bucket" --table "$table" --prefix audit/ --source-id "$stack" \
  --response "$work/after-rewind.json" --expect-events 700 --expect-quarantined 3

# What CloudWatch makes of the function's EMF lines is what the alarms and the dashboard read.
fixture metrics --template template.yaml --log "$work/watch.log" --stack-name "$stack" \
  --function-name atlassian-audit-lambda --topic-arn "arn:aws:sns:${AWS_REGION:-us-east-1}:123456789012:alarms" \
  --parameter OutputPrefix=audit/ --not-triggered AlertsUndelivered --not-triggered DetectionsSkipped --not-triggered DetectStateRejected

# The key went to the simulated org and nowhere else: not in the function's logs or its answers.
if grep -qF "$api_key" "$work/watch.log" "$work"/*.json "$work"/*.err; then
  echo "the API key appears in the Lambda's output" >&2
  exit 1
fi

# ---- Registry mode: the dispatcher and the SQS-fed collector, for two organizations ----
echo "==> registry mode (SourcesRegistry=Enabled): two organizations, the dispatcher, the task queue"
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
# Two organizations behind one address, as the real API serves every organization from one host
# (the base URL is one setting for all sources): sim-org-reg with its key, sim-org-reg-2 with KEY-2.
rkey="registry-key-$suffix"
rkeys=("$rkey" "$rkey-2")
rorgs=(sim-org-reg sim-org-reg-2)
rsources=(alpha beta)
rport_sim="$(free_port)"
"$root/target/debug/atlassian-audit" simulate --port "$rport_sim" --events 300 --invalid 0 --orgs 2 \
  --org-id sim-org-reg --api-key "$rkey" >"$work/simulate-registry.log" 2>&1 &
pids+=($!)
rbucket="lambda-invoke-registry-$suffix"
rtable="lambda-invoke-registry-$suffix"
# `create` also makes a placeholder secret; registry mode never reads it (it is outside the prefix).
fixture create --template template.yaml --bucket "$rbucket" --table "$rtable" --secret "lambda-invoke-unused/$suffix"
queue_url="$(fixture create-queue --template template.yaml --name "lambda-invoke-tasks-$suffix")"
for i in 0 1; do
  fixture create-secret --secret "atlassian-audit/$stack/${rsources[$i]}" --org-id "${rorgs[$i]}" --api-key "${rkeys[$i]}"
done
{
  fixture lambda-env --template template.yaml --bucket "$rbucket" --table "$rtable" --secret unused \
    --alerts-topic-arn "$topic_arn" --stack-name "$stack" --parameter OutputPrefix=audit/ \
    --parameter SourcesRegistry=Enabled --queue-url "$queue_url" \
    --parameter "ApiBaseUrl=http://127.0.0.1:$rport_sim" --parameter ApiAllowedHosts=127.0.0.1
  # The dispatcher's own variables (SOURCES_TABLE, DISPATCH_QUEUE_URL): the same values.
  fixture lambda-env --template template.yaml --bucket "$rbucket" --table "$rtable" --secret unused \
    --alerts-topic-arn "$topic_arn" --stack-name "$stack" --parameter SourcesRegistry=Enabled \
    --queue-url "$queue_url" --function DispatcherFunction | grep -v '^RUST_LOG='
  sed -n '/^S3_FORCE_PATH_STYLE=/,$p' "$work/lambda.env"
} >"$work/registry.env"
if grep -q '^ATLASSIAN_SECRET_ID=' "$work/registry.env"; then
  echo "registry mode's function has a secret of its own" >&2; exit 1
fi
for source in "${rsources[@]}"; do
  SOURCES_TABLE="$rtable" "$root/target/debug/atlassian-audit" sources add "$source" \
    --secret-id "atlassian-audit/$stack/$source" --label "Org $source" >"$work/sources-add-$source.log" 2>&1 \
    || { echo "sources add $source failed:" >&2; cat "$work/sources-add-$source.log" >&2; exit 1; }
done
echo "    registered alpha and beta (secrets atlassian-audit/$stack/alpha and .../beta)"

rport="$(free_port)"
cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$rport" \
  --env-file "$work/registry.env" >"$work/watch-registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  if python -c "import socket; socket.create_connection(('127.0.0.1', $rport), 1)" 2>/dev/null; then break; fi
  sleep 0.2
done
invoke_fn() { # invoke_fn FUNCTION EVENT_PATH OUT_NAME
  echo "==> cargo lambda invoke $1 --data-file ${2#"$root"/}"
  timeout 300 cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$rport" \
    --data-file "$2" >"$work/$3.json" 2>"$work/$3.err"
}
# One pass: the dispatcher queues the tasks; each message goes to the collector as an SQS event of
# one record (BatchSize 1); the records it does not name as failed are deleted, as the mapping does.
registry_pass() { # registry_pass NAME
  local name="$1" n=0
  if ! invoke_fn atlassian-audit-dispatcher "$root/events/scheduled-event.json" "dispatch-$name"; then
    echo "the dispatcher failed:" >&2; cat "$work/dispatch-$name.err" >&2; exit 1
  fi
  python - "$work/dispatch-$name.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
print(f"    dispatched: {answer}")
sys.exit(0 if answer["sent"] == 2 and answer["sources"] == 2 and not answer["unsent"] else 1)
PY
  mkdir -p "$work/events-$name"
  mapfile -t events < <(fixture sqs-events --queue-url "$queue_url" --out-dir "$work/events-$name")
  if [ "${#events[@]}" -ne 2 ]; then echo "the queue held ${#events[@]} messages, expected 2" >&2; exit 1; fi
  for e in "${events[@]}"; do
    n=$((n + 1))
    if ! invoke_fn atlassian-audit-lambda "$e" "collect-$name-$n"; then
      echo "the collector failed on $e:" >&2; cat "$work/collect-$name-$n.err" >&2; exit 1
    fi
    if ! python -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['batchItemFailures'] == [] else 1)" "$work/collect-$name-$n.json"; then
      echo "the collector reported the record as failed:" >&2; cat "$work/collect-$name-$n.json" "$work/collect-$name-$n.err" >&2; exit 1
    fi
    fixture delete-messages --queue-url "$queue_url" --event "$e" --response "$work/collect-$name-$n.json"
  done
}
registry_pass first
fixture verify-sources --bucket "$rbucket" --prefix audit/ --source-id alpha --source-id beta --expect-events 300
# The next schedule queues both tasks again while nothing is new: each runs and finds its work done.
registry_pass second
fixture verify-sources --bucket "$rbucket" --prefix audit/ --source-id alpha --source-id beta --expect-events 300

# A record that is not a task message is answered as failed (it goes to the dead-letter queue after
# maxReceiveCount deliveries); a scheduled event reaching the collector does nothing (the schedule
# targets the dispatcher); the check names each source.
python - "$work/junk-event.json" <<'PY'
import json, sys
json.dump({"Records": [{"messageId": "junk-1", "receiptHandle": "h", "body": "not a task", "attributes": {},
                        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tasks"}]},
          open(sys.argv[1], "w"))
PY
invoke_fn atlassian-audit-lambda "$work/junk-event.json" registry-junk
python -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['batchItemFailures'] == [{'itemIdentifier': 'junk-1'}] else 1)" "$work/registry-junk.json" \
  || { echo "a malformed record was not answered as failed:" >&2; cat "$work/registry-junk.json" >&2; exit 1; }
invoke_fn atlassian-audit-lambda "$root/events/scheduled-event.json" registry-scheduled
python -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['collected'] is False else 1)" "$work/registry-scheduled.json" \
  || { echo "a scheduled event collected in registry mode:" >&2; cat "$work/registry-scheduled.json" >&2; exit 1; }
invoke_fn atlassian-audit-lambda "$root/events/check.json" registry-check
if ! python - "$work/registry-check.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
print("\n".join("    " + line for line in answer["report"]))
sys.exit(0 if answer["everything_looks_good"] and {s["source_id"] for s in answer["sources"]} == {"alpha", "beta"} else 1)
PY
then
  echo "the registry check failed:" >&2; cat "$work/registry-check.json" >&2; exit 1
fi
# beta's key is revoked: the check names beta's problem, and beta's alone; beta's task fails and is
# answered as failed (SQS delivers it again), alpha's goes on.
fixture put-secret --secret "atlassian-audit/$stack/beta" --org-id sim-org-reg-2 --api-key "wrong-${rkeys[1]}"
invoke_fn atlassian-audit-lambda "$root/events/check.json" registry-check-revoked
if ! python - "$work/registry-check-revoked.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
print("\n".join("    " + line for line in answer["report"] if "✗" in line or "problem" in line))
named = {p["source_id"] for p in answer["problems"]}
sys.exit(0 if not answer["everything_looks_good"] and named == {"beta"} else 1)
PY
then
  echo "the registry check did not name beta's problem alone:" >&2; cat "$work/registry-check-revoked.json" >&2; exit 1
fi
invoke_fn atlassian-audit-dispatcher "$root/events/scheduled-event.json" dispatch-revoked
mkdir -p "$work/events-revoked"
mapfile -t events < <(fixture sqs-events --queue-url "$queue_url" --out-dir "$work/events-revoked")
failed=0
for e in "${events[@]}"; do
  failed=$((failed + 1))
  invoke_fn atlassian-audit-lambda "$e" "collect-revoked-$failed"
done
python - "$work" "${events[@]}" <<'PY'
import json, sys
work, events = sys.argv[1], sys.argv[2:]
failed = []
for n, path in enumerate(events, 1):
    record = json.load(open(path))["Records"][0]
    answer = json.load(open(f"{work}/collect-revoked-{n}.json"))
    if answer["batchItemFailures"]:
        failed.append(json.loads(record["body"])["source_id"])
print(f"    revoked key: failed records {failed}")
sys.exit(0 if failed == ["beta"] else 1)
PY
# Each task's EMF line, under its source's id.
for source in "${rsources[@]}"; do
  grep -q "\"SourceId\":\"$source\"" "$work/watch-registry.log" \
    || { echo "no EMF line for $source" >&2; exit 1; }
done
for key in "${rkeys[@]}"; do
  if grep -qF "$key" "$work/watch-registry.log" "$work"/*.json "$work"/*.err; then
    echo "a source's API key appears in the Lambda's output" >&2
    exit 1
  fi
done
echo "registry mode: OK"
