from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.predict import Predictor
from domaintune.predict.files import predict_command
from tests.exported import EXPORTS, workbook
from tests.helpers import domaintune, make_rows
from tests.predict.conftest import LABELS

ROWS = 23
CHUNK = 5
"""23 rows in chunks of 5: four full chunks and a short one, so every boundary is crossed."""
PROBABILITIES = [f"p_{label}" for label in LABELS]
PREDICTIONS = ["label", "confidence", "decision", *PROBABILITIES]


def input_rows(count: int = ROWS) -> pd.DataFrame:
    """Rows as users have them: an id, the text, a label of their own, a date."""
    frame = make_rows(count)
    frame.insert(0, "id", [f"id-{i:03}" for i in range(count)])
    frame["date"] = [f"2024-03-{1 + i % 28:02}" for i in range(count)]
    return frame


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    suffix = path.suffix
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    return path


def read_output(path: Path) -> pd.DataFrame:
    """A predictions file, every column as it was written (ids and dates stay text)."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    sep = "\t" if path.suffix == ".tsv" else ","
    types = {"confidence": float, **dict.fromkeys(PROBABILITIES, float)}
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    return frame.astype(types)


def predict_file(model: Path, file: Path | None, output: Path | None, **options: object) -> None:
    settings: dict = {
        "texts": None,
        "text_column": "text",
        "output_format": None,
        "batch_size": 4,
        "chunk_rows": CHUNK,
    }
    predict_command(model, file=file, output=output, **{**settings, **options})


def leftovers(folder: Path) -> list[str]:
    """Temporary files left in a folder."""
    return sorted(path.name for path in folder.iterdir() if ".tmp-" in path.name)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_chunked_predictions_are_those_of_one_pass_over_all_texts(
    ruled_classifier: Path, tmp_path: Path, suffix: str
) -> None:
    """Catches chunking that loses, repeats or reorders rows at chunk boundaries, or predicts a
    text differently from one pass over all the texts (`Predictor.decide`, as `predict` did
    before it streamed); and an input's other columns (id, its own label, a date) not kept in
    order beside the predictions, its `label` overwritten by the predicted one. One text per
    batch, so that padding (which differs with the batches a chunk makes) cannot change the last
    digits: the predictions must be equal, not close."""
    frame = input_rows()
    data = write_table(tmp_path / f"in{suffix}", frame)
    output = tmp_path / "out.jsonl"
    predict_file(ruled_classifier, data, output, batch_size=1)
    got = read_output(output)
    expected = Predictor(ruled_classifier).decide(frame["text"].tolist(), batch_size=1)
    assert list(got.columns) == ["text", "id", "input_label", "date", *PREDICTIONS]
    assert got[["text", "id", "date"]].equals(frame[["text", "id", "date"]])
    assert got["input_label"].tolist() == frame["label"].tolist()
    pd.testing.assert_frame_equal(got[PREDICTIONS], expected, check_exact=True)
    assert set(expected["decision"]) == {"model", "class_rule", "abstain"}  # all rules exercised


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_every_output_format_holds_the_same_table(
    ruled_classifier: Path, tmp_path: Path, suffix: str
) -> None:
    """Catches a writer that repeats the header per chunk, drops or retypes rows or columns: CSV,
    TSV and Parquet outputs (chosen by the suffix) hold the JSON Lines output's table."""
    data = write_table(tmp_path / "in.parquet", input_rows())
    predict_file(ruled_classifier, data, tmp_path / "out.jsonl")
    predict_file(ruled_classifier, data, tmp_path / f"out{suffix}")
    reference = read_output(tmp_path / "out.jsonl")
    got = read_output(tmp_path / f"out{suffix}")
    pd.testing.assert_frame_equal(got, reference, check_dtype=False, atol=1e-6)


def test_keep_columns_picks_the_input_columns_written(
    ruled_classifier: Path, tmp_path: Path
) -> None:
    """Catches --keep-columns ignored or its order imposed on the output, `''` keeping all, and
    an unknown column passed silently."""
    data = write_table(tmp_path / "in.csv", input_rows())
    output = tmp_path / "out.csv"
    predict_file(ruled_classifier, data, output, keep_columns="date, id")
    assert list(read_output(output).columns) == ["text", "id", "date", *PREDICTIONS]
    predict_file(ruled_classifier, data, output, keep_columns="")
    assert list(read_output(output).columns) == ["text", *PREDICTIONS]
    with pytest.raises(UserError, match=r"in\.csv has no column 'day' \(its columns: id, text"):
        predict_file(ruled_classifier, data, output, keep_columns="id,day")


def test_a_column_named_like_an_output_column_is_renamed_or_refused(
    ruled_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Catches two columns of one name in the output (the user's `label` and the predicted one,
    or `text` beside the text column `message`), a rename without a word, and a rename onto a
    column the input also has."""
    frame = input_rows().rename(columns={"text": "message"})
    frame["text"] = "not the text"
    frame["p_neg"] = 0.5
    data = write_table(tmp_path / "in.parquet", frame)
    output = tmp_path / "out.parquet"
    predict_file(ruled_classifier, data, output, text_column="message")
    got = read_output(output)
    assert list(got.columns) == [
        "text", "id", "input_label", "date", "input_text", "input_p_neg", *PREDICTIONS,
    ]  # fmt: skip
    assert got["text"].tolist() == frame["message"].tolist()
    notes = capsys.readouterr().out
    assert "the input column 'label' is written as 'input_label'" in notes
    frame["input_label"] = "taken"
    write_table(data, frame)
    with pytest.raises(UserError, match="'input_label' is taken too"):
        predict_file(ruled_classifier, data, output, text_column="message")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_row_without_text_is_named_by_its_row_in_the_whole_file(
    ruled_classifier: Path, tmp_path: Path, suffix: str
) -> None:
    """Catches a row number counted within its chunk (row 3 of the third chunk is row 13 of the
    file), rows after the first bad one left uncounted, and an output file replaced or half
    written when the input is refused."""
    frame = input_rows()
    frame["text"] = frame["text"].astype(object)
    frame.loc[[12, 20], "text"] = None
    data = write_table(tmp_path / f"in{suffix}", frame)
    output = tmp_path / "out.csv"
    output.write_text("earlier predictions\n")
    with pytest.raises(
        UserError, match=rf"in{suffix}: row 13 \(and 1 more rows\) has null in column 'text'"
    ):
        predict_file(ruled_classifier, data, output)
    assert output.read_text() == "earlier predictions\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [UserError("the disk is full"), KeyboardInterrupt()])
@pytest.mark.parametrize("name", ["out.csv", "new.parquet"])
def test_an_error_while_labelling_leaves_no_half_written_output(
    ruled_classifier: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    name: str,
) -> None:
    """Catches chunks written straight into --output (two chunks of predictions left behind
    when the third fails or the user presses Ctrl-C), an old output lost, or the temporary file
    left in the user's folder."""
    data = write_table(tmp_path / "in.csv", input_rows())
    output = tmp_path / name
    if output.suffix == ".csv":
        output.write_text("earlier predictions\n")
    decide = Predictor.decide
    calls = []

    def failing_third_chunk(self: Predictor, texts: list[str], **options: object) -> pd.DataFrame:
        calls.append(len(texts))
        if len(calls) == 3:
            raise error
        return decide(self, texts, **options)

    monkeypatch.setattr(Predictor, "decide", failing_third_chunk)
    with pytest.raises(type(error)):
        predict_file(ruled_classifier, data, output)
    assert calls == [CHUNK] * 3
    if output.suffix == ".csv":
        assert output.read_text() == "earlier predictions\n"
    else:
        assert not output.exists()
    assert leftovers(tmp_path) == []


def test_a_malformed_line_late_in_a_csv_is_refused_before_anything_is_written(
    ruled_classifier: Path, tmp_path: Path
) -> None:
    """Catches a CSV whose 20th row has a field too many being labelled up to there: the whole
    file is checked before labelling, and the error names the file and shows the row."""
    data = write_table(tmp_path / "in.csv", input_rows())
    lines = data.read_text().splitlines()
    lines[20] += ",one field too many"
    data.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    with pytest.raises(
        UserError, match=r"in\.csv is not a valid CSV file \(.*Expected 4 columns, got 5"
    ):
        predict_file(ruled_classifier, data, output)
    assert not output.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_missing_text_column_names_the_file_and_its_columns(
    ruled_classifier: Path, tmp_path: Path, suffix: str
) -> None:
    data = write_table(tmp_path / f"in{suffix}", input_rows())
    with pytest.raises(
        UserError, match=rf"in{suffix} has no column 'body' \(its columns: id, text, label, date\)"
    ):
        predict_file(ruled_classifier, data, None, text_column="body")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output_format": "parquet"}, "--format parquet writes a binary file"),
        ({"output": "{data}"}, "is the input file"),
        ({"output": "{folder}"}, "is a folder: give a file name"),
        ({"chunk_rows": 0}, "--chunk-size must be at least 1"),
        ({"workers": 2}, "--address and --workers are for --engine ray"),
        ({"engine": "spark"}, "--engine spark: choose local or ray"),
    ],
)
def test_impossible_outputs_are_refused_before_the_model_is_loaded(
    ruled_classifier: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict,
    message: str,
) -> None:
    """Catches Parquet bytes sent to a terminal, predictions written over their own input or
    over a folder (which the atomic write would delete), and options of the Ray engine ignored."""
    data = write_table(tmp_path / "in.csv", input_rows())
    folder = tmp_path / "a-folder"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    paths = {"data": data, "folder": folder}
    options = {k: Path(v.format(**paths)) if k == "output" else v for k, v in options.items()}
    monkeypatch.setattr(Predictor, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(UserError, match=message):
        predict_file(ruled_classifier, data, **{"output": None, **options})
    assert (folder / "mine.txt").read_text() == "keep me"


def test_texts_given_as_options_go_to_stdout_as_json_lines(
    ruled_classifier: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Catches --text broken by the file path: its texts, in order, with the predictions, and
    nothing else on stdout (no progress, no note)."""
    predict_file(ruled_classifier, None, None, texts=["late again", "thanks"], chunk_rows=1)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == ["late again", "thanks"]
    assert list(rows[0]) == ["text", *PREDICTIONS]


def test_the_cli_streams_standard_input_and_files_with_one_error_line(
    ruled_classifier: Path, tmp_path: Path
) -> None:
    """Catches standard input read whole or out of order, progress mixed into predictions on
    stdout, and a bad row reported with more than one line on stderr, or after output began."""
    stdin = "first text\n\n  \nsecond\nthird\nfourth\nfifth\n"
    result = domaintune(
        "predict", str(ruled_classifier), "--chunk-size", "2", cwd=tmp_path, stdin=stdin
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["first text", "second", "third", "fourth", "fifth"]
    assert list(rows[0]) == ["text", *PREDICTIONS]

    frame = input_rows()
    frame["text"] = frame["text"].astype(object)
    frame.loc[17, "text"] = ["a", "list"]
    data = write_table(tmp_path / "in.jsonl", frame)
    result = domaintune(
        "predict", str(ruled_classifier), "--file", str(data), "--chunk-size", "5", cwd=tmp_path
    )
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 18 has a list in column 'text'" in lines[0], result.stderr


def test_a_model_of_fields_reads_them_from_their_columns(
    ticket_classifier: Path, tmp_path: Path
) -> None:
    """The file's subject and body columns give the labels and probabilities `predict_proba`
    gives the same tickets as objects of fields; the fields are written under their names."""
    from tests.support_tickets import ticket_rows

    tickets = ticket_rows(12)
    tickets.loc[2, "subject"] = ""  # an empty field is a text
    file = write_table(tmp_path / "tickets.csv", tickets)
    output = tmp_path / "labels.csv"
    predict_file(ticket_classifier, file, output, text_column=None)
    written = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert list(written.columns[:4]) == ["subject", "body", "id", "queue"]
    predictor = Predictor(ticket_classifier)
    records = tickets[["subject", "body"]].to_dict("records")
    expected = predictor.decide(records)
    assert written["label"].tolist() == expected["label"].tolist()
    probabilities = [f"p_{queue}" for queue in predictor.labels]
    assert np.allclose(written[probabilities].astype(float), expected[probabilities], atol=1e-6)
    assert written["subject"].tolist() == tickets["subject"].tolist()


def test_a_field_missing_from_the_file_is_one_line_naming_it(
    ticket_classifier: Path, tmp_path: Path
) -> None:
    from tests.support_tickets import ticket_rows

    file = write_table(tmp_path / "tickets.jsonl", ticket_rows(4).drop(columns="subject"))
    with pytest.raises(UserError) as error:
        predict_file(ticket_classifier, file, tmp_path / "out.csv", text_column=None)
    message = str(error.value)
    assert "\n" not in message
    assert f"{file} has no column 'subject', a field this model reads" in message
    assert "its columns: id, body, queue" in message
    assert not (tmp_path / "out.csv").exists()


def test_texts_for_a_model_of_fields_are_json_objects_of_them(
    ticket_classifier: Path, tmp_path: Path
) -> None:
    ticket = {"subject": "Refund", "body": "charged twice for one order"}
    output = tmp_path / "out.jsonl"
    predict_file(ticket_classifier, None, output, texts=[json.dumps(ticket)], text_column=None)
    row = json.loads(output.read_text())
    assert row["subject"] == "Refund" and "text" not in row
    assert row["label"] == Predictor(ticket_classifier).predict([ticket])[0]
    with pytest.raises(UserError, match=r"--text 1 is not a JSON object of the fields.*--file"):
        predict_file(ticket_classifier, None, output, texts=["Refund please"], text_column=None)
    with pytest.raises(UserError, match="--text-column body: this model reads the fields"):
        predict_file(ticket_classifier, None, output, texts=["x"], text_column="body")


def test_standard_input_lines_for_a_model_of_fields(ticket_classifier: Path, tmp_path: Path):
    """Through the CLI: one JSON object of the fields per line, one JSON line out per ticket."""
    lines = [
        json.dumps({"subject": "Need help", "body": "my password expired"}),
        json.dumps({"subject": "Refund", "body": ""}),
    ]
    result = domaintune(
        "predict", str(ticket_classifier), cwd=tmp_path, stdin="\n".join(lines) + "\n"
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["body"] for row in rows] == ["my password expired", ""]
    bad = domaintune("predict", str(ticket_classifier), cwd=tmp_path, stdin="just a text\n")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "input line 1 is not a JSON object" in bad.stderr


def exported_rows(count: int = ROWS) -> list[list[str]]:
    """`input_rows` as rows of an exported file (id, text, label, amount), with the semicolons,
    commas and quotes of real texts."""
    frame = input_rows(count)
    return [
        [ticket, f'{text}; "really", ok', label, f"{i},50"]
        for i, (ticket, text, label) in enumerate(zip(frame["id"], frame["text"], frame["label"]))
    ]


@pytest.mark.parametrize(
    ("kind", "text_column", "options"),
    [
        ("utf16_semicolon_csv", "text", {}),
        ("workbook", "text", {"sheet": "Tickets"}),
        ("nested_jsonl", "meta.body", {}),
    ],
)
def test_an_exported_file_is_labelled_as_its_texts_are(
    ruled_classifier: Path, tmp_path: Path, kind: str, text_column: str, options: dict
) -> None:
    """Catches what a user who trained on such a file met when predicting: a UTF-16 semicolon
    CSV, a workbook's sheet or a nested `meta.body` refused or read into other texts. Each
    output row holds its text and the predictions of that text."""
    rows = exported_rows()
    data = EXPORTS[kind](tmp_path, rows)
    output = tmp_path / "out.jsonl"
    predict_file(ruled_classifier, data, output, text_column=text_column, **options)
    got = read_output(output)
    texts = [row[1] for row in rows]
    assert got["text"].tolist() == texts
    expected = Predictor(ruled_classifier).decide(texts, batch_size=4)
    assert got["label"].tolist() == expected["label"].tolist()
    assert got["id"].astype(str).tolist()[:2] in (["id-000", "id-001"], ["1", "2"])


def test_a_missing_sheet_is_refused_naming_the_sheets(
    ruled_classifier: Path, tmp_path: Path
) -> None:
    data = workbook(tmp_path)
    with pytest.raises(UserError, match=r"has no sheet 'Notes' \(its sheets: Tickets, Archive\)"):
        predict_file(ruled_classifier, data, tmp_path / "out.jsonl", sheet="Notes")


def test_the_cli_reads_a_named_sheet_and_an_explicit_delimiter(
    ruled_classifier: Path, tmp_path: Path
) -> None:
    """Catches --sheet and --delimiter not reaching the reader."""
    data = workbook(tmp_path)
    result = domaintune(
        "predict", str(ruled_classifier), "--file", str(data), "--sheet", "Archive", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == [
        "Old ticket from 2019"
    ]
    semicolons = tmp_path / "one.csv"
    semicolons.write_text("text;id\nhello, world;1\n")
    result = domaintune(
        "predict", str(ruled_classifier), "--file", str(semicolons), "--delimiter", "|",
        "--text-column", "text;id", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "hello, world;1"


def test_a_multi_label_model_of_fields_labels_objects_and_files_of_them(
    ticket_classifier: Path, tmp_path: Path
) -> None:
    """multi_label meets several fields: `Predictor` takes the same objects for label sets as for
    one label (and refuses a plain text), and `predict --file` reads the fields' columns and
    writes each row's labels joined by the data's separator, as `decide` gives them."""
    import shutil

    from domaintune.multilabel import PROBLEM_TYPE, save_thresholds
    from domaintune.rundir import read_json, write_json
    from tests.support_tickets import ticket_rows

    folder = Path(shutil.copytree(ticket_classifier, tmp_path / "model"))
    config = read_json(folder / "config.json")
    write_json(folder / "config.json", {**config, "problem_type": PROBLEM_TYPE})
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    save_thresholds(folder, labels, np.array([0.3, 0.5, 0.7]), label_separator="|")
    predictor = Predictor(folder)
    assert predictor.multi_label
    tickets = ticket_rows(12)
    records = tickets[["subject", "body"]].to_dict("records")
    decided = predictor.decide(records)
    probabilities = predictor.predict_proba(records)
    expected = [
        [label for label, p, t in zip(labels, row, [0.3, 0.5, 0.7]) if p >= t]
        for row in probabilities
    ]
    assert decided["labels"].tolist() == expected == predictor.predict(records)
    assert {len(row) for row in expected} != {0}  # the thresholds give some rows labels
    with pytest.raises(UserError, match=r"input 1 is str.*fields subject, body"):
        predictor.predict(["my password expired"])
    file = write_table(tmp_path / "tickets.csv", tickets)
    output = tmp_path / "labels.csv"
    predict_file(folder, file, output, text_column=None)
    written = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert list(written.columns[:2]) == ["subject", "body"]
    assert written["labels"].tolist() == ["|".join(row) for row in expected]
    assert np.allclose(written[[f"p_{label}" for label in labels]].astype(float), probabilities)
