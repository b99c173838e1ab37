"""Data preparation: read, clean, label, split and describe the data; knows nothing of training."""
