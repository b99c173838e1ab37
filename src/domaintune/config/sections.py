"""The config's sections: every default of every stage is written down here, and nowhere else.

A run is described by a YAML file whose sections mirror the pipeline (task, data, prepare, model,
train, evaluate, report; tune for `domaintune tune`, serve for `domaintune serve`, export for
`domaintune export`). Anything left out takes the default below; `--set section.key=value`
overrides any key from the command line. Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG = "airline-sentiment"
DEFAULT_TASK_NAME = "domaintune"
MAX_CHARS_WHEN_CUT = 20_000
"""prepare.max_chars auto, where long texts are cut: longer ones are pasted logs or whole files."""
NOT_IN_A_FOLDER_NAME = re.compile(r"[/\\:\x00]")
"""Separators (POSIX, Windows, drive) and NUL: a task name must stay one folder under runs/."""
UNSAFE_IN_A_DERIVED_NAME = re.compile(r"[^\w.-]+")


class Section(BaseModel):
    """A config section: unknown keys are refused, values are checked when assigned."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


REGRESSION_TASK_WORDS = {
    "description": "Predict a number for each text.",
    "expected_output": "One number per text, on the scale of the training data.",
}
"""task.description and task.expected_output for regression, where the user gives none."""


MULTI_LABEL_BALANCE = "none"
"""prepare.balance for multi_label unless set: each label's threshold, tuned on validation, already
trades its precision for recall, while pos_weight (negatives/positives) reaches hundreds for a
rare label and drowns the loss in a few rows. Measured on 2,000 Reuters training stories (67
labels, two epochs, 128 tokens; thresholds tuned on validation, 987 test stories): none gave
test micro-F1 0.777 and macro-F1 0.134; class_weights 0.454 and 0.452. Most texts carry the
common labels, which micro-F1 weighs; set class_weights when the rare labels matter most."""


GENERATIVE = ("generation", "language_model")
"""The objectives that write text with a causal language model."""

GENERATION_TASK_WORDS = {
    "generation": {
        "description": "Write the target text for each input text.",
        "expected_output": "A short text in the style of the training targets.",
    },
    "language_model": {
        "description": "Learn the language of the domain's texts.",
        "expected_output": "Text that continues a given start in the domain's style.",
    },
}
"""task.description and task.expected_output for the generative objectives, where none is given."""

GENERATION_MODEL = "builtin:smollm2-135m"
"""model.name_or_path auto for generation: the one built-in causal language model."""

GENERATION_DEFAULTS: dict[str, Any] = {
    "method": "lora",
    "learning_rate": 2e-4,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "lora_modules_to_save": [],
    "batch_size": 8,
    "epochs": 3,
    "eval_batch_size": 16,
    "warmup_ratio": 0.05,
    "early_stopping_patience": 2,
    "dropout": None,
}
"""train.* for generation and language_model unless set. Measured on SmolLM2-135M-Instruct, BBC
lead -> headline, two cores (issue 13): LoRA r16 at batch 8 and learning rate 2e-4 took held-out
perplexity from 129 to 17 and ROUGE-L from 18.7 to 29.8 in 120 steps (about 5 minutes in bf16);
full fine-tuning reached 16.3 and 27.5 in 40 steps but saves and trains all 135M weights. The
adapters sit on the attention projections of the llama architecture (q/k/v/o_proj); nothing is
trained in full beside them (no new head). Early stopping judges validation loss every
generation.eval_steps, and generation.max_steps bounds the run on large data; dropout: the
model's own (SmolLM2 has none)."""


class TaskConfig(Section):
    name: str = DEFAULT_TASK_NAME
    """Names the run: its directory is runs/<name> unless --out says otherwise."""
    domain: str = "general"
    objective: Literal[
        "classification", "multi_label", "regression", "generation", "language_model"
    ] = "classification"
    """classification: one label per text. multi_label: a set of labels per text (none, one or
    several of them), read from a list or a delimited string (data.label_separator); each label
    gets its own sigmoid and a threshold tuned on validation. regression: a number per text (a
    star rating, a severity, a price), learnt with mean squared error on the standardised value
    and scored by MAE, RMSE and rank correlation; the label column must hold numbers.
    generation: a text written for each input text (a headline for an article, a summary, a
    reply), from data.text_column to data.target_column: a causal language model learns the
    target given the input (the loss on target tokens only), scored by perplexity and ROUGE
    against the base model and a lead baseline. language_model: the domain's language alone
    (data.text_column, no target), learnt over the whole text and scored by perplexity."""
    description: str = "Classify each text into one of the labels found in the data."
    """The task in words, as the report quotes it."""
    expected_output: str = "One label per text, with a probability for every label."

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, name: str) -> str:
        """runs/<name> is cleared by every stage, so a name must not reach outside runs/."""
        if not name.strip() or name in {".", ".."} or NOT_IN_A_FOLDER_NAME.search(name):
            raise ValueError(
                f"{name!r} cannot name a run folder under runs/: give one folder name "
                "(not empty, not '.' or '..', no '/', '\\' or ':')"
            )
        return name


def task_name_from(source: str) -> str:
    """The quick start's task name: the data file's stem, made a safe folder name.

    `hub:owner/name` gives `name`; a stem such as `..` or `reviews 2024` becomes `domaintune` or
    `reviews-2024`, so a data file's name can never steer the run folder outside runs/.
    """
    stem = Path(source.split(":")[-1]).stem
    return UNSAFE_IN_A_DERIVED_NAME.sub("-", stem).strip(".-") or DEFAULT_TASK_NAME


class DataConfig(Section):
    source: str = "builtin:airline-tweets"
    """builtin:NAME, a local file (CSV, TSV, TXT, JSONL, JSON, Parquet, Excel .xlsx) or folder,
    or hub:OWNER/NAME. A text file's encoding is told from its first 64 KiB: a byte-order mark
    (UTF-8, UTF-16, UTF-32), else UTF-8 (a line that is not is read as cp1252), else
    charset-normalizer's choice (cp1252 when it reads as cleanly)."""
    text_column: str = "text"
    """The column holding each text, when there is one (see text_columns for several); in JSON,
    JSONL or Parquet a dotted path such as `meta.body` names a field of a nested object (a column
    literally named `meta.body` wins)."""
    text_columns: list[str] | None = None
    """Several text fields, e.g. [subject, body] or [question, answer]; None: text_column alone.
    Each field is cleaned on its own and kept as its own column in data/, and the model reads them
    joined by its tokenizer's separator token (`subject [SEP] body`), so it can tell where one
    field ends and the next begins. Fields are kept in order: put the one that must not be cut
    first, since a text over the token limit loses its end (model.long_text head_tail or chunks
    read the joined fields as one text). A dotted path reaches into nested objects as
    text_column does. The checks of prepare (duplicates, junk, label audit) and the TF-IDF and
    probe baselines read the fields joined with " | "."""
    text_pair: bool = False
    """Two fields compared with each other (question and answer, claim and evidence): the
    tokenizer encodes them as a pair (token type 0 then 1, as the model was pre-trained on
    sentence pairs) and cuts the longer one first when the pair is over the token limit.
    Needs exactly two text_columns, and model.long_text: truncate."""
    label_column: str = "label"
    """The column of labels; a dotted path reaches into nested objects as `text_column` does."""
    target_column: str | None = None
    """task.objective generation: the column holding the text to write for each input (the
    headline of an article, the summary of a report); the input is text_column."""
    sheet: str | None = None
    """The sheet of an Excel workbook to read; None reads the first. Every cell is read as the
    text it shows (1, not 1.0; a date as 2024-03-15)."""
    delimiter: str = "auto"
    """The delimiter of a CSV/TXT file: `auto` sniffs comma, semicolon, tab or pipe from the
    header and first rows (European Excel writes semicolons; quoted cells count as one, so texts
    full of semicolons do not mislead it); .tsv is read with tabs. Give one character (or `tab`)
    to override."""
    label_mapping: dict[str, str] = Field(default_factory=dict)
    """Raw label -> label name (e.g. star ratings to sentiment). When set, unmapped rows are dropped
    (multi_label: unmapped labels are dropped from each row's set)."""
    label_separator: str | None = None
    """multi_label only: what separates the labels of a row written as one string (`billing|bug`).
    None: a list (JSON or Parquet) is taken as given, a string holding a JSON list (`["a", "b"]`)
    is parsed, and any other string is split on commas. Set it when label names hold commas."""
    hub_split: str = "train"
    """The split read from a Hub data set; domaintune makes its own splits from it."""
    split_column: str | None = None
    """A column naming each row's split: train, validation or test (any case; also training,
    valid, val, dev, testing). For a test set others report on: its rows stay in test as given
    (cleaned, never moved to train; a training row that near-duplicates one is dropped instead).
    A split without rows is carved from train (see prepare.split), test too rather than refused:
    public data sets often withhold their test labels, and the card says the split was carved.
    The column is not a feature."""
    train: str | None = None
    """For data already split into files: the training file, read as data.source is (which it
    replaces; the card names it as the source). data.validation and data.test are optional."""
    validation: str | None = None
    """The validation file; without it, validation is carved from the training rows."""
    test: str | None = None
    """The test file, kept as given like a split column's test rows; without it, test is carved
    from the training rows. With data.validation or data.test but no data.train, data.source is
    the training file (so `--data train.csv --set data.test=test.csv` works)."""
    unlabelled: str | None = None
    """Texts without labels that a distilled student (train.distill_from) also learns from, from
    the teacher's probabilities: in-domain texts are often plentiful where labels are not. Any
    source data.source can be (the same file formats); the texts are read from the same text
    column (data.text_column), and a label column, if present, is ignored. Prepare cleans them as
    the labelled texts and drops each that repeats or nearly repeats a labelled text of any split
    (else the teacher's view of test texts would leak into the student) or another unlabelled one,
    and writes data/unlabelled.parquet; train reads it only with train.distill_from."""
    time_column: str | None = None
    """A column with each row's date or time, for prepare.split: time. Read by pandas, formats
    mixed freely (2024-03-15, 15 March 2024, 2024-03-15T14:30Z); numeric dates such as 03/04/2024
    are read as prepare.date_order says. A value that is not a date is an error naming its row."""

    @model_validator(mode="before")
    @classmethod
    def _train_file_is_the_source(cls, values: Any) -> Any:
        """data.train replaces data.source, so that the card, inspect and the task name all see
        the file the rows come from, and a saved config reads back the same."""
        if isinstance(values, dict) and values.get("train"):
            values = {**values, "source": values["train"]}
        return values

    @model_validator(mode="after")
    def _one_way_to_split(self) -> DataConfig:
        if self.split_column and self.split_files():
            raise ValueError(
                "data.split_column and data.train/validation/test both give the splits: keep one"
            )
        return self

    def split_files(self) -> dict[str, str]:
        """The files of data the user split into files, by split; empty when it is one source."""
        if not (self.train or self.validation or self.test):
            return {}
        files = {"train": self.source, "validation": self.validation, "test": self.test}
        return {name: path for name, path in files.items() if path}

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        """A delimiter is one character; `tab` and `\\t` are easier to write in YAML."""
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
        if delimiter != "auto" and (len(delimiter) != 1 or delimiter in '"\r\n'):
            raise ValueError(f"{delimiter!r}: give auto, tab, or one character such as ; or |")
        return delimiter

    @property
    def fields(self) -> list[str]:
        """The columns the model reads, in order: text_columns, else text_column alone."""
        return list(self.text_columns) if self.text_columns else [self.text_column]

    @field_validator("text_columns")
    @classmethod
    def _distinct_fields(cls, columns: list[str] | None) -> list[str] | None:
        if columns is not None and (not columns or len(set(columns)) != len(columns)):
            raise ValueError("give one or more distinct column names, e.g. [subject, body]")
        return columns

    @model_validator(mode="after")
    def _pair_of_two(self) -> DataConfig:
        if self.text_pair and len(self.fields) != 2:
            raise ValueError(
                f"text_pair compares two fields; text_columns names {len(self.fields)}: "
                "give exactly two, e.g. [question, answer]"
            )
        return self

    @field_validator("label_mapping", mode="before")
    @classmethod
    def _labels_as_text(cls, mapping: Any) -> Any:
        """YAML reads `5: positive` with an integer key; raw labels are compared as text."""
        if isinstance(mapping, dict):
            return {str(key): str(value) for key, value in mapping.items()}
        return mapping


class PrepareConfig(Section):
    # Normalisation: repairs that keep the meaning of a text and make equal texts look equal.
    fix_unicode: bool = True
    """Repair mojibake and strip control characters (ftfy)."""
    unescape_html: bool = True
    normalize_whitespace: bool = True
    strip_quotes: bool = True
    """Remove one pair of double quotes wrapping a whole text, as exported reviews often have."""
    lowercase: bool = False
    """Off: the built-in model is uncased anyway, and cased models use case as a signal."""
    dates: Literal["keep", "iso", "token"] = "iso"
    """Dates with a year, in any common written form, become ISO 8601 (2024-03-15) or `<date>`."""
    date_order: Literal["MDY", "DMY"] = "MDY"
    """How to read an ambiguous numeric date such as 03/04/2024 (a day above 12 decides itself)."""
    mask_urls: bool = False
    mask_emails: bool = False
    mask_handles: bool = False
    """@user handles become `<user>`; off, since a handle can be the signal (which airline)."""
    mask_numbers: bool = False
    # Junk: rows that cannot teach the model anything, each dropped with its own reason.
    min_chars: int = Field(default=2, ge=1)
    """Texts shorter than this after cleaning are dropped as empty or too short."""
    max_chars: Annotated[int, Field(ge=1)] | Literal["auto"] | None = "auto"
    """Longer texts are dropped as junk (pasted logs, whole files); None keeps every length.
    auto: 20,000 characters (about ten times the 512 tokens a model reads) when long texts are
    cut, no limit with `model.long_text: chunks`, which reads the whole of every text."""
    min_letter_ratio: float = Field(default=0.25, ge=0, le=1)
    """Texts whose non-space characters are mostly not letters (codes, numbers, symbols) are junk."""
    language: str = "auto"
    """Expected language (ISO 639-1 code, e.g. en), `auto` for the corpus's most common one, or
    `any` to keep every language. Only rows confidently in another language are dropped."""
    language_min_words: int = Field(default=5, ge=1)
    """Shorter texts are never judged: language identification is unreliable on a few words."""
    language_confidence: float = Field(default=0.9, gt=0, le=1)
    # Typos: a conservative English spelling corrector (symspellpy).
    fix_typos: bool = False
    """Off: a default that rewrites users' words must be right nearly always (95% of corrections),
    and this is not. Hand-labelled on real data (bench/typo_precision.py, bench/typo_labels.csv),
    94% of its corrections are right on the two built-in sets whose labels shaped its rules (99 of
    105; 95% Wilson interval 88-97%) and 86% on held-out tweets (56 of 65; 76-93%): about one
    correction in seven picks the wrong word (`revieving` -> `reviving`, `limination` ->
    `lamination`) or rewrites a name or slang (`singulair`, `merking`). Only English, only words
    unknown to the dictionary and rare in the corpus."""
    typo_min_word_length: int = Field(default=7, ge=3)
    """Shorter words are too often slang, names or abbreviations (probs, convo, sched; `frowny`,
    `orbitz`, `chking`) to correct safely: 29 of 48 six-letter corrections were wrong."""
    typo_max_edit_distance: int = Field(default=1, ge=1, le=2)
    """Two edits turn too many real words into others (seatback -> setback) to be a default."""
    typo_protect_count: int = Field(default=5, ge=1)
    """A word that occurs this often in the corpus is domain vocabulary, never corrected."""
    typo_min_dictionary_count: int = Field(default=100_000, ge=1)
    """A correction must be a common English word (this many in symspell's frequency list)."""
    # Duplicates and conflicts.
    drop_duplicates: bool = True
    """Exact duplicates, ignoring case, after normalisation."""
    conflicts: Literal["majority", "drop"] = "majority"
    """The same text with different labels: keep the most frequent label, or drop them all.
    multi_label: the most frequent label set (ties: the first in sorted order), or drop them all."""
    drop_near_duplicates: bool = True
    """Keep one text of each group of near-duplicates. Off, they are kept but never split apart."""
    near_duplicate_threshold: float = Field(default=0.7, gt=0, lt=1)
    """Estimated Jaccard similarity of character 5-gram sets (ignoring case and punctuation) from
    which two texts are near-duplicates. 0.7 catches a short message with a word added (`any luck?`,
    `any luck? #fail`); near-duplicates with different labels are kept, only never split apart."""
    minhash_permutations: int = Field(default=64, ge=16)
    # Label audit: confident learning (cleanlab) on out-of-fold probabilities of TF-IDF + LR.
    label_audit: Literal["off", "flag", "drop"] = "flag"
    """Flag lists suspected label errors in the card and report; drop also removes the likely
    errors from the training split (validation and test keep theirs, so model choice and the
    test scores stay those of the labels as given, and runs with and without it compare on the
    same test rows). An unquoted `off` (which YAML reads as false) turns the audit off too.
    Flag is the default because dropping helped on two sets and hurt on two: MiniLM-L6, test
    macro-F1 trained on every row against without the likely errors (each pair on one split,
    the same validation and test rows): the default task (12% of training rows dropped) 0.783 /
    0.799, 0.770 / 0.795, 0.791 / 0.794 over training seeds 42, 1, 2 (and 0.798 / 0.790 from
    `domaintune run` without and with `--set prepare.label_audit=drop`); tweet snippets (18%) 0.795
    / 0.805; product snippets (27%) 0.711 / 0.691; movie snippets (17%) 0.598 / 0.577. It hurt
    where TF-IDF + LR, the audit's own model, scored lowest (test 0.58 and 0.52, against 0.64 and
    0.74 where it helped): a weak audit model may doubt hard rows whose labels are right."""
    audit_folds: int = Field(default=5, ge=2)
    audit_max_train_rows: int = Field(default=200_000, ge=100)
    """Each fold's model trains on at most this many rows (a stratified sample): on large data
    more rows barely change the probabilities, and the audit stays linear in time."""
    audit_probability: float = Field(default=0.5, gt=0, lt=1)
    """Rows whose label gets less than this out-of-fold probability are listed as doubtful too."""
    # Split, leakage and balance.
    split: Literal["auto", "random", "time", "cross_validation"] = "auto"
    """How prepare makes the splits the data does not bring. auto: random, or cross_validation
    for single-label classification too small to test on a split: a class with fewer than
    min_rows_per_class rows, or a test split that would hold fewer than
    `cross_validate_below_test_rows`. cross_validation: no split; every row is in train, the
    final model learns from all of them, and evaluate scores the method by stratified k-fold
    cross-validation repeated with new seeds (`evaluate.cv_folds`, `evaluate.cv_repeats`), each
    row scored by models that did not see it. random: stratified by class (for
    multi_label by each label, by iterative stratification) and seeded. time: by data.time_column, the latest test_size of the rows to test and the next
    latest validation_size to validation, since a model meets texts newer than those it learnt
    from and a random split flatters it when topics drift. Splits the user gives (data.split_column,
    data.validation, data.test) are kept as given; only missing ones are carved from train."""
    leakage: Literal["move", "drop"] = "move"
    """Validation or test rows that near-duplicate a training row: move them to train, or drop.
    Only for rows prepare split off at random: a split the user gave, or one cut by time, is never
    changed, so the training copies are dropped instead and the pairs counted in the card."""
    balance: Literal["none", "undersample", "oversample", "class_weights"] = "class_weights"
    """Applied to the training split only, so validation and test keep the real class mix.
    multi_label: the default is none (MULTI_LABEL_BALANCE); class_weights weighs each label's
    positives by negatives/positives (pos_weight); resampling is refused, since a row's labels
    cannot be resampled apart."""
    cross_validate_below_test_rows: int = Field(default=200, ge=0)
    """split auto cross-validates where the test split would hold fewer rows than this. A test
    split of n rows measures macro-F1 to about +-1/sqrt(n) (95%): 200 rows give +-7 points, and
    the built-in drug reviews' 98 test rows gave 0.552 [0.433, 0.673], an interval that could not
    separate the model from TF-IDF + LR (0.396) or the probe (0.518)."""
    validation_size: float = Field(default=0.1, gt=0, lt=0.5)
    """The share of the rows for validation; carved from a split the user gave, the share of
    its training rows."""
    test_size: float = Field(default=0.1, gt=0, lt=0.5)
    """The share of the rows for test, likewise."""
    min_rows_per_class: int = Field(default=10, ge=3)
    """Each class needs this many rows to be split into train, validation and test. multi_label:
    a rarer label is dropped from the label sets (counted in the card), not refused."""
    seed: int = 42

    @field_validator("label_audit", mode="before")
    @classmethod
    def _label_audit_from_yaml_boolean(cls, value: Any) -> Any:
        """YAML reads an unquoted `off` (and `no`, `false`) as false and `on` as true, so
        `--set prepare.label_audit=off` arrives as a boolean: false is off, true the default flag."""
        if isinstance(value, bool):
            return "flag" if value else "off"
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"auto", "any"} and not (value.isalpha() and 2 <= len(value) <= 3):
            raise ValueError("give an ISO 639-1 code such as en, or auto, or any")
        return value


class ModelConfig(Section):
    name_or_path: str = "auto"
    """builtin:NAME, a local model folder, a Hugging Face Hub id, or `auto`: the most accurate
    built-in model whose training fits `train.time_budget` on this machine, or half its epochs
    at least (`train.ladder`).
    MPNet-base against MiniLM-L6, test macro-F1 with every other default, bf16, one seed: airline
    tweets (undersampled to 5,319 training rows) 0.769 vs 0.750, product-review snippets 0.787 vs
    0.752, movie-review snippets 0.678 vs 0.627, drug reviews 0.648 vs 0.542 (98 test rows);
    TF-IDF + LR 0.719, 0.626, 0.538, 0.390. It trained 228-584 s there against 60-150 s."""
    max_length: int | None = Field(default=None, ge=8)
    """Token limit per text; None chooses it from the data."""
    max_length_percentile: float = Field(default=99.0, gt=0, le=100)
    """With max_length None: this percentile of training token lengths, rounded up to 8."""
    long_text: Literal["truncate", "head_tail", "chunks"] = "truncate"
    """How a text longer than the token limit is read, in training and prediction alike.
    truncate: its first tokens. head_tail: its first `head_share` of the limit and its last tokens
    (Sun et al. 2019, "How to Fine-Tune BERT for Text Classification": on long reviews and news
    the end says as much as the start). chunks: overlapping windows, each trained on with the
    text's label; a text's logits are its windows' pooled, the mean, or the max where validation
    clearly prefers it.
    truncate by default: most texts people classify fit, and chunks multiplies the time of long
    ones; say chunks when most texts are longer than the model reads (the data card tells). On
    Brown genres (499 texts of about 2,600 tokens, 5 folds cross-validated, MiniLM-L6 within the
    600 s budget) chunks reached macro-F1 0.795 against truncation's 0.752 (better on 4 of 5
    folds; TF-IDF + LR 0.754), 485 s a fold against 438; one data set, so not yet the default.
    With chunks, the validation scores of each epoch (early stopping, the best checkpoint) score
    windows one by one, each with its text's label; evaluate scores whole texts. multi_label
    takes truncate or head_tail; chunks is refused there, since each label's threshold is tuned
    on validation texts read whole, not on pooled windows."""
    head_share: float = Field(default=0.25, gt=0, lt=1)
    """head_tail: the share of the limit taken from the start (Sun et al.: 128 of 512)."""
    chunk_overlap: float = Field(default=0.25, ge=0, lt=1)
    """chunks: the share of a window repeated in the next, so a sentence cut at a window's edge is
    read whole in one of them."""
    max_chunks: int = Field(default=4, ge=1)
    """chunks: training windows per text, spread evenly over it (the first and last among them),
    so an epoch costs at most four times truncation's: on a two-core CPU a 512-token window
    trains at a few rows a second. Evaluation and prediction read every window."""


class TrainConfig(Section):
    epochs: float = Field(default=3, gt=0)
    """Passes over the training split (fewer where `time_budget` cuts them). Over 19 runs of the
    quality suite (bench/quality.py: MiniLM-L6 and MPNet-base, alone and distilled, on product,
    tweet and movie snippets and the default task), validation macro-F1 peaked at epoch 2 in 9
    and was still rising at epoch 3 in 10, by 0.6 to 4.8 points (most where an epoch is 100
    steps). That is the learning rate's linear decay to zero, not too few epochs: five in place
    of three (the decay stretched over them) gained nothing for MiniLM-L6, test macro-F1 on
    product snippets 0.723 against 0.723, tweet snippets 0.766 against 0.767, movie snippets
    0.601 against 0.605, the default task with split and training seeded 3 and 1 0.767 against
    0.769 and 0.771 against 0.800, for up to 1.7x the training time (two stopped early). And
    epochs come out of `time_budget`, which the ladder spends on a more accurate model first:
    MPNet-base's second epoch beat MiniLM-L6's third (on validation) on every set
    (`train.ladder.LEAST_SHARE_OF_EPOCHS`)."""
    min_steps: int = Field(default=300, ge=0)
    """With `model.name_or_path: auto`: where `epochs` make fewer optimizer steps than this (a
    small training split), training runs more whole epochs, as many as make them, or as fit
    `time_budget` at the chosen model's measured speed; 0 turns it off. A named model trains
    `epochs`. 300 is three epochs of the 100 steps below which `batch_size: auto` already halves
    the batch for more updates, so only splits under about 1,600 rows train longer. On those,
    three epochs can leave the model underfit (Mosbach et al. 2021, "On the Stability of
    Fine-tuning BERT": train small sets for more iterations): on Brown genres (499 texts, 32 steps
    an epoch) the training loss was still 0.90 after three. Cross-validated on the same 5 folds
    (bench/quality.py --variants auto --set evaluate.cv_repeats=1, train.epochs set to what this
    gives), macro-F1 against the three epochs of before: Brown genres, MiniLM-L6, 7.92 epochs
    (the budget's share of the 10 wanted) 0.752 against 0.689, better on 5 of 5 folds, where
    TF-IDF + LR scores 0.754; drug reviews (978 rows), MPNet-base, 5 epochs 0.631 against 0.631,
    better on 2 of 5. Its price is time: a fold took 438 s against 196 on Brown (110 where the
    machine was otherwise idle), 356 against 204 on drug reviews."""
    time_budget: float | None = Field(default=600, gt=0)
    """Seconds of training that `model.name_or_path: auto` plans for: it trains the most
    accurate built-in model whose epochs fit, measured on this machine (`train.ladder`), or
    half of them at least, and then the epochs that fit. Where none fits, the fastest trains the
    epochs that do, and below one epoch a random part of the
    training split, each row once: so the budget also decides whether a large split is used
    whole. None picks the most accurate model whatever it takes. Ignored for a named model.
    It bounds one training: data small enough to be cross-validated (`prepare.split`) is
    trained again per fold and repeat (10 by default, each on 4/5 of the rows), and evaluate
    prints the estimate first (on drug reviews, MPNet-base took about 7 minutes a fold here).
    600 s keeps `make demo` within 15 minutes on two cores without bf16 units, with everything
    else it does: on an EPYC held to AVX2 kernels (ONEDNN_MAX_CPU_ISA=AVX2, fp32), MiniLM-L6
    trained 2.9-3 epochs in 574-626 s and the whole run took 691-772 s (test macro-F1
    0.796-0.799 against TF-IDF + LR's 0.738). Where MPNet-base is chosen, its evaluation adds
    several minutes. What it picks for the default task, by machine: on two cores of a Xeon with
    AMX, MPNet-base (40 rows/s, 2.01 epochs; test macro-F1 0.821 against 0.738, 835 s in all);
    of an EPYC with AVX512_BF16 but no AMX, MiniLM-L6 (146 rows/s, 3 epochs; 0.798, 415 s)."""
    learning_rate: Annotated[float, Field(gt=0)] | Literal["auto"] = "auto"
    """auto: 1e-4 for a model whose hidden states are narrower than 768 (MiniLM-L6: 384), 3e-5
    from 768 up (MPNet-base, BERT-base), or for a model whose config gives no width
    (`train.rate`). Small encoders are fine-tuned near 1e-4; base-size ones in BERT's range,
    {2, 3, 5}e-5. Measured for MPNet-base at 1e-4 against 3e-5 (test macro-F1, each pair on one
    prepared split; bench/quality.py --variants mpnet --set train.learning_rate=...): products
    0.762 against 0.786, tweets 0.823 against 0.826; on the default task 3e-5 reached 0.817,
    where 1e-4 stalled at validation 0.786."""
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """Rows per optimizer step (per process). auto: 32 where that still gives each epoch 100
    steps (3,200 training rows on one process), else 16. Larger batches keep a CPU's cores busier
    (32 trained 1.09x the rows/s of 16 here), but small data sets need the updates: on drug reviews
    (782 training rows, 75 steps in all at 32) test macro-F1 was 0.454 at 32 against 0.552 at 16."""
    eval_batch_size: int = Field(default=64, ge=1)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    group_by_length: bool = True
    """Batch texts of similar length together, so little compute goes to padding."""
    dropout: float | None = Field(default=0.0, ge=0, lt=1)
    """Every dropout rate in the model's config (hidden, attention, classifier); None keeps the
    model's own. Off by default: drawing the random masks costs CPU time (MiniLM-L6, 3 epochs of
    the default task: 349 s against 310 s), and the suite does not show its regularisation paying
    for that. MiniLM-L6 with its own dropout (0.1) against none, test macro-F1, each pair on one
    prepared split (bench/quality.py --variants minilm --set train.dropout=null; patience 2):
    product snippets 0.738 against 0.723, tweet snippets 0.805 against 0.767, movie snippets
    0.592 against 0.605; the default task, splits and training seeded 42, 1 and 2: 0.780 against
    0.798, 0.804 against 0.800, 0.810 against 0.808. A mean of +0.5 point, from -1.8 to +3.8."""
    freeze_embeddings: bool = True
    """Keep the word-embedding table as pre-trained. It holds half of MiniLM-L6's weights, yet a
    small data set touches few of its rows; freezing it saves its gradient and optimizer update
    every step (MiniLM-L6 trained 134 against 120 rows/s, the ladder's probe on the default
    task), and words unseen in training keep embeddings that agree with the seen ones. Trained
    embeddings did not pay for that on the suite: MiniLM-L6, test macro-F1 against frozen, each
    pair on one prepared split (bench/quality.py --variants minilm --set
    train.freeze_embeddings=false; patience 2): product snippets 0.763 against 0.723, tweet
    snippets 0.766 against 0.767, movie snippets 0.603 against 0.605; the default task, splits
    and training seeded 42, 1 and 2: 0.794 against 0.798, 0.798 against 0.800, 0.801 against
    0.808. Worse on five of six, by 0.1 to 0.7 point; one gain of 4.0."""
    freeze_layers: int = Field(default=0, ge=0)
    """Keep the embeddings and the lowest this many transformer layers as pre-trained. The
    backward pass then stops above them: with 2 of MiniLM-L6's 6 frozen a bf16 step ran 1.3x as
    fast (3: 1.55x). Off by default, as its cost in test macro-F1 (bf16, 2 frozen against none,
    one seed each) ran from +1.7 to -3.2 points: airline tweets 0.766 vs 0.750, product-review
    snippets 0.758 vs 0.752, movie-review snippets 0.624 vs 0.627, drug reviews 0.510 vs 0.542
    (98 test rows); training took 0.70-0.79x the time where both ran all epochs."""
    early_stopping_patience: int = Field(default=2, ge=0)
    """Evaluations without a better validation macro-F1 before stopping; 0 turns it off. The
    weights of the best evaluation are kept either way, so patience only saves time; but a dip
    at epoch 2 can come before the best epoch, the last, where the learning rate has decayed.
    2 lets the default 3 epochs all run. On the default task (MiniLM-L6, splits and training
    seeded 1 and 2: `--set prepare.seed=S --set train.seed=S`), validation fell at epoch 2 on both
    seeds, and patience 1 stopped there. Run to epoch 3, seed 1 reached validation 0.790 against
    epoch 1's 0.771, and test macro-F1 0.800 against 0.783 (+4.8 points over TF-IDF + LR instead
    of +3.1). Seed 2's epoch 3 (0.793) did not beat its epoch 1 (0.795): the same model, test
    0.808, for 100 s more of training. Seed 42 ran all 3 epochs either way."""
    logging_steps: int = Field(default=50, ge=1)
    seed: int = 42
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 only where the hardware runs it fast (a CUDA GPU with bf16, or a CPU with
    AVX512_BF16 or AMX), else fp32. On an AVX2 CPU without them bf16 was about 20x slower."""
    attention: Literal["auto", "sdpa", "eager"] = "auto"
    """The attention implementation training uses. auto: `eager` (plain operators) for bf16 on a
    CPU, where PyTorch's fused kernel has a slow backward pass (the bf16 step of MiniLM-L6 ran 1.9x
    as fast without it on a two-core Xeon with AMX); elsewhere Transformers' own choice (`sdpa`
    where the model has it), as fast as eager in fp32 on a CPU and faster on a GPU. The saved
    model does not keep the choice: prediction picks its own."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for PyTorch; None keeps PyTorch's default (one per physical core)."""
    cache_tokenized: bool = True
    """Tokenise each split once and keep it under cache/ in the run directory, keyed by the
    tokenizer, the token limit and the data, so re-training, resuming and tuning skip it."""
    method: Literal["auto", "full", "lora", "fewshot"] = "auto"
    """full: train every weight. lora: train low-rank adapters (peft, extra `lora`) and the
    classifier head, then merge the adapters into the weights, so the saved model is a plain one.
    fewshot: SetFit's contrastive fine-tuning of a sentence encoder on pairs of rows, then a
    logistic-regression head (`train.fewshot`), saved as a plain classifier too. auto: fewshot for
    single-label classification with fewer than `fewshot_below` training rows a class on
    average, else full."""
    fewshot_below: int = Field(default=64, ge=0)
    """method auto trains few-shot below this many training rows a class (on average, so that
    one rare class among large ones does not turn a large split into millions of pairs).
    Measured with bench/fewshot.py on the airline tweets (MiniLM-L6, 5 draws a size, test
    macro-F1 on all 1,422 test rows), few-shot against full fine-tuning: 8 rows a class 0.552 vs
    0.351, 16: 0.625 vs 0.394, 64: 0.620 vs 0.569 (ahead in every draw, by +0.005 at least at
    64). The gap closes with rows while the pairs grow with them (64 a class: about 6 minutes
    against 1 on two cores), so few-shot stops here; not yet measured above 64 or on other sets."""
    fewshot_pairs_per_row: int = Field(default=20, ge=1)
    """fewshot: pairs drawn a training row and a side (same class, other class), SetFit's
    num_iterations: 20 as in the SetFit paper. 24 rows make 960 pairs, 60 steps of 16."""
    fewshot_max_pairs: int = Field(default=20000, ge=16)
    """fewshot: at most this many pairs (a random share of them beyond it): 1,250 steps, about 6
    minutes for MiniLM-L6 in bf16 on two cores. 64 rows a class for 3 classes make 7,680."""
    fewshot_head_c: float = Field(default=1.0, gt=0)
    """fewshot: the head's inverse regularisation strength (scikit-learn's C) on embeddings of
    about unit length. 1 as in SetFit. Refitting the airline runs' heads (bench/fewshot.py
    --head-c) gave, at C 1 / 10 / 100: 8 rows a class 0.551 / 0.548 / 0.548, 16: 0.625 / 0.633 /
    0.635, 64: 0.620 / 0.641 / 0.663; a C growing with the rows looks better, but one data set
    is not enough to set it."""
    fewshot_learning_rate: float = Field(default=2e-5, gt=0)
    """fewshot: the encoder's learning rate in the pair phase, SetFit's default: the pairs move a
    pre-trained sentence encoder only a little."""
    distill_from: str | None = None
    """A finished run directory whose model teaches this one: the student learns the teacher's
    probabilities on the training texts (softened by `distill_temperature`) beside the gold
    labels, so a fast model can carry much of an accurate one's quality (`train.distill`).
    Classification with `model.long_text: truncate` only."""
    distill_temperature: float = Field(default=2.0, gt=0)
    """Softens both models' probabilities, so the student learns how the teacher ranks the wrong
    classes too (Hinton et al., 2015; 2 as in DistilBERT's fine-tuning recipes). 4 against 2,
    MiniLM-L6 students of MPNet-base teachers without copies, test macro-F1: product snippets
    0.731 against 0.720 (teacher 0.790, alone 0.718), tweet snippets 0.775 against 0.780 (0.826;
    0.766), the default task seeded 42 and 1 0.804 / 0.790 against 0.799 / 0.791 (0.814; 0.798
    at seed 42): no difference beyond the seeds', so 2 stays."""
    distill_weight: float = Field(default=0.5, ge=0, le=1)
    """The share of the loss from the teacher's probabilities; the rest is the gold labels'. Half
    and half, as the Transformers distillation examples' alpha_ce. The default task (seed 42, one
    split; an MPNet-base teacher of two epochs, test macro-F1 0.814; MiniLM-L6 students without
    copies): 0.5 gave 0.799 (validation 0.814), 1.0 (the teacher alone, which might smooth the
    audit's 12% of doubtful labels) 0.793, and 1.0 over five epochs 0.788; MiniLM-L6 alone 0.798."""
    distill_augment: int = Field(default=8, ge=0)
    """Changed copies of each training text (words dropped, replaced, cut to a span;
    `train.augment`) that the student also learns from the teacher's probabilities alone. On the
    texts it was trained on, a teacher's probabilities say little more than their labels; on
    new texts they carry what it knows. MiniLM-L6 students of MPNet-base teachers (learning rate
    3e-5), test macro-F1 with 0 / 2 / 8 copies (MiniLM-L6 alone; the teacher): product snippets
    0.724 / 0.740 / 0.748 (0.723; 0.786), tweet snippets 0.779 / 0.786 / 0.809 (0.767; 0.826),
    the default task 0.794 / 0.783 / 0.794 (0.798; 0.817). Each set's runs share one split; the
    intervals are 2.5 to 5 points wide, so the gains on the small sets are suggestive, not
    proven, and on the default task none is seen. The cost is time: 8 copies made the default
    task's student train on 98,363 texts an epoch (2,814 s on two shared cores, against 177 s).
    Unlabelled texts from outside the domain do not stand in for them: with the archive's 21,981
    other tweets (sports, tech, politics) as data.unlabelled and no copies, the default task's
    student reached 0.794 again (teacher 0.817, alone 0.798; 927 s of training)."""
    distill_augment_max_rows: int = Field(default=100_000, ge=0)
    """At most this many changed copies in all (a random share of the texts' copies beyond it):
    on two cores with bf16 units, MPNet-base labelled about 140 texts a second and MiniLM-L6
    trains on about 200, so 100,000 copies take about 12 minutes to label and 8 an epoch."""
    lora_r: int = Field(default=8, ge=1)
    """Rank of each adapter."""
    lora_alpha: float = Field(default=16, gt=0)
    """Adapter scaling: updates are multiplied by lora_alpha / lora_r."""
    lora_dropout: float = Field(default=0.1, ge=0, lt=1)
    lora_target_modules: list[str] = Field(default_factory=lambda: ["query", "value", "q", "v"])
    """Layers that get adapters: the attention query and value projections, named `query` and
    `value` in BERT-like encoders (MiniLM) and `q` and `v` in MPNet; a model needs one pair."""
    lora_modules_to_save: list[str] = Field(default_factory=lambda: ["classifier"])
    """Layers trained in full beside the adapters: the new classification head."""


class TuneConfig(Section):
    """`domaintune tune`: an Optuna search over the train section, scored on the validation split."""

    n_trials: int = Field(default=20, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    """No new trial starts after this many seconds; None: run all n_trials."""
    metric: Literal["validation_macro_f1"] = "validation_macro_f1"
    """Trials are compared on validation data only, so the test split stays unseen."""
    learning_rate: tuple[float, float] = (1e-5, 3e-4)
    """Bounds of a log-uniform search."""
    batch_size: list[int] = Field(default_factory=lambda: [8, 16, 32])
    """Choices."""
    epochs: tuple[int, int] = (1, 4)
    """Bounds of a search over whole epochs."""
    warmup_ratio: tuple[float, float] = (0.0, 0.2)
    weight_decay: tuple[float, float] = (0.0, 0.1)
    pruner_startup_trials: int = Field(default=2, ge=0)
    """Trials that always run to the end before the median pruner stops any."""
    pruner_warmup_epochs: int = Field(default=1, ge=0)
    """Epochs each trial runs before it can be pruned."""
    seed: int = 42
    """Seeds the sampler; each trial trains with train.seed."""

    @field_validator("learning_rate", "epochs", "warmup_ratio", "weight_decay")
    @classmethod
    def _bounds_in_order(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= bounds[0] <= bounds[1]:
            raise ValueError("give [low, high] with 0 <= low <= high")
        return bounds

    @field_validator("warmup_ratio")
    @classmethod
    def _warmup_is_a_share(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        """Checked here, not when a trial draws a value: train.warmup_ratio must stay below 1."""
        if bounds[1] >= 1:
            raise ValueError("warm-up is a share of all training steps: give bounds below 1")
        return bounds

    @model_validator(mode="after")
    def _searchable(self) -> TuneConfig:
        if self.learning_rate[0] <= 0 or self.epochs[0] < 1:
            raise ValueError("tune.learning_rate and tune.epochs need a low bound above 0")
        if not self.batch_size or min(self.batch_size) < 1:
            raise ValueError("tune.batch_size needs one or more sizes of at least 1")
        return self


class DecisionRule(Section):
    """Pick `label` whenever its probability passes a threshold, chosen on the validation split so
    that the label reaches `value` of `target` (e.g. recall 0.9 for urgent messages)."""

    label: str
    target: Literal["recall", "precision"] = "recall"
    value: float = Field(gt=0, lt=1)


class EvaluateConfig(Section):
    baselines: list[Literal["majority", "tfidf_logreg", "linear_probe"]] = Field(
        default_factory=lambda: ["majority", "tfidf_logreg", "linear_probe"]
    )
    tfidf_c_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    """Inverse regularisation strengths tried for TF-IDF + LR, chosen on the validation split."""
    probe_c_grid: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0])
    """The same for the linear probe on the frozen pre-trained model's embeddings."""
    ridge_alpha_grid: list[float] = Field(
        default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    )
    """regression: ridge regularisation strengths tried for the TF-IDF and probe baselines (which
    stand in for tfidf_logreg and linear_probe; majority becomes the training mean), chosen on
    the validation split's MAE."""
    probe_max_train_rows: int = Field(default=2000, ge=10)
    """Training rows the probe embeds (a class-stratified sample when there are more). Embedding
    is one forward pass per text: MiniLM-L6 managed 37 texts/s on a busy two-core CPU, so the
    default task's probe (2,000 training rows plus validation and test) adds a few minutes at
    worst; 2,000 rows are plenty for a logistic regression on 384 features."""
    bootstrap_samples: int = Field(default=1000, ge=100)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    """For every interval; 1 - this is the significance level of the paired tests."""
    calibration_bins: int = Field(default=15, ge=2)
    """Equal-width confidence bins for the expected calibration error and reliability diagram."""
    abstain_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9])
    """Top-probability thresholds in the abstain table (coverage vs accuracy); always reported."""
    abstain_target_accuracy: float | None = Field(default=None, gt=0, le=1)
    """When set: send texts to a person below the threshold that reaches this accuracy on the
    kept validation texts; the report gives the coverage and error rate it implies on test."""
    decision: DecisionRule | None = None
    """An optional class rule, e.g. {label: urgent, target: recall, value: 0.9}."""
    length_buckets: int = Field(default=4, ge=1)
    """Test texts are split into this many equal-count buckets by word count for error analysis."""
    compare_runs: list[str] = Field(default_factory=list)
    """Other finished runs on the same test rows (the same data, prepared alike) whose models are
    compared with this one, paired, as the baselines are: the same model trained alone beside a
    distilled one, another model, other settings. A distilled run's teacher is compared unasked."""
    cv_folds: int = Field(default=5, ge=2)
    """prepare.split cross_validation: folds, stratified by class; fewer where the smallest class
    has fewer rows than this (a class needs a row in every fold)."""
    cv_repeats: int = Field(default=2, ge=1)
    """prepare.split cross_validation: how often the k folds are drawn anew (each with its own
    seed), so the spread shows what the draw of rows moves as well as what training moves."""
    batch_size: int = Field(default=64, ge=1)
    seed: int = 42

    @field_validator("abstain_thresholds")
    @classmethod
    def _probabilities(cls, values: list[float]) -> list[float]:
        if not all(0 < value < 1 for value in values):
            raise ValueError("thresholds are probabilities between 0 and 1")
        return values


class GenerationConfig(Section):
    """task.objective generation and language_model: the prompt, the token limits, how long the
    causal language model trains, and how much of the test split is generated for ROUGE."""

    system_prompt: str | None = None
    """The instruction the model gets before each input, as the chat template's system turn;
    None: task.description followed by "Answer with: " and task.expected_output. Always given,
    since SmolLM2's template otherwise inserts a default system prompt of its own."""
    max_input_tokens: int = Field(default=64, ge=8)
    """Tokens of the input kept (its start); the rest is cut. A BBC lead paragraph is about 22
    words (about 30 tokens), so 64 tokens hold the lead and the start of the next paragraph, where
    a headline's facts are; a step's time grows with the tokens (8 x 128 tokens took 3.6 s in bf16
    on two cores), and 64 keeps `domaintune run bbc-headlines` within 15 minutes there."""
    max_target_tokens: int | None = Field(default=None, ge=1)
    """Tokens of the target learnt and generated at most; None: the 99th percentile of the
    training targets' token lengths rounded up to 8 (a BBC headline: about 5 words, 16 tokens),
    at most 128. A longer target is cut in training and counted in the card and train log."""
    max_text_tokens: int = Field(default=128, ge=8)
    """language_model: tokens of each text learnt (its start)."""
    max_steps: int | None = Field(default=120, ge=1)
    """Optimizer steps at most, whatever train.epochs says; None: train.epochs alone. With LoRA
    r16 on SmolLM2-135M at batch 8, 120 steps took the BBC headlines' held-out perplexity from
    129 to 17 and ROUGE-L from 18.7 to 29.8 (issue 13; about 5 minutes in bf16 on two idle
    cores): more steps cost time `domaintune run bbc-headlines` does not have within 15
    minutes, and early stopping still keeps the best evaluated checkpoint. Measured with every
    default here (two cores, AVX512_BF16 so bf16, fresh cache): test perplexity 175.7 -> 19.8,
    ROUGE-L F 26.0 against 15.9 (base model) and 18.4 (lead), both paired intervals above zero;
    15.5 minutes in all (fetching and converting the model included), of which the first 50
    steps took about 11 minutes while another training shared the two cores and the last 70
    (with both validation evaluations) under 3.5 minutes."""
    eval_steps: int = Field(default=60, ge=1)
    """Steps between validation-loss evaluations (and checkpoints; at most one epoch apart):
    early stopping and the best checkpoint are judged on them. Each evaluation reads the whole
    validation split once (about a third of a training step's time per batch), so two over
    120 steps cost about a minute on BBC headlines' 207 validation rows."""
    rouge_rows: int = Field(default=100, ge=1)
    """Test rows generated for ROUGE, for the fine-tuned and the base model alike (a seeded
    sample where test has more; perplexity reads every test row). Generating is a token at a
    time: 100 rows keep the evaluation to a minute or two per model on two cores, and the
    paired bootstrap on 100 pairs still resolves the 5-point ROUGE-L gaps that matter."""
    max_eval_rows: int | None = Field(default=400, ge=10)
    """Validation rows the loss evaluations read and test rows perplexity is measured on, at
    most (a seeded sample where a split has more; None: every row). A forward pass of 16 rows of
    about 100 tokens took 5-12 s on two cores with SmolLM2-135M: a 2,000-row validation split
    would cost over 10 minutes per evaluation, and 400 rows already give perplexity intervals a
    few percent wide. BBC headlines' splits (about 207 rows) are read whole."""
    generation_batch_size: int = Field(default=16, ge=1)
    """Inputs generated together (left-padded); greedy decoding, so the output is repeatable."""


class ReportConfig(Section):
    title: str | None = None
    """Defaults to the task name."""
    examples: int = Field(default=5, ge=0)
    """How many example texts each list in the report shows."""


class ServeConfig(Section):
    """`domaintune serve`: where the server listens, how it batches requests, what it accepts.
    Its command-line options (`--port`, `--max-batch`, ...) override these keys."""

    host: str = "127.0.0.1"
    """Loopback: only this machine can reach the server until asked otherwise (`--host 0.0.0.0`),
    since it has no authentication of its own."""
    port: int = Field(default=8000, ge=0, le=65535)
    """The port uvicorn and most Python web tools use; 0 takes any free port (printed)."""
    max_batch: int = Field(default=32, ge=1)
    """The most texts predicted together. On two CPU cores a MiniLM reaches its batch throughput
    from about 8 texts on (issue 12: 150 texts/s at batch 8, 152 at 32); 32 takes in 16 waiting
    clients at once, and a longer batch would only make each answer wait longer."""
    max_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    """How long a batch waits at most for the clients the last batch answered to come back and
    join what queued meanwhile (see `serve/batching.py`): short beside a batch's own time (about
    100 ms for 16 texts on two cores), and cut short as soon as they are back, so clients that
    stop cost one window at most. 0: never wait, predict what is queued."""
    workers: int | None = Field(default=None, ge=1)
    """Batches predicted at the same time, each by its own copy of the model in a process of its
    own (so that none waits for Python's lock). None: on a CPU one per physical core up to four,
    the cores shared out among them as compute threads (`serve/workers.py`, `MAX_CPU_WORKERS`).
    On two cores that is two of one thread: ONNX int8 ran random batches of 8 at 887 texts/s this
    way, against 658-718 on one session of two threads; under 16 single-text clients PyTorch bf16
    served 409-483 texts/s from two processes, against 342 from two threads of one process
    (`load_workers`). One worker runs in the server's process; on a GPU one (more is refused)."""
    max_text_chars: int = Field(default=10_000, ge=1)
    """A longer text is refused (413). The model reads at most 512 tokens (about 2,500
    characters) and cuts the rest, so a longer text only costs tokenising time."""
    max_texts: int = Field(default=128, ge=1)
    """Texts in one request at most (413 above): a longer list holds the model for seconds while
    every other client waits; send large files to `domaintune predict --file`."""
    access_log: bool = False
    """One log line per request costs CPU the model needs under load; uvicorn's start and error
    lines are printed either way."""


class ExportConfig(Section):
    """`domaintune export`: the model as ONNX beside the run, refused unless it gives PyTorch's
    answers on the test split."""

    format: Literal["onnx"] = "onnx"
    """ONNX, run by ONNX Runtime: no PyTorch needed to serve it."""
    quantize: Literal["int8", "none"] = "int8"
    """int8: weights stored as int8 (one scale per output channel) and activations quantised on
    the fly, one scale per token in the feed-forward layers (domaintune.export.int8 says why). On
    the default task (MiniLM-L6, 3 labels, two cores, two threads) it ran 3.7-4.4x the texts/s
    of PyTorch's `pipeline()` at batch 1 and 2.1-2.6x at batch 32 on a Xeon with AMX (fp32 ONNX:
    2.4-2.7x and 1.1-1.3x), and 4.25-5.5x and 3.65-4.2x on an AMD EPYC with AVX512_BF16 and VNNI,
    with the same label for 99.3-99.4% of test texts. none: fp32 weights, PyTorch's answers
    to about 1e-6."""
    min_agreement: float = Field(default=0.99, gt=0, le=1)
    """The share of test texts on which the exported model must pick PyTorch fp32's label, or
    the export is refused: int8 rounding may move a text near a class boundary, not more than one
    in a hundred."""
    max_macro_f1_drop: float = Field(default=0.01, ge=0, le=1)
    """How far the exported model's test macro-F1 may fall below PyTorch fp32's (0.01: one point)
    before the export is refused. One point, not less: on a test split of a few hundred texts one
    changed label moves macro-F1 by about half a point, and flips go both ways."""
    opset: int = Field(default=17, ge=14)
    """ONNX opset: 17 has LayerNormalization as one operator; 14 is the least with every
    operator BERT-like encoders use."""
    threads: int | None = Field(default=None, ge=1)
    """ONNX Runtime and PyTorch threads while checking parity; None: one per physical core."""
    batch_size: int = Field(default=32, ge=1)
    """Texts per batch in the parity check; batches are padded, so the check covers padding."""


class Config(Section):
    task: TaskConfig = Field(default_factory=TaskConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    prepare: PrepareConfig = Field(default_factory=PrepareConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> Config:
        if self.prepare.validation_size + self.prepare.test_size >= 0.8:
            raise ValueError("prepare.validation_size + prepare.test_size must stay below 0.8")
        return self

    @model_validator(mode="after")
    def _multi_label_settings(self) -> Config:
        """Settings that mean nothing for the objective chosen are refused, not silently ignored."""
        multi = self.task.objective == "multi_label"
        if self.data.label_separator is not None and not multi:
            raise ValueError("data.label_separator is read only with task.objective: multi_label")
        if self.data.label_separator == "":
            raise ValueError("data.label_separator cannot be empty: give e.g. ',' or '|'")
        if multi and self.prepare.balance in {"undersample", "oversample"}:
            raise ValueError(
                f"prepare.balance: {self.prepare.balance} cannot balance label sets (a row holds "
                "several labels): use class_weights (a pos_weight per label) or none"
            )
        if multi and "balance" not in self.prepare.model_fields_set:
            self.prepare.balance = MULTI_LABEL_BALANCE
        if multi and self.model.long_text == "chunks":
            raise ValueError(
                "model.long_text: chunks is not supported with task.objective: multi_label yet "
                "(label thresholds are tuned on whole texts, not on pooled windows): use "
                "head_tail (start and end of each text) or truncate"
            )
        return self

    @model_validator(mode="after")
    def _regression_settings(self) -> Config:
        """Class balancing and the label audit judge classes, which a number is not: for
        regression their defaults become none and off, and a value the user set is refused."""
        if self.task.objective != "regression":
            return self
        prepare = self.prepare
        for key, off in (("balance", "none"), ("label_audit", "off")):
            value = getattr(prepare, key)
            if value == off:
                continue
            if key in prepare.model_fields_set:
                raise ValueError(
                    f"prepare.{key}: {value} works on classes; task.objective: regression "
                    f"predicts a number: set prepare.{key}: {off}"
                )
            setattr(prepare, key, off)
        task = self.task
        for key, words in REGRESSION_TASK_WORDS.items():  # the defaults describe a classifier
            if key not in task.model_fields_set:
                setattr(task, key, words)
        if self.data.label_mapping:
            raise ValueError(
                "data.label_mapping maps label names; task.objective: regression reads numbers: "
                "remove it"
            )
        if self.evaluate.decision is not None or self.evaluate.abstain_target_accuracy is not None:
            raise ValueError(
                "evaluate.decision and evaluate.abstain_target_accuracy choose among classes; "
                "task.objective: regression predicts a number: remove them"
            )
        if self.model.long_text == "chunks":
            raise ValueError(
                "model.long_text: chunks is not supported with task.objective: regression yet: "
                "use head_tail (start and end of each text) or truncate"
            )
        return self

    @model_validator(mode="after")
    def _generation_settings(self) -> Config:
        """generation and language_model train a causal language model: the settings that judge
        classes (balance, label audit, decisions) or windows are refused when set, and the
        training defaults become those measured for a small causal LM (GENERATION_DEFAULTS)."""
        objective = self.task.objective
        generative = objective in GENERATIVE
        if not generative:
            if self.data.target_column is not None:
                raise ValueError(
                    "data.target_column is read only with task.objective: generation: set "
                    "task.objective: generation, or remove it"
                )
            return self
        if objective == "generation" and not self.data.target_column:
            raise ValueError(
                "task.objective: generation needs data.target_column (--target-column): the "
                "column holding the text to write for each input"
            )
        if objective == "language_model" and self.data.target_column:
            raise ValueError(
                "task.objective: language_model learns data.text_column alone: remove "
                "data.target_column, or use task.objective: generation"
            )
        if self.data.target_column == self.data.text_column:
            raise ValueError("data.target_column must differ from data.text_column")
        refused = {
            "data.label_mapping": bool(self.data.label_mapping),
            "data.label_separator": self.data.label_separator is not None,
            "data.text_columns": self.data.text_columns is not None,
            "evaluate.decision": self.evaluate.decision is not None,
            "evaluate.abstain_target_accuracy": self.evaluate.abstain_target_accuracy is not None,
            "train.distill_from": self.train.distill_from is not None,
            "model.long_text": self.model.long_text != "truncate",
        }
        for key in ("balance", "label_audit"):
            refused[f"prepare.{key}"] = key in self.prepare.model_fields_set and getattr(
                self.prepare, key
            ) not in {"none", "off"}
        for key, set_by_user in refused.items():
            if set_by_user:
                raise ValueError(
                    f"{key} works on labels or windows of a classifier; task.objective: "
                    f"{objective} writes text: remove it"
                )
        self.prepare.balance = "none"
        self.prepare.label_audit = "off"
        if objective == "language_model":  # no label column: the text is read in its place
            self.data.label_column = self.data.text_column
        for key, words in GENERATION_TASK_WORDS[objective].items():
            if key not in self.task.model_fields_set:
                setattr(self.task, key, words)
        if self.model.name_or_path == "auto":
            self.model.name_or_path = GENERATION_MODEL
        if self.train.method == "fewshot":
            raise ValueError(
                f"train.method fewshot trains classifiers, not task.objective {objective}: set "
                "train.method to lora or full"
            )
        for key, value in GENERATION_DEFAULTS.items():
            if key not in self.train.model_fields_set or getattr(self.train, key) == "auto":
                setattr(self.train, key, value)
        return self

    @model_validator(mode="after")
    def _distillation_settings(self) -> Config:
        """Distillation matches one probability per class, text by text: several labels per
        text, a number, or windows of a text have no such teacher output yet."""
        if self.train.distill_from is None:
            return self
        if self.task.objective != "classification":
            raise ValueError(
                f"train.distill_from works with task.objective: classification, not "
                f"{self.task.objective}: remove it"
            )
        if self.model.long_text != "truncate":
            raise ValueError(
                "train.distill_from needs model.long_text: truncate (the teacher gives one "
                "probability per text, not per window)"
            )
        return self

    @model_validator(mode="after")
    def _unlabelled_settings(self) -> Config:
        """Unlabelled texts are learnt from by distillation alone, which takes one probability per
        class of one text; they are read from one text column."""
        if self.data.unlabelled is None:
            return self
        if self.task.objective != "classification":
            raise ValueError(
                f"data.unlabelled is learnt from by distillation (train.distill_from), which works "
                f"with task.objective: classification, not {self.task.objective}: remove it"
            )
        if len(self.data.fields) > 1:
            raise ValueError(
                "data.unlabelled is read from one text column, and data.text_columns names "
                f"{len(self.data.fields)}: remove data.unlabelled, or read one text column"
            )
        return self

    @model_validator(mode="after")
    def _typos_of_one_field(self) -> Config:
        """Typo corrections are chosen from the words of one text column; with several fields
        they would change the joined text the checks read but not the fields the model reads."""
        if self.prepare.fix_typos and len(self.data.fields) > 1:
            raise ValueError(
                "prepare.fix_typos works on one text column: turn it off with data.text_columns"
            )
        return self

    @model_validator(mode="after")
    def _pair_is_truncated(self) -> Config:
        """A pair's two fields are cut by the tokenizer (the longer first) to one window; windows
        over a pair would have to split or repeat one side, which the model never saw in training."""
        if self.data.text_pair and self.model.long_text != "truncate":
            raise ValueError(
                "data.text_pair reads two fields as one pair within the token limit; "
                f"model.long_text: {self.model.long_text} windows one text: set model.long_text: "
                "truncate, or drop data.text_pair to read the fields joined"
            )
        return self

    @model_validator(mode="after")
    def _cross_validation_of_one_label(self) -> Config:
        """Cross-validation scores single-label classifiers on rows prepare has not split; splits
        the user gave are theirs to keep."""
        if self.prepare.split != "cross_validation":
            return self
        if self.task.objective != "classification":
            raise ValueError(
                "prepare.split: cross_validation scores single-label classification, not "
                f"task.objective {self.task.objective}: set prepare.split to auto or random"
            )
        if self.data.split_files() or self.data.split_column:
            raise ValueError(
                "prepare.split: cross_validation uses every row and no split: remove "
                "data.split_column, data.validation and data.test, or set prepare.split: auto"
            )
        return self

    @model_validator(mode="after")
    def _time_split_has_a_time_column(self) -> Config:
        """A time column is read only to split by time; one set alone would be silently unused."""
        if self.prepare.split == "time" and not self.data.time_column:
            raise ValueError("prepare.split: time needs data.time_column (or --time-column)")
        if self.data.time_column and self.prepare.split != "time":
            raise ValueError(
                "data.time_column is read only by prepare.split: time: set it, or remove the column"
            )
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
