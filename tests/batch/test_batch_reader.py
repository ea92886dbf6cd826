"""Streamed input: JSONL, CSV and Parquet rows mapped by column, bad rows kept with line numbers, flat memory."""

import json
import tracemalloc

import pytest

from explainers.batch.reader import MAX_ROW_BYTES, BadRow, ColumnMap, InputRow, read_rows

COLS = ColumnMap(id="id", question="q", sources="src", answer="a", label="label", model="m")


def _rows(path, cols=COLS):
    return list(read_rows(path, cols))


def test_jsonl_bad_rows_are_recorded_with_line_numbers_and_reading_goes_on(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [
        json.dumps({"id": 1, "q": "Where?", "src": "Paris is in France.", "a": "In France.", "label": "supported",
                    "m": "gpt", "team": "x"}),
        json.dumps({"id": 2, "q": "Where?", "src": "Paris is in France."}),  # no answer
        "",  # blank lines are not rows
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": 3, "q": "Q", "src": "S", "a": "x" * 20_001}),  # answer over the cap
        json.dumps({"id": 4, "q": "Q", "src": "S", "a": "A", "label": "maybe"}),
        json.dumps({"id": 5, "q": "Q", "src": ["one", {"text": "two", "title": "Doc 2"}], "a": "A"}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": 6, "a": "caf\xe9"}\n'
                     + json.dumps({"id": 7, "q": "Q", "src": "S", "a": "A"}).encode() + b"\n")
    rows = _rows(path)
    good = [r for r in rows if isinstance(r, InputRow)]
    bad = {r.line_no: r.reason for r in rows if isinstance(r, BadRow)}
    assert [r.row_id for r in good] == ["1", "5", "7"]
    assert good[0].line_no == 1 and good[0].label == "supported" and good[0].model == "gpt"
    assert good[0].metadata == {"team": "x"}
    assert good[1].sources == ("one", "two") and good[1].source_names == ("one", "Doc 2")
    assert good[2].line_no == 10
    assert "missing answer" in bad[2]
    assert "not JSON" in bad[4]
    assert "not a JSON object" in bad[5]
    assert "over 20,000" in bad[6]
    assert "label must be" in bad[7]
    assert "not UTF-8" in bad[9]
    assert set(bad) == {2, 4, 5, 6, 7, 9}


def test_an_over_long_line_is_skipped_without_being_held(tmp_path):
    path = tmp_path / "d.jsonl"
    with open(path, "w") as fh:
        fh.write(json.dumps({"id": 1, "q": "Q", "src": "S" * (MAX_ROW_BYTES + 10), "a": "A"}) + "\n")
        fh.write(json.dumps({"id": 2, "q": "Q", "src": "S", "a": "A"}) + "\n")
    rows = _rows(path)
    assert isinstance(rows[0], BadRow) and rows[0].line_no == 1 and "bytes" in rows[0].reason
    assert isinstance(rows[1], InputRow) and rows[1].line_no == 2


def test_csv_rows_start_lines_lists_as_json_and_bad_bytes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'id,q,src,a,extra\n'
                     b'1,Where?,"[""Paris is in France."", ""It is big.""]","In\nFrance.",e1\n'  # a field over 2 lines
                     b'2,Q,S,,e2\n'
                     b'3,Q,S,caf\xe9,e3\n'
                     b'4,Q,one text source,A,e4\n'
                     b'5,Q,S\n')
    rows = _rows(path)
    good = {r.row_id: r for r in rows if isinstance(r, InputRow)}
    bad = {r.line_no: r.reason for r in rows if isinstance(r, BadRow)}
    assert good["1"].line_no == 2 and good["1"].sources == ("Paris is in France.", "It is big.")
    assert good["1"].answer == "In\nFrance." and good["1"].metadata == {"extra": "e1"}
    assert good["4"].line_no == 6 and good["4"].sources == ("one text source",)
    assert "missing answer" in bad[4] and "not UTF-8" in bad[5] and "fields" in bad[7]


def test_parquet_rows_with_list_sources(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": ["a", "b", "c"], "q": ["Q1", "Q2", "Q3"],
                      "src": [["s1", "s2"], ["t1"], []], "a": ["A1", None, "A3"], "n": [1, 2, 3]})
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    rows = _rows(path, ColumnMap(id="id", question="q", sources="src", answer="a"))
    assert isinstance(rows[0], InputRow) and rows[0].sources == ("s1", "s2") and rows[0].metadata == {"n": 1}
    assert isinstance(rows[1], BadRow) and rows[1].line_no == 2 and "missing answer" in rows[1].reason
    assert isinstance(rows[2], BadRow) and rows[2].line_no == 3 and "no sources" in rows[2].reason


def test_memory_is_flat_in_the_row_count(tmp_path):
    """Reading 10x the rows must not need 10x the memory: the file is streamed, never loaded whole."""
    row = json.dumps({"id": 0, "q": "What is the capital of France?", "src": "Paris is the capital. " * 20,
                      "a": "Paris is the capital of France."})

    def peak(n: int) -> int:
        path = tmp_path / f"d{n}.jsonl"
        with open(path, "w") as fh:
            for k in range(n):
                fh.write(row.replace('"id": 0', f'"id": {k}') + "\n")
        tracemalloc.start()
        count = sum(1 for r in read_rows(path, COLS) if isinstance(r, InputRow))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return top

    small, large = peak(1_000), peak(10_000)
    assert large < 1.5 * small + 200_000, (small, large)  # 10,000 rows of 600 bytes would be 6 MB if held
