"""`domaintune export`: the run's model as ONNX, kept only when it gives PyTorch's answers.

Four steps, all in a temporary folder renamed to `RUN/export/` only when the last one passes:

1. Export with PyTorch's TorchScript exporter (`dynamo=False`) from the model loaded with eager
   attention: the dynamo exporter writes attention as one opaque operator that ONNX Runtime cannot
   fuse, and given keyword inputs beside `input_names` it has silently swapped `attention_mask`
   and `token_type_ids`. The inputs are passed by position through a wrapper whose parameters are
   the names given, and batch and sequence axes are dynamic.
2. Fuse with ONNX Runtime's transformer optimiser: embeddings, attention, bias + GELU and
   residual + layer norm each become one operator (`parity.json` counts them).
3. Quantise (`export.quantize: int8`): weights to int8 with one scale per output channel, and
   each linear layer's input quantised while the model runs, with one scale per token
   (`int8.py` says why not ONNX Runtime's one scale per tensor).
4. Check parity on the run's test split: labels, macro-F1 and calibrated probabilities of the
   exported model against PyTorch fp32, through the one prediction path (`Predictor`), in padded
   batches. Below `export.min_agreement`, or with macro-F1 down by more than
   `export.max_macro_f1_drop`, the export is refused and nothing is written; an earlier export that
   passed stays.

The files: `export/model.onnx` (self-contained, no external data file) and `export/parity.json`.
Int8 kernels differ by CPU: on an x86 CPU without VNNI, 8-bit products can saturate, so check parity
on the kind of machine that will serve the model (export there, or compare with `bench/inference.py`).
"""

from domaintune.export.stage import run_export

__all__ = ["run_export"]
