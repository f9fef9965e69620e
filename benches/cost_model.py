"""Cost model (BENCHMARKS.md, "Cost model"): Lambda GB-seconds and dollars per month for an organization
producing E events a day, polled every 5 minutes, from the measured figures.

A run's billed time is what it waits for: one API round trip per page (the read-ahead hides our
own CPU and the writes of every page but the last behind the next fetch), plus the writes of the
last page and the lease (DynamoDB and S3 in-region round trips), plus our CPU for the last page.
Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB), so our CPU time,
measured on a whole core, is stretched by 1769 / memory. The API's latency per page has no
official figure: it is a parameter (default 0.5 s).

    python benches/cost_model.py [--cpu-us-per-event 20] [--api-seconds-per-page 0.5]
                                 [--memory-mb 256] [--aws-seconds-per-write 0.015]
                                 [--batch-events 50000] [--one-page-batches]

A batch spans pages up to --batch-events (BATCH_MAX_EVENTS); --one-page-batches models the
collector before issue 12 (a batch per page: two checkpoint writes and about two objects a page).
Checkpoint items are billed by size (1 write unit per KB): the recent ids take 16 bytes each
(base64), about one run's worth of events at 5-minute polling, capped at 4,000.
The high-water mark (issue 15) adds one S3 GET to every run that takes the lease, and one PUT to
every run that moved the checkpoint (a run that wrote a batch); both are in-region round trips.
"""
import argparse
import math

LAMBDA_ARM_USD_PER_GB_S = 0.0000133334  # us-east-1, arm64
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
DDB_USD_PER_WRITE_UNIT = 0.625 / 1_000_000  # on-demand
S3_USD_PER_PUT = 0.005 / 1000
S3_USD_PER_GET = 0.0004 / 1000
RUNS_PER_MONTH = 30 * 24 * 12  # every 5 minutes
PAGE = 500
MB_PER_VCPU = 1769  # Lambda: CPU share proportional to configured memory
# Objects of a 5-minute batch: the current hour, sometimes the one before, and late events' hours.
OBJECTS_PER_BATCH = 2


def model(events_per_day, a):
    per_run = events_per_day / (24 * 12)
    # The last page of a run is a partial one (or the empty page that says "caught up").
    pages = math.floor(per_run / PAGE) + 1
    cpu_share = min(1.0, a.memory_mb / MB_PER_VCPU)
    cpu = min(per_run, PAGE) * a.cpu_us_per_event / 1e6 / cpu_share
    # Hidden behind the next fetch only while a page's CPU is shorter than the fetch.
    if PAGE * a.cpu_us_per_event / 1e6 / cpu_share > a.api_seconds_per_page:
        raise SystemExit("a page's CPU is longer than the API round trip: the read-ahead no longer hides it")
    batches = 1 if a.one_page_batches else max(1, math.ceil(pages * PAGE / a.batch_events))
    objects_per_batch = 2 if a.one_page_batches else OBJECTS_PER_BATCH
    if a.one_page_batches:
        batches = pages
    objects = batches * objects_per_batch if per_run >= 1 else 0
    # The high-water mark: read at every lease, written when the run moved the checkpoint.
    mark_puts = 1 if per_run >= 1 else 0
    # Lease taken, the mark read, the last batch pending + committed, the mark raised, lease
    # released; the last batch's objects.
    writes = (5 + mark_puts + objects_per_batch) * a.aws_seconds_per_write
    seconds = pages * a.api_seconds_per_page + writes + cpu
    gb_s = seconds * a.memory_mb / 1024 * RUNS_PER_MONTH
    lambda_usd = gb_s * LAMBDA_ARM_USD_PER_GB_S + RUNS_PER_MONTH * LAMBDA_USD_PER_REQUEST
    ddb_writes = 2 * batches + 2
    item_kb = 1 + min(per_run, 4000) * 16 * 4 / 3 / 1024
    ddb_usd = RUNS_PER_MONTH * ddb_writes * math.ceil(item_kb) * DDB_USD_PER_WRITE_UNIT
    puts = objects + mark_puts
    s3_usd = RUNS_PER_MONTH * (puts * S3_USD_PER_PUT + S3_USD_PER_GET)
    return {
        "events_per_day": events_per_day,
        "pages_per_run": pages,
        "ddb_writes_per_month": RUNS_PER_MONTH * ddb_writes,
        "puts_per_month": RUNS_PER_MONTH * puts,
        "objects_per_day": objects * 24 * 12,
        "seconds_per_run": round(seconds, 3),
        "gb_s_per_month": round(gb_s),
        "lambda_usd": round(lambda_usd, 3),
        "dynamodb_usd": round(ddb_usd, 3),
        "s3_usd": round(s3_usd, 3),
        "collector_usd": round(lambda_usd + ddb_usd + s3_usd, 3),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cpu-us-per-event", type=float, default=20.0)
    p.add_argument("--api-seconds-per-page", type=float, default=0.5)
    p.add_argument("--aws-seconds-per-write", type=float, default=0.015)
    p.add_argument("--memory-mb", type=int, default=256)
    p.add_argument("--batch-events", type=int, default=50_000)
    p.add_argument("--one-page-batches", action="store_true")
    a = p.parse_args()
    print("| events/day | pages/run | s/run | GB-s/month | DynamoDB writes/month | PUTs/month | objects/day | Lambda $ | DynamoDB $ | S3 $ | collector $/month |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in (10_000, 100_000, 1_000_000):
        r = model(e, a)
        print(
            f"| {e:,} | {r['pages_per_run']} | {r['seconds_per_run']} | {r['gb_s_per_month']:,} | "
            f"{r['ddb_writes_per_month']:,} | {r['puts_per_month']:,} | {r['objects_per_day']:,} | "
            f"{r['lambda_usd']:.2f} | {r['dynamodb_usd']:.2f} | {r['s3_usd']:.2f} | **{r['collector_usd']:.2f}** |"
        )


if __name__ == "__main__":
    main()
