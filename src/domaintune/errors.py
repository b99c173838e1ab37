"""The one exception type a user is meant to see.

Stages raise `UserError` for anything the user can fix (a missing file, a wrong column, too few
rows); the CLI prints its message on one line and exits with status 2, without a traceback.
"""


class UserError(Exception):
    """A problem with the user's input, stated with what to do about it."""


def first_line(error: BaseException, *, limit: int = 160) -> str:
    """The first line of a library's error, for a one-line message; its type when it says nothing."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__
