from __future__ import annotations

from domaintune.train.throughput import summarize


def test_rates_are_totals_over_training_seconds() -> None:
    epochs = [
        {"epoch": 1.0, "seconds": 10.0, "rows": 100, "tokens": 2000, "padded_tokens": 2400},
        {"epoch": 2.0, "seconds": 10.0, "rows": 100, "tokens": 2000, "padded_tokens": 2600},
    ]
    found = summarize(epochs)
    assert found["step_seconds"] == 20.0
    assert found["rows_per_second"] == 10.0
    assert found["tokens_per_second"] == 200.0
    assert found["padded_tokens_per_second"] == 250.0
    assert found["padded_tokens_per_token"] == 1.25
    assert found["throughput_by_epoch"] == epochs


def test_no_epoch_trained_gives_no_rates() -> None:
    found = summarize([])
    assert found["rows_per_second"] is None and found["padded_tokens_per_token"] is None
