"""The one exception type a user is meant to see.

Stages raise `UserError` for anything the user can fix (a missing file, a wrong column, too few
rows); the CLI prints its message on one line and exits with status 2, without a traceback.
"""


class UserError(Exception):
    """A problem with the user's input, stated with what to do about it."""
