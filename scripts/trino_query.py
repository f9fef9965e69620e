#!/usr/bin/env python3
"""The query layer's SQL (sql/) on Trino, the engine of Athena's engine 3: the same tables, view and
saved queries the template gives Glue and Athena, over a local copy of the bucket. Needs a Trino
server started by scripts/trino.sh (its URL in TRINO_URL or --server). Python's standard library
only: Trino's HTTP protocol (POST /v1/statement, then follow nextUri) is all it uses.

    scripts/trino_query.py [--bucket DIR] [--query NAME] [--param VALUE ...] [--rows N]
        runs every saved query (or one) over DIR (default: demo-output/bucket) and prints the rows
    scripts/trino_query.py check --bucket DIR [--param NAME=V1,V2,...]
        for the tests: registers the tables and the view, runs every saved query, prints JSON
    scripts/trino_query.py sql --bucket DIR "SELECT ..."
        one statement over the bucket's tables, rows as JSON lines
    scripts/trino_query.py twins --bucket DIR
        for the tests: each OCSF twin (sql/ocsf/) and its saved query, columns and rows as JSON

How the Glue catalog is reproduced (the one place where this differs from what Athena reads):
the tables and the view are written into Trino's file metastore as Glue holds them, from the very
objects that generate template.yaml (scripts/query.py): column types as Hive type strings, the
table parameters as they are (`projection.*`, `storage.location.template`, `classification`,
`compressionType`), and the view as the `/* Presto View: <base64 JSON> */` text the template
stores, with its `awsdatacatalog` catalog. Translated, because the file metastore is not Glue:
  - the location `s3://{{bucket}}/{{prefix}}...` becomes `local:///<the bucket's directory>/...`
    (in LOCATION and in storage.location.template);
  - SERDE + INPUTFORMAT + OUTPUTFORMAT become the metastore's storage format name: the Hive JSON
    SerDe with the text input format is `JSON`, LazySimpleSerDe with it is `TEXTFILE` (the same
    three classes, as Trino names them: nothing else is accepted here);
  - the database is a fresh schema per bucket (`audit_<n>`), the view's ${QueryDatabase}.
The OCSF copy's five Parquet tables are registered too, read from template.yaml's Ocsf...Table
resources (scripts/query.py ocsf_tables): the same translation, ParquetHiveSerDe with its formats
being `PARQUET`, and the stack's Region and account (the projection's enum values) being what the
CLI writes locally, `local` and `external`. Their partition projection is Trino's, from the same
`projection.*` parameters, as for the events table.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.dont_write_bytecode = True  # no scripts/__pycache__ from importing query.py
sys.path.insert(0, str(Path(__file__).resolve().parent))
import query  # noqa: E402  (scripts/query.py: the parsers of sql/ and the template's generator)

CATALOG = "awsdatacatalog"
STORAGE_FORMATS = {
    ("org.apache.hive.hcatalog.data.JsonSerDe", "org.apache.hadoop.mapred.TextInputFormat",
     "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"): "JSON",
    ("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "org.apache.hadoop.mapred.TextInputFormat",
     "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"): "TEXTFILE",
    # The OCSF copy's tables (template.yaml's Ocsf...Table resources).
    ("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
     "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
     "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"): "PARQUET",
}


class TrinoError(Exception):
    def __init__(self, error: dict, sql: str):
        self.error = error
        super().__init__(f"{error.get('errorName')}: {error.get('message')}\n--- in\n{sql}")


class Trino:
    """Trino's client protocol, enough for the tests: one statement at a time, all rows."""

    def __init__(self, url: str, schema: str | None = None):
        self.url = url.rstrip("/")
        self.schema = schema

    def _call(self, req):
        for attempt in range(40):
            try:
                with urllib.request.urlopen(req, timeout=300) as resp:
                    return json.load(resp)
            except urllib.error.HTTPError as e:
                if e.code in (502, 503, 504) and attempt < 39:  # busy: the protocol says retry
                    time.sleep(0.25)
                    continue
                raise

    def execute(self, sql: str) -> tuple[list[dict], list[list]]:
        # Just after start the coordinator may not have announced itself as a worker yet.
        deadline = time.monotonic() + 60
        while True:
            try:
                return self._execute(sql)
            except TrinoError as e:
                if e.error.get("errorName") != "NO_NODES_AVAILABLE" or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _execute(self, sql: str) -> tuple[list[dict], list[list]]:
        headers = {"X-Trino-User": "atlassian-audit-test", "X-Trino-Catalog": CATALOG,
                   "X-Trino-Time-Zone": "UTC", "Content-Type": "text/plain; charset=utf-8",
                   # timestamp(3), not timestamp: the types as the view declares them
                   "X-Trino-Client-Capabilities": "PARAMETRIC_DATETIME"}
        if self.schema:
            headers["X-Trino-Schema"] = self.schema
        r = self._call(urllib.request.Request(f"{self.url}/v1/statement", data=sql.encode("utf-8"),
                                              headers=headers, method="POST"))
        columns, rows = None, []
        while True:
            if r.get("error"):
                raise TrinoError(r["error"], sql)
            columns = r.get("columns") or columns
            rows.extend(r.get("data") or [])
            if not r.get("nextUri"):
                return columns or [], rows
            r = self._call(urllib.request.Request(r["nextUri"], headers={"X-Trino-User": "atlassian-audit-test"}))

    def run(self, sql: str, params: list[str] | None = None):
        """A saved query as Athena runs it: its text, with `?` bound to the string parameters."""
        if params:
            sql = f"EXECUTE IMMEDIATE {query.sql_text(sql)} USING " + ", ".join(query.sql_text(p) for p in params)
        columns, rows = self.execute(sql)
        return [c["name"] for c in columns], rows


def metastore_dir(server_state: Path) -> Path:
    return server_state / "metastore"


def local_location(value: str, bucket: Path) -> str:
    if not value.startswith("s3://{{bucket}}/{{prefix}}"):
        raise query.SqlFileError(f"location {value!r} does not start with s3://{{{{bucket}}}}/{{{{prefix}}}}")
    return "local://" + str(bucket.resolve()) + "/" + value[len("s3://{{bucket}}/{{prefix}}"):]


def table_metadata(ddl: query.TableDdl, bucket: Path) -> dict:
    """The Glue table of the template (scripts/query.py table_resource), as Trino's file metastore
    holds a table."""
    key = (ddl.serde, ddl.input_format, ddl.output_format)
    if key not in STORAGE_FORMATS:
        raise query.SqlFileError(f"{ddl.name}: no Trino storage format for {key}")
    parameters = {k: (local_location(v, bucket) if "{{bucket}}" in v else v) for k, v in ddl.properties.items()}
    parameters["EXTERNAL"] = "TRUE"
    return {
        "owner": "atlassian-audit-test",
        "tableType": "EXTERNAL_TABLE",
        "dataColumns": [{"name": n, "type": t.glue(), "properties": {}} for n, t in ddl.columns],
        "partitionColumns": [{"name": n, "type": t.glue(), "properties": {}} for n, t in ddl.partitions],
        "parameters": parameters,
        "storageFormat": STORAGE_FORMATS[key],
        "serdeParameters": {},
        "externalLocation": local_location(ddl.location, bucket),
        "columnStatistics": {},
    }


def view_metadata(view: query.View, schema: str) -> dict:
    """The Glue view of the template (scripts/query.py view_resource) after CloudFormation's Fn::Sub."""
    definition = (query.view_definition(view)
                  .replace("${Sql}", json.dumps(view.select, ensure_ascii=False))
                  .replace("${QueryDatabase}", schema))
    encoded = base64.b64encode(definition.encode("utf-8")).decode("ascii")
    return {
        "owner": "atlassian-audit-test",
        "tableType": "VIRTUAL_VIEW",
        # What the template declares as the view's Glue columns (Trino reads the JSON's columns).
        "dataColumns": [{"name": n, "type": query.hive_of_trino(t), "properties": {}} for n, t, _ in view.columns],
        "partitionColumns": [],
        "parameters": {"presto_view": "true", "comment": "Presto View"},
        "serdeParameters": {},
        "viewOriginalText": f"/* Presto View: {encoded} */",
        "viewExpandedText": "/* Presto View */",
        "columnStatistics": {},
    }


def register(server: str, state: Path, bucket: Path) -> Trino:
    """A fresh schema holding the events table, the quarantine table, the view and the OCSF copy's
    tables over `bucket`."""
    schema = "audit_" + uuid.uuid4().hex[:12]
    Trino(server).execute(f"CREATE SCHEMA {CATALOG}.{schema}")
    root = metastore_dir(state) / schema
    # The file metastore reads only what its own version wrote.
    with urllib.request.urlopen(f"{server.rstrip('/')}/v1/info", timeout=30) as resp:
        version = json.load(resp)["nodeVersion"]["version"]
    view = query.parse_view()
    for name, meta in [
        *[(d.name, table_metadata(d, bucket)) for d in
          (query.parse_table_ddl(query.TABLE_FILE), query.parse_table_ddl(query.QUARANTINE_FILE),
           *query.ocsf_tables())],
        (view.name, view_metadata(view, schema)),
    ]:
        (root / name).mkdir(parents=True)
        meta = {"writerVersion": version, **meta}
        (root / name / ".trinoSchema").write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return Trino(server, schema)


def check(trino: Trino, params: dict[str, list[str]]) -> dict:
    view = query.parse_view()
    columns, _ = trino.execute(f"SELECT * FROM {view.name} WHERE false")
    result = {"view": {"name": view.name, "declared": [[n, t] for n, t, _ in view.columns],
                       "trino": [[c["name"], c["type"]] for c in columns]},
              "queries": {}}
    for q in query.saved_queries():
        started = time.monotonic()
        try:
            names, rows = trino.run(q.text, params.get(q.stem, []))
            error = None
        except TrinoError as e:
            names, rows, error = [], [], f"{e.error.get('errorName')}: {e.error.get('message')}"
        result["queries"][q.stem] = {
            "title": q.title, "finds": q.finds, "on_hit": q.on_hit, "parameters": q.parameters,
            "columns": names, "rows": rows, "error": error,
            "seconds": round(time.monotonic() - started, 2)}
    return result


def twins(trino: Trino) -> dict:
    """Each OCSF twin (sql/ocsf/) and its saved query, both run on Trino as written: the columns and
    rows each returns (scripts/query.py twins gives DuckDB's)."""
    result = {"twins": {}}
    for saved, _, text in query.ocsf_twins():
        pair = {}
        for side, sql in (("archive", saved.text), ("ocsf", text)):
            started = time.monotonic()
            try:
                names, rows = trino.run(sql)
                error = None
            except TrinoError as e:
                names, rows, error = [], [], f"{e.error.get('errorName')}: {e.error.get('message')}"
            pair[side] = {"columns": names, "rows": rows, "error": error,
                          "seconds": round(time.monotonic() - started, 2)}
        result["twins"][saved.stem] = pair
    return result


def server_args(p: argparse.ArgumentParser):
    p.add_argument("--server", default=os.environ.get("TRINO_URL"),
                   help="the Trino server (default: $TRINO_URL, from `eval \"$(scripts/trino.sh start)\"`)")
    p.add_argument("--state", type=Path, default=Path(os.environ.get("TRINO_STATE", query.ROOT / "target" / "trino")),
                   help="the server's directory (default: $TRINO_STATE): its metastore is written here")


def main(argv: list[str]) -> int:
    if argv[:1] == ["ready"]:  # scripts/trino.sh start: the server runs queries
        Trino(argv[1]).execute("SELECT 1")
        return 0
    if argv[:1] in (["check"], ["sql"], ["twins"]):
        p = argparse.ArgumentParser(prog=f"trino_query.py {argv[0]}")
        p.add_argument("--bucket", type=Path, required=True)
        server_args(p)
        if argv[0] == "check":
            p.add_argument("--param", action="append", default=[], help="QUERY=V1,V2,... (the query's ? in order)")
        elif argv[0] == "sql":
            p.add_argument("statement")
        a = p.parse_args(argv[1:])
        if not a.server:
            raise SystemExit("no Trino server: eval \"$(scripts/trino.sh start)\" or give --server")
        trino = register(a.server, a.state, a.bucket)
        if argv[0] == "sql":
            names, rows = trino.run(a.statement)
            for row in rows:
                print(json.dumps(dict(zip(names, row)), ensure_ascii=False))
            return 0
        if argv[0] == "twins":
            print(json.dumps(twins(trino), ensure_ascii=False))
            return 0
        params = {}
        for item in a.param:
            stem, _, values = item.partition("=")
            params[stem] = values.split(",") if values else []
        print(json.dumps(check(trino, params), ensure_ascii=False))
        return 0
    p = argparse.ArgumentParser(prog="trino_query.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bucket", type=Path, default=query.ROOT / "demo-output" / "bucket",
                   help="a local copy of the bucket (default: demo-output/bucket, from `make demo`)")
    server_args(p)
    p.add_argument("--query", help="one saved query, by file name (e.g. 01_admin_logged_in_as_user)")
    p.add_argument("--param", action="append", default=[], help="a parameter of --query, in order")
    p.add_argument("--rows", type=int, default=10, help="rows shown per query (default 10)")
    a = p.parse_args(argv)
    if not a.server:
        raise SystemExit("no Trino server: eval \"$(scripts/trino.sh start)\" or give --server")
    if not (a.bucket / "logs").is_dir():
        raise SystemExit(f"{a.bucket} holds no logs/: run `make demo` first, or give --bucket")
    trino = register(a.server, a.state, a.bucket)
    # The years present, as a partition filter: without one Trino enumerates every projected hour
    # of 2020-2099 (714,240) and evaluates the filter on each, which takes a minute here.
    years = sorted(p.name[5:] for p in (a.bucket / "logs" / "atlassian_audit").glob("year=*")) or ["0"]
    in_years = "year IN (" + ", ".join(query.sql_text(y) for y in years) + ")"
    total = trino.execute(f"SELECT count(*) FROM atlassian_audit_flat WHERE {in_years}")[1][0][0]
    print(f"{a.bucket}: {total} events in atlassian_audit_flat (Trino, the view and queries of sql/)\n")
    queries = query.saved_queries()
    if a.query:
        queries = [q for q in queries if q.stem == a.query]
        if not queries:
            raise SystemExit(f"no saved query {a.query!r}")
    failed = 0
    for q in queries:
        params = a.param if a.query else []
        if q.parameters and not params:
            user = trino.execute(f"SELECT actor_email FROM atlassian_audit_flat WHERE {in_years} AND actor_email LIKE '%@%' "
                                 "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[1]
            days = trino.execute("SELECT min(concat(year, '-', month, '-', day)), max(concat(year, '-', month, '-', day)) "
                                 f"FROM atlassian_audit_flat WHERE {in_years}")[1][0]
            params = [user[0][0] if user else "", days[0] or "", days[1] or ""]
        started = time.monotonic()
        try:
            names, rows = trino.run(q.text, params)
        except TrinoError as e:
            failed += 1
            print(f"== {q.stem}: {q.title} — FAILED on Trino\n   {e.error.get('errorName')}: {e.error.get('message')}\n")
            continue
        shown = f" with {params}" if params else ""
        print(f"== {q.stem}: {q.title}{shown} — {len(rows)} row(s), {time.monotonic() - started:.1f} s\n   Finds: {q.finds}")
        if rows:
            query.print_rows(names, rows, a.rows)
        print()
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except query.SqlFileError as e:
        sys.exit(f"sql/: {e}")
