from __future__ import annotations

from pathlib import Path

import pytest

from domaintune import assets
from domaintune.errors import UserError


def test_every_builtin_is_pinned_by_version_and_sha256() -> None:
    archives = [d.archive for d in assets.DATASETS.values()] + [
        m.archive for m in assets.MODELS.values()
    ]
    for archive in archives:
        assert archive.version.count(".") >= 1
        assert len(archive.sha256) == 64 and int(archive.sha256, 16) >= 0


def test_a_file_with_the_wrong_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"not the weights")
    with pytest.raises(UserError, match="sha256"):
        assets._check_file(path, "0" * 64)
    assets._check_file(path, assets.sha256_of(path))


def test_non_builtin_models_pass_through_and_unknown_builtins_fail() -> None:
    assert assets.model_path("some/hub-model") == "some/hub-model"
    with pytest.raises(UserError, match="minilm-l6"):
        assets.model_path("builtin:no-such-model")
    with pytest.raises(UserError, match="airline-tweets"):
        assets.load_dataset("builtin:no-such-data")


def test_cached_archive_is_used_without_download(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path))
    archive = assets.Archive("pkg", "1.0", "0" * 64)
    (tmp_path / "archives" / archive.key).mkdir(parents=True)
    assert assets.fetch(archive) == tmp_path / "archives" / archive.key


def test_airline_filter_keeps_tweets_addressed_to_an_airline() -> None:
    assert assets.AIRLINE_HANDLES.search("@United my bag is lost")
    assert assets.AIRLINE_HANDLES.search("thanks @JetBlue!")
    assert not assets.AIRLINE_HANDLES.search("@unitedfan driverless cars")
