"""Batch-test data: small synthetic QA rows (supported and hallucinated answers over one short source each)."""

import json

import pytest

PLACES = [("Paris", "France", "Seine"), ("Berlin", "Germany", "Spree"), ("Madrid", "Spain", "Manzanares"),
          ("Rome", "Italy", "Tiber"), ("Vienna", "Austria", "Danube"), ("Prague", "Czechia", "Vltava"),
          ("Warsaw", "Poland", "Vistula"), ("Lisbon", "Portugal", "Tagus"), ("Budapest", "Hungary", "Danube"),
          ("London", "England", "Thames"), ("Dublin", "Ireland", "Liffey"), ("Bern", "Switzerland", "Aare")]


def synthetic_rows(n: int) -> list[dict]:
    """``n`` rows; every third answer adds a number and a river no source has (hallucinated)."""
    rows = []
    for k in range(n):
        city, country, river = PLACES[k % len(PLACES)]
        source = (f"{city} is the capital of {country}. The river {river} flows through {city}. "
                  f"{city} is known for its old town and its museums.")
        question = f"What is the capital of {country}?"
        if k % 3 == 2:
            other = PLACES[(k + 5) % len(PLACES)][2]
            answer, label = f"The capital of {country} is {city}, founded in {1100 + k} on the {other}.", "hallucinated"
        else:
            answer, label = f"{city} is the capital of {country}.", "supported"
        rows.append({"id": f"row-{k}", "question": question, "knowledge": source, "answer": answer, "label": label,
                     "model": "model-a" if k % 2 else "model-b"})
    return rows


def write_jsonl(path, rows, extra_lines=()):
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")
    return path


@pytest.fixture()
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'audits.db'}"


@pytest.fixture()
def make_rows():
    return synthetic_rows


@pytest.fixture()
def make_jsonl():
    return write_jsonl
