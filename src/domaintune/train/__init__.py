"""The train stage: fine-tune the model on the prepared data; writes model/ and train_log.json.

`trainer` is the stage itself; the other modules are its parts: `hardware` (precision, threads,
processes), `tokencache`, `checkpoints`, `throughput`, `lora`, and `tune` (a search over it).
"""

from domaintune.train.trainer import run_train

__all__ = ["run_train"]
