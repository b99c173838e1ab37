from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from domaintune.config import Config, build_config, load_config, ready_configs, task_name_from
from domaintune.errors import UserError


def test_ready_configs_load_and_state_their_task() -> None:
    assert set(ready_configs()) >= {"airline-sentiment", "drug-reviews"}
    for name in ready_configs():
        config = load_config(name)
        assert config.task.name == name
        assert config.task.description != Config().task.description


def test_default_config_is_the_airline_task() -> None:
    config = load_config()
    assert config.data.source == "builtin:airline-tweets"
    assert config.data.label_column == "sentiment"


def test_overrides_are_parsed_as_yaml_and_validated() -> None:
    config = load_config("drug-reviews", ["train.epochs=5", "train.group_by_length=false"])
    assert config.train.epochs == 5
    assert config.train.group_by_length is False
    config = build_config({}, ["data.label_mapping={1: negative, 5: positive}"])
    assert config.data.label_mapping == {"1": "negative", "5": "positive"}


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.epoch=3", "train.epoch"),
        ("train.epochs=lots", "train.epochs"),
        ("prepare.balance=magic", "prepare.balance"),
        ("training.epochs=3", "training"),
    ],
)
def test_bad_keys_and_types_name_the_key(override: str, named: str) -> None:
    with pytest.raises(UserError, match=named.replace(".", r"\.")):
        build_config({}, [override])


@pytest.mark.parametrize(
    ("value", "audit"),
    [("off", "off"), ("no", "off"), ("false", "off"), ("'off'", "off"), ("on", "flag")],
)
def test_label_audit_takes_what_yaml_reads_as_a_boolean(
    value: str, audit: str, tmp_path: Path
) -> None:
    """YAML reads an unquoted off as false: `--set prepare.label_audit=off` must turn the audit
    off, and the saved config must read back the same."""
    config = build_config({}, [f"prepare.label_audit={value}"])
    assert config.prepare.label_audit == audit
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml())
    assert load_config(str(path)).prepare.label_audit == audit
    with pytest.raises(UserError, match=r"prepare\.label_audit"):
        build_config({}, ["prepare.label_audit=1"])


def test_split_sizes_must_leave_training_data() -> None:
    with pytest.raises(UserError, match="validation_size"):
        build_config({}, ["prepare.validation_size=0.45", "prepare.test_size=0.45"])


def test_yaml_round_trip_keeps_every_value(tmp_path: Path) -> None:
    config = load_config("drug-reviews", ["train.learning_rate=3e-5"])
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml())
    assert load_config(str(path)) == config


def test_unknown_config_name_lists_the_ready_ones() -> None:
    with pytest.raises(UserError, match="airline-sentiment"):
        load_config("no-such-config")


def test_an_optional_section_left_unset_takes_dotted_overrides() -> None:
    saved = build_config({}).model_dump(mode="json")  # as config.yaml holds it: decision: null
    assert saved["evaluate"]["decision"] is None
    config = build_config(saved, ["evaluate.decision.label=urgent", "evaluate.decision.value=0.9"])
    assert config.evaluate.decision.label == "urgent"
    assert config.evaluate.decision.target == "recall"


def test_throughput_switches_default_to_what_suits_the_machine() -> None:
    options = Config().train
    assert options.precision == "auto" and options.threads is None and options.cache_tokenized
    assert options.method == "auto" and options.lora_target_modules == ["query", "value", "q", "v"]
    with pytest.raises(UserError, match=r"train\.precision"):
        build_config({}, ["train.precision=fp16"])


@pytest.mark.parametrize(
    "override",
    ["tune.learning_rate=[0.001, 0.0001]", "tune.learning_rate=[0, 0.001]", "tune.batch_size=[]"],
)
def test_tune_search_space_is_checked(override: str) -> None:
    with pytest.raises(UserError, match="tune"):
        build_config({}, [override])


@pytest.mark.parametrize("name", ["../..", "/x", "a/b", "", " ", "..", ".", "a\\b", "C:x"])
def test_a_task_name_must_be_one_folder_under_runs(name: str) -> None:
    """Catches a task name that puts runs/<name> outside runs/ (which stages then clear)."""
    with pytest.raises(UserError, match=r"task\.name: .* cannot name a run folder under runs/"):
        build_config({"task": {"name": name}})


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("data/tickets.csv", "tickets"),
        ("hub:owner/reviews", "reviews"),
        ("..", "domaintune"),
        (".", "domaintune"),
        ("my data/reviews 2024.csv", "reviews-2024"),
        ("C:\\exports\\tickets.csv", "exports-tickets"),
        (".hidden.csv", "hidden"),
    ],
)
def test_the_quick_start_name_from_a_data_file_is_a_valid_task_name(source: str, name: str) -> None:
    """Catches a data file name that derives an invalid or escaping run folder name."""
    assert task_name_from(source) == name
    assert build_config({"task": {"name": task_name_from(source)}}).task.name == name


def test_settings_are_taken_as_text_and_overrides_win_over_them() -> None:
    """Catches quick-start values read as YAML: `[usd]` is a list there, `null` is None."""
    settings = {"data.text_column": "[usd]", "data.label_column": "null", "data.source": "a.csv"}
    config = build_config({}, ["data.source=b.csv"], settings=settings)
    assert (config.data.text_column, config.data.label_column) == ("[usd]", "null")
    assert config.data.source == "b.csv"


def test_a_config_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    """Catches a UnicodeDecodeError traceback for a config saved in Latin-1."""
    path = tmp_path / "latin.yaml"
    path.write_bytes("task:\n  description: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        UserError, match=r"latin\.yaml: not UTF-8 text \(byte 24\): save the config"
    ):
        load_config(str(path))


def test_split_files_stand_for_the_source_and_read_back_the_same() -> None:
    """Catches a saved config that would read back with two sources, or a test file whose
    training rows would silently come from the default data set."""
    config = build_config({}, ["data.train=train.csv", "data.test=test.csv"])
    assert config.data.source == "train.csv"
    assert config.data.split_files() == {"train": "train.csv", "test": "test.csv"}
    again = build_config(yaml.safe_load(config.to_yaml()))
    assert again.data.split_files() == config.data.split_files()
    quick = build_config({}, ["data.test=test.csv"], settings={"data.source": "mine.csv"})
    assert quick.data.split_files() == {"train": "mine.csv", "test": "test.csv"}
    assert build_config({}).data.split_files() == {}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["data.split_column=part", "data.test=t.csv"], "keep one"),
        (["prepare.split=time"], "prepare.split: time needs data.time_column"),
        (["data.time_column=date"], "data.time_column is read only by prepare.split: time"),
    ],
)
def test_ways_to_split_that_contradict_each_other_are_refused(
    overrides: list[str], named: str
) -> None:
    with pytest.raises(UserError, match=named):
        build_config({}, overrides)
