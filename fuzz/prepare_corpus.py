#!/usr/bin/env python3
"""Fills fuzz/corpus/<target>/ (not committed) with starting inputs: the committed seeds, the
inputs the fuzzers found problems with (tests/fixtures/hostile/<target>/), and the real
fixtures: the captured page whole for page_parser, split into its events for normalizer.
Run from anywhere: python3 fuzz/prepare_corpus.py"""
import json
import pathlib
import shutil

root = pathlib.Path(__file__).resolve().parent
fixtures = root.parent / "tests" / "fixtures" / "atlassian"
for target in ("page_parser", "normalizer"):
    corpus = root / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in (root / "seeds" / target).iterdir():
        shutil.copy(seed, corpus / seed.name)
    found = root.parent / "tests" / "fixtures" / "hostile" / target
    if found.is_dir():
        for finding in found.iterdir():
            shutil.copy(finding, corpus / f"found_{finding.name}")

page = fixtures / "events_page_real_2021.json"
shutil.copy(page, root / "corpus" / "page_parser" / "fixture_events_page_real_2021.json")
for i, event in enumerate(json.loads(page.read_text())["data"]):
    path = root / "corpus" / "normalizer" / f"fixture_event_{i:02}.json"
    path.write_text(json.dumps(event, separators=(",", ":")))
shutil.copy(
    fixtures / "panther_user_logged_in_as_user.json",
    root / "corpus" / "normalizer" / "fixture_panther_user_logged_in_as_user.json",
)
