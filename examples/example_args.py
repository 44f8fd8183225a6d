"""Command-line helpers shared by the Python examples: their options take
numbers as the C examples' getopt parsing does."""

from __future__ import annotations

import argparse
from typing import Callable

# the largest C int: the bound of options the library takes as an int
INT_MAX = 2**31 - 1


def int_arg(lo: int, hi: int | None = None, base: int = 0) -> Callable[[str], int]:
    """An argparse type: an int in lo..hi (no upper bound when hi is None),
    in ``base`` (0: decimal, or 0x.. hex, as the C examples take it)."""

    def parse(text: str) -> int:
        try:
            value = int(text, base)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"out of range ({bound}): {text}")
        return value

    return parse
