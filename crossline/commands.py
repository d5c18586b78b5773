"""What every management command shares: options given once, progress bars that redraw."""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from django.core.management.base import OutputWrapper
from tqdm import tqdm


class Once(argparse.Action):
    """Store an option's value; refuse the option given twice (argparse silently keeps the last)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in given:
            raise argparse.ArgumentError(self, "given more than once; give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def progress_bar(stream: OutputWrapper | TextIO, *, enabled: bool = True, **options: Any) -> tqdm:
    """A tqdm bar on a command's stream: redrawn in place on a terminal, silent elsewhere."""
    # OutputWrapper ends every write with a newline, which turns each redraw into a new line:
    # tqdm writes to the stream underneath.
    raw = stream._out if isinstance(stream, OutputWrapper) else stream
    is_terminal = bool(getattr(raw, "isatty", lambda: False)())
    if terminal_width(raw) > 0:
        options.setdefault("dynamic_ncols", True)  # follows the window as it is resized
    else:
        options.setdefault("ncols", 80)  # a terminal that does not say its size
    return tqdm(file=raw, disable=not (enabled and is_terminal), **options)


def terminal_width(stream: TextIO) -> int:
    """The columns of the terminal behind `stream`; 0 when unknown."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0
