"""What every management command shares: options given once, progress bars that redraw."""

from __future__ import annotations

import argparse
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
    return tqdm(file=raw, disable=not (enabled and is_terminal), dynamic_ncols=True, **options)
