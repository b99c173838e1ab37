"""The one typed config: `sections` defines every key with its default, `loading` reads YAML files
and `--set` overrides into it, and `ready/` holds the configs shipped with domaintune."""

from domaintune.config.loading import build_config, load_config, ready_configs
from domaintune.config.sections import (
    DEFAULT_CONFIG,
    GENERATIVE,
    MAX_CHARS_WHEN_CUT,
    Config,
    DataConfig,
    DecisionRule,
    EvaluateConfig,
    ExportConfig,
    GenerationConfig,
    ModelConfig,
    PrepareConfig,
    ReportConfig,
    ServeConfig,
    TaskConfig,
    TrainConfig,
    TuneConfig,
    task_name_from,
)

__all__ = [
    "DEFAULT_CONFIG",
    "GENERATIVE",
    "MAX_CHARS_WHEN_CUT",
    "Config",
    "DataConfig",
    "DecisionRule",
    "EvaluateConfig",
    "ExportConfig",
    "GenerationConfig",
    "ModelConfig",
    "PrepareConfig",
    "ReportConfig",
    "ServeConfig",
    "TaskConfig",
    "TrainConfig",
    "TuneConfig",
    "build_config",
    "load_config",
    "ready_configs",
    "task_name_from",
]
