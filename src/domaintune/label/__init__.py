"""The labeling loop: pick the pool rows most worth a person's label, and take the labels back.

`pool.py` reads the pool and the labels file, `pick.py` chooses rows (cold start from the label
names, then uncertainty and diversity), `formats.py` writes and reads the files a person labels
in (a CSV to fill, Label Studio JSON), `merge.py` adds labels to the labels file without losing
any, `command.py` joins them into `domaintune label pick` and `domaintune label import`.
"""
