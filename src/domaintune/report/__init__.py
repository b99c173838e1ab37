"""Build the written report from the run directory alone."""
