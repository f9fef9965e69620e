"""Cost model (BENCHMARKS.md, item 6): Lambda GB-seconds and dollars per month for an organization
producing E events a day, polled every 5 minutes, from the measured figures.

A run's billed time is what it waits for: one API round trip per page (the read-ahead hides our
own CPU and the writes of every page but the last behind the next fetch), plus the writes of the
last page and the lease (DynamoDB and S3 in-region round trips), plus our CPU for the last page.
Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB), so our CPU time,
measured on a whole core, is stretched by 1769 / memory. The API's latency per page has no
official figure: it is a parameter (default 0.5 s).

    python benches/cost_model.py [--cpu-us-per-event 20] [--api-seconds-per-page 0.5]
                                 [--memory-mb 256] [--aws-seconds-per-write 0.015]
"""
import argparse
import math

LAMBDA_ARM_USD_PER_GB_S = 0.0000133334  # us-east-1, arm64
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
DDB_USD_PER_WRITE_UNIT = 0.625 / 1_000_000  # on-demand
S3_USD_PER_PUT = 0.005 / 1000
RUNS_PER_MONTH = 30 * 24 * 12  # every 5 minutes
PAGE = 500
MB_PER_VCPU = 1769  # Lambda: CPU share proportional to configured memory


def model(events_per_day, a):
    per_run = events_per_day / (24 * 12)
    # The last page of a run is a partial one (or the empty page that says "caught up").
    pages = math.floor(per_run / PAGE) + 1
    cpu_share = min(1.0, a.memory_mb / MB_PER_VCPU)
    cpu = min(per_run, PAGE) * a.cpu_us_per_event / 1e6 / cpu_share
    # Hidden behind the next fetch only while a page's CPU is shorter than the fetch.
    if PAGE * a.cpu_us_per_event / 1e6 / cpu_share > a.api_seconds_per_page:
        raise SystemExit("a page's CPU is longer than the API round trip: the read-ahead no longer hides it")
    # Lease taken, last page pending + committed, lease released; one or two objects.
    writes = 4 * a.aws_seconds_per_write + 2 * a.aws_seconds_per_write
    seconds = pages * a.api_seconds_per_page + writes + cpu
    gb_s = seconds * a.memory_mb / 1024 * RUNS_PER_MONTH
    lambda_usd = gb_s * LAMBDA_ARM_USD_PER_GB_S + RUNS_PER_MONTH * LAMBDA_USD_PER_REQUEST
    # Checkpoint writes: about 2 per page + 2 per run, each a few KB (1 unit per KB).
    ddb_usd = RUNS_PER_MONTH * (2 * pages + 2) * 4 * DDB_USD_PER_WRITE_UNIT
    # About 2 objects per page (event-hours touched), pages with events only.
    s3_usd = RUNS_PER_MONTH * (2 * pages if per_run >= 1 else 0) * S3_USD_PER_PUT
    return {
        "events_per_day": events_per_day,
        "pages_per_run": pages,
        "seconds_per_run": round(seconds, 3),
        "gb_s_per_month": round(gb_s),
        "lambda_usd": round(lambda_usd, 3),
        "dynamodb_usd": round(ddb_usd, 3),
        "s3_put_usd": round(s3_usd, 3),
        "collector_usd": round(lambda_usd + ddb_usd + s3_usd, 3),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cpu-us-per-event", type=float, default=20.0)
    p.add_argument("--api-seconds-per-page", type=float, default=0.5)
    p.add_argument("--aws-seconds-per-write", type=float, default=0.015)
    p.add_argument("--memory-mb", type=int, default=256)
    a = p.parse_args()
    print(f"| events/day | pages/run | s/run | GB-s/month | Lambda $ | DynamoDB $ | S3 PUT $ | collector $/month |")
    print("|---|---|---|---|---|---|---|---|")
    for e in (10_000, 100_000, 1_000_000):
        r = model(e, a)
        print(
            f"| {e:,} | {r['pages_per_run']} | {r['seconds_per_run']} | {r['gb_s_per_month']:,} | "
            f"{r['lambda_usd']:.2f} | {r['dynamodb_usd']:.2f} | {r['s3_put_usd']:.2f} | **{r['collector_usd']:.2f}** |"
        )


if __name__ == "__main__":
    main()
