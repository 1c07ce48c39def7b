"""How a stage reports progress without knowing who draws it.

A stage that does something slow takes a `Progress`: it calls `progress(description, total)`
once per pass over its items and gets back an `Advance`, which it calls with the number of items
done after each step. The CLI passes one that draws rich progress bars; tests pass one that
records; the default draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")

Advance = Callable[[int], None]


class Progress(Protocol):
    def __call__(self, description: str, total: int) -> Advance: ...


def no_progress(description: str, total: int) -> Advance:
    return lambda n=1: None


def track(items: Iterable[T], progress: Progress, description: str, total: int) -> Iterator[T]:
    """`items`, advancing one bar of `total` by one after each."""
    advance = progress(description, total)
    for item in items:
        yield item
        advance(1)
