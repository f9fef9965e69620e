#!/usr/bin/env python3
"""The query layer's SQL (sql/), locally: the same table, view and saved queries Athena gets, run
over a local copy of the bucket with DuckDB (Trino SQL transpiled by sqlglot). No AWS.

    scripts/query.py [--bucket DIR] [--query NAME] [--param VALUE ...] [--rows N]
        runs every saved query (or one) over DIR (default: demo-output/bucket) and prints the rows
    scripts/query.py check --bucket DIR [--param NAME=V1,V2,...]
        for the tests: parses every saved query and the view as Trino, runs them, prints JSON
    scripts/query.py template [--write]
        prints (or writes into template.yaml) the resources generated from sql/

Needs the pinned duckdb and sqlglot (scripts/tools.sh query: .venv-query).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
TABLE_FILE = SQL_DIR / "atlassian_audit.sql"
QUARANTINE_FILE = SQL_DIR / "atlassian_audit_quarantine.sql"
VIEW_FILE = SQL_DIR / "atlassian_audit_flat.sql"
QUERIES_DIR = SQL_DIR / "queries"
# Twins of saved queries over the OCSF copy's Parquet tables (docs/security-lake.md): same stem, same events.
OCSF_QUERIES_DIR = SQL_DIR / "ocsf"
TEMPLATE = ROOT / "template.yaml"
BEGIN_MARK = "  # BEGIN resources generated from sql/ by `scripts/query.py template --write`: edit sql/, not this block"
END_MARK = "  # END resources generated from sql/"


class SqlFileError(Exception):
    """A file under sql/ does not have the shape this script (and the tests) rely on."""


# --- Hive types (the table DDL) -----------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)|(<|>|,|:|\())")


@dataclass
class HiveType:
    kind: str  # a primitive name, or "struct", "array", "map"
    fields: list[tuple[str, "HiveType"]] = field(default_factory=list)  # struct
    items: list["HiveType"] = field(default_factory=list)  # array: [element]; map: [key, value]

    def glue(self) -> str:
        """As Glue stores it: no blanks, no backticks."""
        if self.kind == "struct":
            return "struct<" + ",".join(f"{n}:{t.glue()}" for n, t in self.fields) + ">"
        if self.kind in ("array", "map"):
            return f"{self.kind}<" + ",".join(t.glue() for t in self.items) + ">"
        return self.kind

    def duckdb(self) -> str:
        if self.kind == "struct":
            return "STRUCT(" + ", ".join(f'"{n}" {t.duckdb()}' for n, t in self.fields) + ")"
        if self.kind == "array":
            return self.items[0].duckdb() + "[]"
        if self.kind == "map":
            return f"MAP({self.items[0].duckdb()}, {self.items[1].duckdb()})"
        primitives = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "timestamp": "TIMESTAMP",
                      "boolean": "BOOLEAN", "double": "DOUBLE"}
        if self.kind not in primitives:
            raise SqlFileError(f"Hive type {self.kind!r} has no DuckDB counterpart in scripts/query.py")
        return primitives[self.kind]


def parse_hive_type(text: str) -> HiveType:
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SqlFileError(f"cannot read the Hive type at {text[pos:pos + 30]!r}")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    tokens = [t.strip("`") for t in tokens]

    def parse(i: int) -> tuple[HiveType, int]:
        name = tokens[i].lower()
        if name == "struct":
            assert tokens[i + 1] == "<"
            i += 2
            fields = []
            while True:
                fname = tokens[i]
                if tokens[i + 1] != ":":
                    raise SqlFileError(f"struct field {fname!r} lacks ':'")
                ftype, i = parse(i + 2)
                fields.append((fname, ftype))
                if tokens[i] == ",":
                    i += 1
                    continue
                if tokens[i] == ">":
                    return HiveType("struct", fields=fields), i + 1
                raise SqlFileError(f"unexpected {tokens[i]!r} in a struct")
        if name in ("array", "map"):
            assert tokens[i + 1] == "<"
            items = []
            i += 2
            while True:
                t, i = parse(i)
                items.append(t)
                if tokens[i] == ",":
                    i += 1
                    continue
                if tokens[i] == ">":
                    return HiveType(name, items=items), i + 1
                raise SqlFileError(f"unexpected {tokens[i]!r} in {name}<>")
        return HiveType(name), i + 1

    t, end = parse(0)
    if end != len(tokens):
        raise SqlFileError(f"trailing text after the Hive type {text!r}")
    return t


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p.strip() for p in parts]


@dataclass
class TableDdl:
    name: str
    columns: list[tuple[str, HiveType]]
    partitions: list[tuple[str, HiveType]]
    serde: str
    input_format: str
    output_format: str
    location: str
    properties: dict[str, str]


def parse_table_ddl(path: Path) -> TableDdl:
    text = strip_comments(path.read_text(encoding="utf-8"))
    m = re.search(r"CREATE EXTERNAL TABLE (\w+) \(", text)
    if not m:
        raise SqlFileError(f"{path}: no `CREATE EXTERNAL TABLE name (`")
    i, depth = m.end(), 1
    start = i
    while depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    body, rest = text[start:i - 1], text[i:]

    def columns(block: str) -> list[tuple[str, HiveType]]:
        out = []
        for part in split_top_level(block):
            name, _, typ = part.partition(" ")
            out.append((name.strip("`"), parse_hive_type(typ)))
        return out

    partitions = []
    pm = re.search(r"PARTITIONED BY \(([^)]*)\)", rest)
    if pm:
        partitions = columns(pm.group(1))

    def quoted(keyword: str) -> str:
        km = re.search(keyword + r" '([^']*)'", rest)
        if not km:
            raise SqlFileError(f"{path}: no {keyword} '...'")
        return km.group(1)

    props = {}
    tm = re.search(r"TBLPROPERTIES \((.*)\)", rest, re.S)
    if tm:
        for k, v in re.findall(r"'([^']*)'\s*=\s*'([^']*)'", tm.group(1)):
            props[k] = v
    return TableDdl(m.group(1), columns(body), partitions, quoted("ROW FORMAT SERDE"),
                    quoted("STORED AS INPUTFORMAT"), quoted("OUTPUTFORMAT"), quoted("LOCATION"), props)


# --- the view and the saved queries --------------------------------------------------------------

@dataclass
class View:
    name: str
    select: str  # the query after `AS`, as the view stores it (originalSql)
    columns: list[tuple[str, str, str]]  # name, Trino type, meaning


def parse_view(path: Path = VIEW_FILE) -> View:
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^CREATE OR REPLACE VIEW (\w+) AS\n", text, re.M)
    if not m:
        raise SqlFileError(f"{path}: no `CREATE OR REPLACE VIEW name AS` line")
    columns = []
    for line in text[:m.start()].splitlines():
        row = re.match(r"^-- \| (\w+) \| ([a-z0-9()]+) \| (.+) \|$", line)
        if row and row.group(1) != "column":  # the table's header row
            columns.append((row.group(1), row.group(2), row.group(3)))
    if not columns:
        raise SqlFileError(f"{path}: no column table (`-- | name | type | meaning |`)")
    return View(m.group(1), text[m.end():].rstrip("\n"), columns)


@dataclass
class SavedQuery:
    stem: str
    title: str
    finds: str
    on_hit: str
    text: str
    parameters: int


def comment_paragraph(lines: list[str], label: str, path: Path) -> str:
    out, inside = [], False
    for line in lines:
        body = line[3:] if line.startswith("-- ") else None
        if body is None:
            break
        if body.startswith(label):
            inside = True
            out.append(body[len(label):].strip())
        elif inside and not re.match(r"^[A-Z][a-z ]+:", body):
            out.append(body.strip())
        elif inside:
            break
    if not out:
        raise SqlFileError(f"{path}: the opening comment has no `-- {label}` paragraph")
    return " ".join(out)


def saved_queries() -> list[SavedQuery]:
    out = []
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("-- "):
            raise SqlFileError(f"{path}: the first line must be `-- <title>`")
        body = "\n".join(line for line in lines if not line.startswith("--"))
        out.append(SavedQuery(
            stem=path.stem,
            title=lines[0][3:].strip(),
            finds=comment_paragraph(lines[1:], "Finds:", path),
            on_hit=comment_paragraph(lines[1:], "On a hit:", path),
            text=text,
            parameters=body.count("?"),
        ))
    return out


# --- DuckDB ---------------------------------------------------------------------------------------

def transpile(sql: str) -> str:
    import sqlglot
    return sqlglot.transpile(sql, read="trino", write="duckdb")[0]


def parse_trino(sql: str):
    import sqlglot
    from sqlglot.errors import ErrorLevel
    return sqlglot.parse_one(sql, read="trino", error_level=ErrorLevel.RAISE)


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join(sql_text(str(p)) for p in paths) + "]"


def sql_map(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{sql_text(k)}: {sql_text(v)}" for k, v in mapping.items()) + "}"


def connect(bucket: Path):
    """A DuckDB session with the two tables (as Athena reads them) and the view."""
    import duckdb
    con = duckdb.connect()
    # Athena runs in UTC; so must the transpiled current_timestamp and date_format.
    con.execute("SET TimeZone = 'UTC'")
    table = parse_table_ddl(TABLE_FILE)
    logs = sorted((bucket / "logs" / "atlassian_audit").glob("year=*/month=*/day=*/hour=*/*.json.gz"))
    columns = {name: t.duckdb() for name, t in table.columns}
    partitions = {name: "VARCHAR" for name, _ in table.partitions}
    if logs:
        con.execute(
            f"CREATE VIEW {table.name} AS SELECT * FROM read_json({sql_list(logs)}, "
            f"format = 'newline_delimited', columns = {sql_map(columns)}, hive_partitioning = true, "
            f"hive_types = {sql_map(partitions)})")
    else:
        empty = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t in {**columns, **partitions}.items())
        con.execute(f"CREATE VIEW {table.name} AS SELECT {empty} WHERE false")
    quarantine = parse_table_ddl(QUARANTINE_FILE)
    files = sorted((bucket / "quarantine" / "atlassian_audit").glob("*.json.gz"))
    if files:
        # The whole line as text, as LazySimpleSerDe gives it (no quoting, no escapes, \001 apart).
        con.execute(
            f"CREATE VIEW {quarantine.name} AS SELECT line, filename AS \"$path\" FROM read_csv({sql_list(files)}, "
            "columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '', header = false, "
            "auto_detect = false, filename = true, compression = 'gzip')")
    else:
        con.execute(f"CREATE VIEW {quarantine.name} AS SELECT CAST(NULL AS VARCHAR) AS line, "
                    "CAST(NULL AS VARCHAR) AS \"$path\" WHERE false")
    view = parse_view()
    con.execute(f"CREATE VIEW {view.name} AS {transpile(view.select)}")
    return con


def run_query(con, query: SavedQuery, params: list[str]):
    if len(params) != query.parameters:
        raise SystemExit(f"{query.stem} takes {query.parameters} parameter(s) (--param), {len(params)} given")
    cursor = con.execute(transpile(query.text), params)
    names = [d[0] for d in cursor.description]
    return names, cursor.fetchall()


def jsonable(v):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def check(bucket: Path, params: dict[str, list[str]]) -> dict:
    """Everything the tests need, as JSON: each query parsed as Trino and run; the view's columns."""
    con = connect(bucket)
    view = parse_view()
    parse_trino(view.select)
    described = con.execute(f"DESCRIBE {view.name}").fetchall()
    result = {"view": {"name": view.name, "declared": [[n, t] for n, t, _ in view.columns],
                       "duckdb": [[row[0], row[1]] for row in described]},
              "queries": {}}
    for q in saved_queries():
        parse_trino(q.text)
        names, rows = run_query(con, q, params.get(q.stem, []))
        result["queries"][q.stem] = {
            "title": q.title, "finds": q.finds, "on_hit": q.on_hit, "parameters": q.parameters,
            "columns": names, "rows": [[jsonable(v) for v in row] for row in rows]}
    return result


# --- the OCSF copy's Glue tables (template.yaml) -----------------------------------------------------

# The values CloudFormation gives the pseudo parameters the OCSF tables name, for a local bucket: what the
# CLI writes without OCSF_REGION and OCSF_ACCOUNT_ID (src/config/ocsf.rs), as the stack's function writes
# its Region and account.
LOCAL_PSEUDO_PARAMETERS = {"AWS::Region": "local", "AWS::AccountId": "external"}


def _template_value(raw: str, where: str) -> str:
    """One value of an OCSF table resource: a scalar, `!Ref <pseudo parameter>`, or the template's
    `!Sub ["s3://${Bucket}/${OutputPrefix}...", {...}]` (as sql/'s `s3://{{bucket}}/{{prefix}}...`)."""
    raw = raw.strip()
    if raw.startswith("!Ref "):
        name = raw[len("!Ref "):].strip()
        if name not in LOCAL_PSEUDO_PARAMETERS:
            raise SqlFileError(f"template.yaml {where}: !Ref {name} has no local value")
        return LOCAL_PSEUDO_PARAMETERS[name]
    if raw.startswith("!Sub ["):
        m = re.match(r'!Sub \["(s3://\$\{Bucket\}/\$\{OutputPrefix\}[^"]*)", \{ Bucket: ', raw)
        if not m:
            raise SqlFileError(f"template.yaml {where}: an unexpected !Sub {raw[:60]!r}")
        text = m.group(1).replace("${Bucket}", "{{bucket}}").replace("${OutputPrefix}", "{{prefix}}")
        return re.sub(r"\$\{!(\w+)\}", r"${\1}", text)
    if raw.startswith("!"):
        raise SqlFileError(f"template.yaml {where}: an unexpected tag {raw[:40]!r}")
    return json.loads(raw) if raw.startswith('"') else raw


def ocsf_tables(template: Path = TEMPLATE) -> list[TableDdl]:
    """The stack's Glue tables over the OCSF copy (the `Ocsf...Table` resources of template.yaml, whose
    columns tests/ocsf_tables.rs holds to the Parquet writer's), read as they are written there: name,
    columns and partition keys (Glue types), SerDe and formats, location and parameters (partition
    projection included). A shape this reader does not know is an error, not a guess."""
    lines = template.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^  Ocsf\w+Table:$", line)]
    if not starts:
        raise SqlFileError("template.yaml: no Ocsf...Table resource")
    out = []
    for start in starts:
        end = next((j for j in range(start + 1, len(lines)) if re.match(r"^  \S", lines[j])), len(lines))
        block, where = lines[start + 1:end], lines[start].strip()
        name, section, fields = None, None, {}
        columns, partitions, props = [], [], {}
        for line in block:
            m = re.match(r"^( +)(\S[^:]*?): ?(.*)$", line)
            item = re.match(r'^ +- \{ Name: (\w+), Type: ("[^"]+"|\w+) \}$', line)
            if item:
                typ = parse_hive_type(json.loads(item.group(2)) if item.group(2).startswith('"') else item.group(2))
                if section not in ("Columns", "PartitionKeys"):
                    raise SqlFileError(f"template.yaml {where}: a Name/Type item under {section}")
                {"Columns": columns, "PartitionKeys": partitions}[section].append((item.group(1), typ))
            elif m:
                indent, key, value = len(m.group(1)), m.group(2), m.group(3)
                if indent == 8:
                    section = key
                    if key == "Name":
                        name = value.strip()
                elif indent == 10 and section == "Parameters":
                    props[key] = _template_value(value, f"{where} {key}")
                elif indent >= 10 and section == "StorageDescriptor":
                    section = "Columns" if key == "Columns" else section
                    if value:
                        fields[key] = value
        if not (name and columns and partitions):
            raise SqlFileError(f"template.yaml {where}: no Name, Columns or PartitionKeys under TableInput")
        try:
            out.append(TableDdl(name, columns, partitions, fields["SerializationLibrary"], fields["InputFormat"],
                                fields["OutputFormat"], _template_value(fields["Location"], where), props))
        except KeyError as e:
            raise SqlFileError(f"template.yaml {where}: no {e.args[0]}") from None
    return out


def connect_ocsf(con, bucket: Path) -> list[str]:
    """The OCSF copy's tables as the stack's Glue tables (template.yaml) read them: one per custom source,
    its objects under the table's location, its partition keys as Glue's strings. Returns their names."""
    names = []
    for table in ocsf_tables():
        folder = Path(local_path(table.location, bucket))
        files = sorted(folder.glob("/".join(f"{n}=*" for n, _ in table.partitions) + "/*.parquet"))
        if not files:
            continue
        partitions = {n: t.duckdb() for n, t in table.partitions}
        con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet({sql_list(files)}, "
                    f"hive_partitioning = true, hive_types = {sql_map(partitions)})")
        names.append(table.name)
    return names


def local_path(location: str, bucket: Path) -> str:
    """A location `s3://{{bucket}}/{{prefix}}<key>` as the path of <key> under the local bucket."""
    if not location.startswith("s3://{{bucket}}/{{prefix}}"):
        raise SqlFileError(f"location {location!r} does not start with s3://{{{{bucket}}}}/{{{{prefix}}}}")
    return str(bucket.resolve()) + "/" + location[len("s3://{{bucket}}/{{prefix}}"):]


def ocsf_twins() -> list[tuple[SavedQuery, Path, str]]:
    """Each OCSF twin (sql/ocsf/): its saved query, its file and its text."""
    saved = {q.stem: q for q in saved_queries()}
    out = []
    for path in sorted(OCSF_QUERIES_DIR.glob("*.sql")):
        if path.stem not in saved:
            raise SqlFileError(f"{path}: no saved query {path.stem} in sql/queries/ to be the twin of")
        out.append((saved[path.stem], path, path.read_text(encoding="utf-8")))
    return out


def twins(bucket: Path) -> dict:
    """Each OCSF twin (sql/ocsf/) and its saved query, both parsed as Trino and run in DuckDB: the
    columns and rows each returns."""
    con = connect(bucket)
    tables = connect_ocsf(con, bucket)
    result = {"tables": tables, "twins": {}}
    for saved, _, text in ocsf_twins():
        parse_trino(text)
        pair = {}
        for side, sql in (("archive", saved.text), ("ocsf", text)):
            cursor = con.execute(transpile(sql))
            pair[side] = {"columns": [d[0] for d in cursor.description],
                          "rows": [[jsonable(v) for v in row] for row in cursor.fetchall()]}
        result["twins"][saved.stem] = pair
    return result


def print_rows(names, rows, limit):
    widths = [min(40, max([len(n)] + [len(str(r[i])) for r in rows[:limit]])) for i, n in enumerate(names)]
    cut = lambda s, w: s if len(s) <= w else s[:w - 1] + "…"  # noqa: E731
    print("  " + "  ".join(cut(n, w).ljust(w) for n, w in zip(names, widths)))
    for row in rows[:limit]:
        print("  " + "  ".join(cut("" if v is None else str(v), w).ljust(w) for v, w in zip(row, widths)))
    if len(rows) > limit:
        print(f"  … {len(rows) - limit} more rows")


# --- template.yaml ------------------------------------------------------------------------------

def camel(stem: str) -> str:
    return "".join(part.capitalize() if not part.isdigit() else part for part in stem.split("_"))


def yaml_block(text: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line else "" for line in text.rstrip("\n").split("\n"))


def yaml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def sub_location(value: str) -> str:
    """A DDL location with {{bucket}}/{{prefix}} as a Fn::Sub string (projection ${x} escaped)."""
    return (value.replace("${", "${!").replace("{{bucket}}", "${Bucket}")
            .replace("{{prefix}}", "${OutputPrefix}"))


def table_resource(logical: str, ddl: TableDdl, description: str) -> str:
    bucket = "{ Bucket: !If [CreateBucket, !Ref OutputBucket, !Ref ExistingBucketName] }"
    lines = [
        f"  {logical}:",
        "    Type: AWS::Glue::Table",
        "    Condition: QueryLayerOn",
        "    Properties:",
        "      CatalogId: !Ref AWS::AccountId",
        "      DatabaseName: !Ref QueryDatabase",
        "      TableInput:",
        f"        Name: {ddl.name}",
        f"        Description: {yaml_string(description)}",
        "        TableType: EXTERNAL_TABLE",
        "        Parameters:",
    ]
    for k, v in ddl.properties.items():
        if "{{" in v:
            lines.append(f"          {k}: !Sub [{yaml_string(sub_location(v))}, {bucket}]")
        else:
            lines.append(f"          {k}: {yaml_string(v)}")
    if ddl.partitions:
        lines.append("        PartitionKeys:")
        lines += [f"          - {{ Name: {n}, Type: {t.glue()} }}" for n, t in ddl.partitions]
    lines += [
        "        StorageDescriptor:",
        f"          Location: !Sub [{yaml_string(sub_location(ddl.location))}, {bucket}]",
        f"          InputFormat: {ddl.input_format}",
        f"          OutputFormat: {ddl.output_format}",
        "          SerdeInfo:",
        f"            SerializationLibrary: {ddl.serde}",
        "          Columns:",
    ]
    lines += [f"            - {{ Name: {n}, Type: {yaml_string(t.glue())} }}" for n, t in ddl.columns]
    return "\n".join(lines)


def hive_of_trino(t: str) -> str:
    return {"varchar": "string", "timestamp(3)": "timestamp", "bigint": "bigint", "integer": "int"}[t]


def view_definition(view: View) -> str:
    """The view as Glue stores it for Athena: the JSON inside `/* Presto View: <base64> */`, with
    ${Sql} (the JSON string of the view's SELECT) and ${QueryDatabase} for CloudFormation's Fn::Sub.
    scripts/trino_query.py substitutes them the same way and hands the result to Trino."""
    columns = ",".join(json.dumps({"name": n, "type": t}) for n, t, _ in view.columns)
    return ('{"originalSql":${Sql},"catalog":"awsdatacatalog","schema":"${QueryDatabase}",'
            f'"columns":[{columns}],"runAsInvoker":false}}')


def view_resource(view: View) -> str:
    definition = view_definition(view)
    lines = [
        "  AtlassianAuditFlatView:",
        "    Type: AWS::Glue::Table",
        "    Condition: QueryLayerOn",
        "    Properties:",
        "      CatalogId: !Ref AWS::AccountId",
        "      DatabaseName: !Ref QueryDatabase",
        "      TableInput:",
        f"        Name: {view.name}",
        "        Description: The Atlassian.Audit data model, one row per event (README, \"Querying\").",
        "        TableType: VIRTUAL_VIEW",
        "        Parameters: { presto_view: \"true\", comment: Presto View }",
        "        ViewExpandedText: /* Presto View */",
        "        ViewOriginalText: !Join",
        "          - \"\"",
        "          - - \"/* Presto View: \"",
        "            - Fn::Base64: !Sub",
        f"                - {yaml_string(definition)}",
        f"                - Sql: {yaml_string(json.dumps(view.select, ensure_ascii=False))}",
        "            - \" */\"",
        "        StorageDescriptor:",
        "          SerdeInfo: {}",
        "          Columns:",
    ]
    lines += [f"            - {{ Name: {n}, Type: {hive_of_trino(t)} }}" for n, t, _ in view.columns]
    return "\n".join(lines)


def query_resource(q: SavedQuery) -> str:
    description = q.finds if len(q.finds) <= 1024 else q.finds[:1023] + "…"
    return "\n".join([
        f"  SavedQuery{camel(q.stem)}:",
        "    Type: AWS::Athena::NamedQuery",
        "    Condition: QueryLayerOn",
        "    Properties:",
        f"      Name: {yaml_string('Atlassian audit: ' + q.title)}",
        f"      Description: {yaml_string(description)}",
        "      Database: !Ref QueryDatabase",
        "      WorkGroup: !Ref QueryWorkGroup",
        "      QueryString: |",
        yaml_block(q.text, 8),
    ])


def render_template_block() -> str:
    parts = [BEGIN_MARK,
             table_resource("AtlassianAuditTable", parse_table_ddl(TABLE_FILE),
                            "Atlassian.Audit events under logs/atlassian_audit/ (sql/atlassian_audit.sql)."),
             "",
             table_resource("AtlassianAuditQuarantineTable", parse_table_ddl(QUARANTINE_FILE),
                            "Quarantined events, one JSON line each (sql/atlassian_audit_quarantine.sql)."),
             "",
             view_resource(parse_view()),
             ""]
    for q in saved_queries():
        parts += [query_resource(q), ""]
    parts.append(END_MARK)
    return "\n".join(parts)


def write_template(write: bool) -> int:
    block = render_template_block()
    if not write:
        print(block)
        return 0
    text = TEMPLATE.read_text(encoding="utf-8")
    start, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if start < 0 or end < 0:
        raise SystemExit(f"template.yaml lacks the markers:\n{BEGIN_MARK}\n{END_MARK}")
    TEMPLATE.write_text(text[:start] + block + text[end + len(END_MARK):], encoding="utf-8")
    print("template.yaml: resources from sql/ rewritten")
    return 0


# --- the command line ------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    if argv[:1] == ["template"]:
        p = argparse.ArgumentParser(prog="query.py template")
        p.add_argument("--write", action="store_true", help="rewrite the generated block of template.yaml")
        return write_template(p.parse_args(argv[1:]).write)
    if argv[:1] == ["twins"]:
        p = argparse.ArgumentParser(prog="query.py twins")
        p.add_argument("--bucket", type=Path, required=True)
        print(json.dumps(twins(p.parse_args(argv[1:]).bucket), ensure_ascii=False))
        return 0
    if argv[:1] == ["check"]:
        p = argparse.ArgumentParser(prog="query.py check")
        p.add_argument("--bucket", type=Path, required=True)
        p.add_argument("--param", action="append", default=[], help="QUERY=V1,V2,... (the query's ? in order)")
        a = p.parse_args(argv[1:])
        params = {}
        for item in a.param:
            stem, _, values = item.partition("=")
            params[stem] = values.split(",") if values else []
        print(json.dumps(check(a.bucket, params), ensure_ascii=False))
        return 0
    p = argparse.ArgumentParser(prog="query.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bucket", type=Path, default=ROOT / "demo-output" / "bucket",
                   help="a local copy of the bucket (default: demo-output/bucket, from `make demo`)")
    p.add_argument("--query", help="one saved query, by file name (e.g. 01_admin_logged_in_as_user)")
    p.add_argument("--param", action="append", default=[], help="a parameter of --query, in order")
    p.add_argument("--rows", type=int, default=10, help="rows shown per query (default 10)")
    a = p.parse_args(argv)
    if not (a.bucket / "logs").is_dir():
        raise SystemExit(f"{a.bucket} holds no logs/: run `make demo` first, or give --bucket")
    con = connect(a.bucket)
    total = con.execute("SELECT count(*) FROM atlassian_audit_flat").fetchone()[0]
    print(f"{a.bucket}: {total} events in atlassian_audit_flat (DuckDB, the view and queries of sql/)\n")
    queries = saved_queries()
    if a.query:
        queries = [q for q in queries if q.stem == a.query]
        if not queries:
            raise SystemExit(f"no saved query {a.query!r}; they are: {', '.join(q.stem for q in saved_queries())}")
    for q in queries:
        params = a.param if a.query else []
        if q.parameters and not params:
            user = con.execute("SELECT actor_email FROM atlassian_audit_flat WHERE actor_email LIKE '%@%' "
                               "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
            days = con.execute("SELECT min(concat(year, '-', month, '-', day)), max(concat(year, '-', month, '-', day)) "
                               "FROM atlassian_audit_flat").fetchone()
            params = [user[0] if user else "", days[0] or "", days[1] or ""]
        names, rows = run_query(con, q, params)
        shown = f" with {params}" if params else ""
        print(f"== {q.stem}: {q.title}{shown} — {len(rows)} row(s)\n   Finds: {q.finds}")
        if rows:
            print_rows(names, rows, a.rows)
        print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SqlFileError as e:
        sys.exit(f"sql/: {e}")
