"""The evaluate stage: score the model and its baselines on the test split; writes metrics.json,
predictions.parquet, the calibration and the model card.

`stage` is the stage itself; the other modules are its parts: `scoring` (bootstrap intervals),
`probe` (the linear-probe baseline), `regularization` (the baselines' C, chosen on validation),
`significance` (paired tests), `calibration`, `decision` (thresholds and abstaining), `analysis`
(errors), and `model_card`.
"""

from domaintune.evaluate.stage import run_evaluate

__all__ = ["run_evaluate"]
