"""Runs Grove's Atlassian audit connector once against a loopback (simulated) organization.

Grove is used as installed from PyPI (tools/grove-requirements.txt), unmodified, through its
own entrypoint and its own file-based backends:
  - configuration: the local_file config handler reads one connector document (JSON) that this
    driver writes, with the org id as `identity` and the API key as `key`;
  - output: the local_file output handler (gzip NDJSON files under --out-dir/logs/...);
  - cache (pointers, windows, locks, dedup hashes): the local_file cache handler.
The one patch: the connector's base URL constant (`https://api.atlassian.com/admin/v1/orgs/
{identity}`) is pointed at the loopback server; nothing else in Grove is changed.

Exit status: 0 when Grove logged no error, 1 otherwise.
"""

import argparse
import json
import logging
import os
import sys
from urllib.parse import urlparse


class _ErrorCounter(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record):
        self.count += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--org-id", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--out-dir", required=True, help="Grove's output directory")
    p.add_argument("--state-dir", required=True, help="Grove's config and cache files")
    args = p.parse_args()

    host = urlparse(args.base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing a non-loopback base URL: {args.base_url}")

    out_dir = os.path.abspath(args.out_dir)
    config_dir = os.path.join(os.path.abspath(args.state_dir), "config")
    cache_dir = os.path.join(os.path.abspath(args.state_dir), "cache")
    for d in (out_dir, config_dir, cache_dir):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(config_dir, "atlassian.json"), "w") as f:
        json.dump(
            {
                "name": "atlassian-bench",
                "identity": args.org_id,
                "connector": "atlassian_audit_events",
                "key": args.api_key,
            },
            f,
        )
    os.environ.update(
        {
            "GROVE_CONFIG_HANDLER": "local_file",
            "GROVE_CONFIG_LOCAL_FILE_PATH": config_dir,
            "GROVE_OUTPUT_HANDLER": "local_file",
            "GROVE_OUTPUT_LOCAL_FILE_PATH": out_dir,
            "GROVE_CACHE_HANDLER": "local_file",
            "GROVE_CACHE_LOCAL_FILE_PATH": cache_dir,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )

    import grove.connectors.atlassian.api as atlassian_api
    from grove.entrypoints import local_process

    atlassian_api.API_BASE_URI = args.base_url.rstrip("/") + "/admin/v1/orgs/{identity}"

    errors = _ErrorCounter()
    logging.getLogger("grove").addHandler(errors)
    local_process.entrypoint()
    if errors.count:
        sys.exit(f"grove logged {errors.count} error(s); see its log above")


if __name__ == "__main__":
    main()
