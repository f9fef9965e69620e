"""Counts what each collector wrote and prints the side-by-side table for benches/grove/run.sh.

Usage: report.py WORK_DIR N RUN_NAME...
Each RUN_NAME has WORK_DIR/RUN_NAME.time (GNU time -v output) and WORK_DIR/RUN_NAME/out/
(gzip NDJSON under logs/). The first run is the baseline of the ratios (Grove).
Exits 1 when a run failed or did not write exactly the N events (each once).
"""

import glob
import gzip
import json
import os
import re
import sys


def parse_time_v(path):
    text = open(path).read()

    def field(label):
        m = re.search(r"^\s*" + re.escape(label) + r": (.+)$", text, re.M)
        if not m:
            raise SystemExit(f"{path}: no '{label}'")
        return m.group(1).strip()

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall": wall,
        "cpu": float(field("User time (seconds)")) + float(field("System time (seconds)")),
        "user": float(field("User time (seconds)")),
        "sys": float(field("System time (seconds)")),
        "rss_mb": int(field("Maximum resident set size (kbytes)")) / 1024,
        "exit": int(field("Exit status")),
    }


def count_events(out_dir):
    """(lines, distinct ids, files, bytes). Grove joins lines with CRLF, ours ends each with LF."""
    lines = 0
    ids = set()
    files = sorted(glob.glob(os.path.join(out_dir, "logs", "**", "*.json.gz"), recursive=True))
    size = 0
    for f in files:
        size += os.path.getsize(f)
        with gzip.open(f, "rt", encoding="utf-8", newline="") as fh:
            for line in fh.read().splitlines():
                if not line.strip():
                    continue
                lines += 1
                ids.add(json.loads(line)["id"])
    return lines, len(ids), len(files), size


def main():
    work, n, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rows = []
    ok = True
    for name in names:
        t = parse_time_v(os.path.join(work, f"{name}.time"))
        lines, distinct, files, size = count_events(os.path.join(work, name, "out"))
        complete = t["exit"] == 0 and lines == n and distinct == n
        ok &= complete
        rows.append((name, t, lines, distinct, files, size, complete))

    base = rows[0][1]
    header = (
        f"{'collector':<14} {'events':>8} {'files':>6} {'MB out':>7} {'wall s':>8} {'CPU s':>8} "
        f"{'(user+sys)':>14} {'CPU µs/ev':>10} {'peak RSS MB':>12} {'events/s':>10} "
        f"{'CPU ×':>7} {'RSS ×':>7} {'ok':>3}"
    )
    print(header)
    print("-" * len(header))
    for name, t, lines, distinct, files, size, complete in rows:
        cpu_ratio = base["cpu"] / t["cpu"] if t["cpu"] else float("inf")
        rss_ratio = base["rss_mb"] / t["rss_mb"] if t["rss_mb"] else float("inf")
        print(
            f"{name:<14} {lines:>8} {files:>6} {size / 1e6:>7.1f} {t['wall']:>8.2f} {t['cpu']:>8.2f} "
            f"{'(' + format(t['user'], '.2f') + '+' + format(t['sys'], '.2f') + ')':>14} "
            f"{t['cpu'] / n * 1e6:>10.1f} {t['rss_mb']:>12.1f} {n / t['wall']:>10.0f} "
            f"{cpu_ratio:>7.1f} {rss_ratio:>7.1f} {'yes' if complete else 'NO':>3}"
        )
        if not complete:
            print(
                f"  {name}: exit {t['exit']}, {lines} lines, {distinct} distinct ids, "
                f"expected {n}",
                file=sys.stderr,
            )
    print(f"(× = {rows[0][0]}'s figure divided by the row's: how many times less CPU / memory)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
