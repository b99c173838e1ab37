"""The tests of domaintune; this runs before conftest.py and before numpy is first imported.

One OpenBLAS thread, for this process and the CLI processes the tests start: on a two-core machine
that other work shares, two OpenBLAS threads spin against each other, and the label audit's
logistic regressions took 20 s instead of 1.5 s (tests/data/test_audit.py, measured). A value
set outside the tests wins.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
