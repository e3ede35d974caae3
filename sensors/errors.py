"""Exceptions raised while reading declaration files (site, rules, adapters, config).

    Exception
     └── FileError            a file cannot be used; carries path, line and reason
          └── FileErrors      several problems in one file, each with its own line

Bad input on the hot path (a payload) is never an exception: adapters return a
`sensors.reading.Rejection` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, at one place."""

    line: int | None
    where: str
    reason: str

    def render(self, path: Path | str) -> str:
        place = f"{path}:{self.line}" if self.line is not None else f"{path}"
        where = f" {self.where}:" if self.where else ""
        return f"{place}:{where} {self.reason}"


class FileError(Exception):
    """A declaration file that cannot be used: the message is `path:line: where: reason`."""

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.path = Path(path)
        self.problems = problems
        super().__init__("\n".join(p.render(path) for p in problems))

    def __reduce__(self) -> tuple[type[FileError], tuple[Path, list[Problem]]]:
        # crosses process boundaries (a big site file is read in a child process)
        return (FileError, (self.path, self.problems))
