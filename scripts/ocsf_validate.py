#!/usr/bin/env python3
"""Validates every event of the OCSF copy against the OCSF schema itself.

Reads every Parquet object under <bucket>/ext/ (DuckDB), turns each row back into the OCSF event
it holds (Parquet has no "absent": null fields are dropped), and checks it against OCSF 1.3.0:

- the JSON Schema of its class (with the profiles its metadata names), built by ocsf-json-schema
  from the OCSF schema export it bundles, validated with jsonschema (Draft 2020-12): required
  attributes, types, enumerations, no attribute the class or its objects do not define;
- through ocsf-lib (the OCSF project's own library) reading the same schema: the class, its
  category and its activity exist, type_uid = class_uid * 100 + activity_id, and the captions
  beside each enumerated id (class_name, category_name, activity_name, severity, status) are the
  schema's.

Prints one JSON document: objects, rows, rows per class, per organization (metadata.tenant_uid), per
source (the `source_id=` label) and per action (metadata.event_code),
(org, event id) pairs seen more than once, and the invalid rows (the first 20, with the errors).
Installed with `scripts/tools.sh ocsf` (.venv-ocsf); run by tests/query/ocsf.rs.
"""
import argparse
import glob
import json
import os
import sys
from collections import Counter

import duckdb
import jsonschema
from ocsf.schema import from_file as ocsf_from_file
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
from ocsf_json_schema import loader as ocsf_json_loader

VERSION = "1.3.0"


def strip_nulls(value):
    """Parquet's null is OCSF's absent."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value if v is not None]
    return value


def rows(path):
    con = duckdb.connect()
    for (text,) in con.execute("SELECT to_json(t) FROM read_parquet(?, hive_partitioning = false) t", [path]).fetchall():
        yield strip_nulls(json.loads(text))


class Checker:
    def __init__(self):
        self.json_schemas = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=VERSION))
        export = os.path.join(os.path.dirname(ocsf_json_loader.__file__), "ocsf", f"{VERSION}.json")
        self.model = ocsf_from_file(export)
        self.validators = {}
        self.classes = {c.uid: c for c in self.model.classes.values()}

    def validator(self, class_uid, profiles):
        key = (class_uid, tuple(sorted(profiles)))
        if key not in self.validators:
            name = self.json_schemas.lookup_class_name_from_uid(class_uid)
            schema = self.json_schemas.get_class_schema(class_name=name, profiles=list(profiles))
            self.validators[key] = jsonschema.Draft202012Validator(schema)
        return self.validators[key]

    def caption(self, event_class, attribute, value):
        attr = event_class.attributes.get(attribute)
        if attr is None or attr.enum is None:
            return None
        member = attr.enum.get(str(value))
        return member.caption if member is not None else None

    def check(self, event):
        errors = []
        class_uid = event.get("class_uid")
        event_class = self.classes.get(class_uid)
        if event_class is None:
            return [f"class_uid {class_uid} is not an OCSF {VERSION} class"]
        if event.get("metadata", {}).get("version") != VERSION:
            errors.append(f"metadata.version is {event.get('metadata', {}).get('version')!r}")
        profiles = event.get("metadata", {}).get("profiles", [])
        for e in self.validator(class_uid, profiles).iter_errors(event):
            path = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"{path or '(event)'}: {e.message[:300]}")
        activity = event.get("activity_id")
        if event.get("type_uid") != class_uid * 100 + (activity or 0):
            errors.append(f"type_uid {event.get('type_uid')} is not class_uid * 100 + activity_id")
        if event.get("class_name") != event_class.caption:
            errors.append(f"class_name {event.get('class_name')!r} is not {event_class.caption!r}")
        for id_attr, name_attr in [("category_uid", "category_name"), ("activity_id", "activity_name"),
                                   ("severity_id", "severity"), ("status_id", "status")]:
            want = self.caption(event_class, id_attr, event.get(id_attr))
            if want is None:
                errors.append(f"{id_attr} {event.get(id_attr)!r} is not in the class's enumeration")
            elif event.get(id_attr) != 99 and event.get(name_attr) != want:
                errors.append(f"{name_attr} {event.get(name_attr)!r} is not {want!r}")
        return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True, help="the local bucket directory (ext/ under it)")
    args = parser.parse_args()
    checker = Checker()
    by_class, by_tenant, by_source, codes, seen = Counter(), Counter(), Counter(), Counter(), Counter()
    invalid, invalid_count, objects, total = [], 0, 0, 0
    for path in sorted(glob.glob(os.path.join(args.bucket, "ext", "**", "*.parquet"), recursive=True)):
        objects += 1
        key = os.path.relpath(path, args.bucket)
        for n, event in enumerate(rows(path)):
            total += 1
            by_class[str(event.get("class_uid"))] += 1
            tenant = event.get("metadata", {}).get("tenant_uid", "")
            by_tenant[tenant] += 1
            labels = event.get("metadata", {}).get("labels", [])
            source = next((l.split("=", 1)[1] for l in labels if l.startswith("source_id=")), "")
            by_source[source] += 1
            codes[event.get("metadata", {}).get("event_code", "")] += 1
            seen[(tenant, event.get("metadata", {}).get("uid"))] += 1
            errors = checker.check(event)
            if errors:
                invalid_count += 1
                if len(invalid) < 20:
                    invalid.append({"object": key, "row": n, "uid": event.get("metadata", {}).get("uid"), "errors": errors})
    json.dump(
        {
            "ocsf_version": VERSION,
            "objects": objects,
            "rows": total,
            "by_class": dict(by_class),
            "by_tenant": dict(by_tenant),
            "by_source": dict(by_source),
            "event_codes": dict(codes),
            "repeated": [list(k) for k, c in seen.items() if c > 1][:20],
            "invalid_count": invalid_count,
            "invalid": invalid,
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
