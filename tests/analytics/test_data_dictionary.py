"""docs/data_dictionary.md is generated from the catalog and is kept up to date."""

from __future__ import annotations

from pathlib import Path

from alocity_etl.analytics import dictionary as data_dictionary
from alocity_etl.catalog import CATALOG, tables
from alocity_etl.normalise import table_columns


def test_the_committed_dictionary_is_up_to_date() -> None:
    committed = data_dictionary.DOC_PATH.read_text(encoding="utf-8")
    assert committed == data_dictionary.generate(), (
        "docs/data_dictionary.md is stale: run .venv/bin/python -m alocity_etl.analytics.dictionary"
    )


def test_every_table_and_column_is_documented_with_type_meaning_and_endpoint() -> None:
    text = data_dictionary.generate()
    for table in tables():
        assert f"\n## {table}\n" in text
        section = text.split(f"\n## {table}\n", 1)[1].split("\n## ", 1)[0]
        for col, typ in table_columns(table):
            line = next(ln for ln in section.splitlines() if ln.startswith(f"| `{col}` |"))
            meaning = line.split("|")[3].strip()
            assert f"| {typ} |" in line and meaning, line
    for r in CATALOG:
        assert r.path in text


def test_check_mode_and_drifted_columns(tmp_path: Path, built) -> None:
    out = tmp_path / "dd.md"
    assert data_dictionary.main(["--output", str(out), "--check"]) == 1
    assert data_dictionary.main(["--output", str(out)]) == 0
    assert data_dictionary.main(["--output", str(out), "--check"]) == 0
    assert "Not in the catalog" not in data_dictionary.generate(str(built.path))
