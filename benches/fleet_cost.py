"""Cost model of many organizations in one deployment (BENCHMARKS.md, "Many organizations"): dollars a
month at 1, 10, 100 and 1,000 sources in registry mode, split into what each source adds and what the
stack costs whatever their number, from AWS's us-east-1 list prices and the collector's measured figures.

Per source, every 5 minutes: one queue message (sent in batches of ten, received and deleted by the
event source mapping), one collector invocation (the run of benches/cost_model.py for its events a day,
plus the secret read and the Backends built for it), the registry scan's share, its custom metrics
(EventsProcessed on every run and KeyDaysLeft when known are the two always present; the others appear
only in hours when they are not zero, which in a healthy month is never), and the Metrics Insights
alarms' metrics analyzed (one per alarm per source that has the metric). The secret is counted too:
it is the customer's, but it comes with every source.

Fixed: the dispatcher's invocations (its time grows with N: `--dispatch-ms-per-source`, measured
against moto), the mapping's empty long polls, the dead-letter queue's alarm, the dashboard.

    python benches/fleet_cost.py [--events-per-day 10000] [--mi-alarms 9]
                                 [--usd-per-mi-alarm-metric 0.10] [--dispatch-ms-per-source 10]
"""
import argparse
import math
import os
import sys
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(__file__))
import cost_model  # noqa: E402

RUNS = cost_model.RUNS_PER_MONTH
SQS_USD_PER_REQUEST = 0.40 / 1_000_000
SECRET_USD_PER_MONTH = 0.40
SECRETS_USD_PER_CALL = 0.05 / 10_000
METRIC_USD_PER_MONTH = 0.30
ALARM_USD_PER_MONTH = 0.10
DASHBOARD_USD_PER_MONTH = 3.00
DDB_USD_PER_READ_UNIT = 0.125 / 1_000_000
LOGS_USD_PER_GB = 0.50
# The mapping's pollers long-poll (20 s) whether or not messages come: five of them.
EMPTY_RECEIVES_PER_MONTH = 5 * 3 * 60 * 24 * 30
# One run's log lines (the EMF line, the run's JSON lines, Lambda's START/END/REPORT).
LOG_BYTES_PER_RUN = 4_000
# A registry item read by the scan: the registration and the live checkpoint share it (recent ids:
# about one run's events at 16 bytes each).
ITEM_KB = 4


def per_source(a):
    run = cost_model.model(
        a.events_per_day,
        SimpleNamespace(
            cpu_us_per_event=a.cpu_us_per_event,
            api_seconds_per_page=a.api_seconds_per_page,
            aws_seconds_per_write=0.015,
            memory_mb=a.memory_mb,
            batch_events=50_000,
            one_page_batches=False,
        ),
    )
    # Send (a tenth of a batch call), receive and delete by the mapping: 2.1 requests a message.
    sqs = RUNS * 2.1 * SQS_USD_PER_REQUEST
    secret = SECRET_USD_PER_MONTH + RUNS * SECRETS_USD_PER_CALL
    metrics = 2 * METRIC_USD_PER_MONTH
    alarms = a.mi_alarms * a.usd_per_mi_alarm_metric
    scan = RUNS * math.ceil(ITEM_KB / 4) * DDB_USD_PER_READ_UNIT
    logs = RUNS * LOG_BYTES_PER_RUN / 1e9 * LOGS_USD_PER_GB
    return {
        "collector (Lambda, DynamoDB, S3)": run["collector_usd"],
        "queue (SQS)": sqs,
        "secret (Secrets Manager)": secret,
        "custom metrics (2 × SourceId)": metrics,
        f"Metrics Insights alarms ({a.mi_alarms} × metric analyzed)": alarms,
        "registry scan (DynamoDB reads)": scan,
        "logs (CloudWatch Logs)": logs,
    }


def fixed(a, sources):
    dispatch_s = 0.05 + sources * a.dispatch_ms_per_source / 1000
    dispatcher = RUNS * (
        dispatch_s * 128 / 1024 * cost_model.LAMBDA_ARM_USD_PER_GB_S + cost_model.LAMBDA_USD_PER_REQUEST
    )
    return {
        "dispatcher (Lambda, 128 MB)": dispatcher,
        "mapping's empty long polls (SQS)": EMPTY_RECEIVES_PER_MONTH * SQS_USD_PER_REQUEST,
        "dead-letter queue alarm": ALARM_USD_PER_MONTH,
        "dashboard": DASHBOARD_USD_PER_MONTH,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--events-per-day", type=int, default=10_000)
    p.add_argument("--cpu-us-per-event", type=float, default=41.0)
    p.add_argument("--api-seconds-per-page", type=float, default=0.5)
    p.add_argument("--memory-mb", type=int, default=256)
    p.add_argument("--mi-alarms", type=int, default=9)
    p.add_argument("--usd-per-mi-alarm-metric", type=float, default=0.10)
    p.add_argument("--dispatch-ms-per-source", type=float, default=10.0)
    a = p.parse_args()
    each = per_source(a)
    print(f"Per source, {a.events_per_day:,} events a day, polled every 5 minutes ($/month):\n")
    print("| item | $/month |\n|---|---|")
    for k, v in each.items():
        print(f"| {k} | {v:.3f} |")
    print(f"| **per source** | **{sum(each.values()):.2f}** |\n")
    print("| sources | fixed $/month | per-source $/month × N | total $/month | $ per source |")
    print("|---|---|---|---|---|")
    for n in (1, 10, 100, 1000):
        f = sum(fixed(a, n).values())
        s = n * sum(each.values())
        print(f"| {n:,} | {f:.2f} | {s:,.2f} | {f + s:,.2f} | {(f + s) / n:.2f} |")


if __name__ == "__main__":
    main()
