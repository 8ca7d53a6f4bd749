"""What the copy engines report progress to (the CLI passes its progress bar)."""

from typing import Protocol


class Steps(Protocol):
    """A progress sink: ``chatkit_backend.cli.output.Steps`` is one."""

    def advance(self, amount: int = 1) -> None: ...

    def total(self, total: int | None) -> None: ...

    def describe(self, text: str) -> None: ...


class NoSteps:
    """Progress that goes nowhere (library use, tests)."""

    def advance(self, amount: int = 1) -> None:
        return None

    def total(self, total: int | None) -> None:
        return None

    def describe(self, text: str) -> None:
        return None
