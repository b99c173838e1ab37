"""What torchrun or accelerate launch tell each process: how many there are and which it is.

Kept free of heavy imports, so that the command line checks these before it loads anything else.
"""

from __future__ import annotations

import os

from domaintune.errors import UserError


def launcher_count(name: str, *, default: int, minimum: int) -> int:
    """A whole number that torchrun or accelerate launch sets in the environment.

    A value set by hand that is not one would otherwise end in a ValueError traceback, deep in
    whichever library reads it first.
    """
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value: int | None = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise UserError(
            f"the environment variable {name} is {text!r}, not a whole number of at least "
            f"{minimum}: unset it (torchrun and accelerate launch set it themselves)"
        )
    return value


def world_size() -> int:
    """Processes training together (1 unless launched by torchrun or accelerate launch)."""
    return launcher_count("WORLD_SIZE", default=1, minimum=1)


def process_rank() -> int:
    """This process's place among them (0 for the first, or when launched alone).

    WORLD_SIZE is checked too, so that a bad value of either stops a command before it writes.
    """
    world_size()
    return launcher_count("RANK", default=0, minimum=0)
