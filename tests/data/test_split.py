from __future__ import annotations

from domaintune.config import PrepareConfig
from domaintune.data.split import split
from tests.helpers import make_rows


def test_split_is_disjoint_stratified_and_seeded() -> None:
    frame = make_rows(300)
    parts = split(frame, PrepareConfig(validation_size=0.1, test_size=0.2))
    sizes = [len(parts[name]) for name in ("train", "validation", "test")]
    assert sum(sizes) == 300 and abs(sizes[1] - 30) <= 1 and abs(sizes[2] - 60) <= 1
    texts = [set(parts[name]["text"]) for name in parts]
    assert sum(map(len, texts)) == len(set.union(*texts)) == 300
    assert all(abs(n - 20) <= 1 for n in parts["test"]["label"].value_counts())
    again = split(frame, PrepareConfig(validation_size=0.1, test_size=0.2))
    assert again["test"]["text"].tolist() == parts["test"]["text"].tolist()
    other = split(frame, PrepareConfig(validation_size=0.1, test_size=0.2, seed=7))
    assert other["test"]["text"].tolist() != parts["test"]["text"].tolist()
