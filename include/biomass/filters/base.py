"""What every document filter is: a name and version, typed parameters, and one batch-wise decision.

A filter sees a whole record batch (or table) at a time so that it can work in bulk (compiled kernels, Arrow
compute); it returns one entry per row: ``None`` keeps the row, a string drops it and says why (the detail that
goes to quarantine next to its ``reason``: the filter's name unless the class names another).
Filters are pure: same rows and params, same decisions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Sequence

import pyarrow as pa
from pydantic import model_validator

from biomass.strict import StrictModel


class FilterError(ValueError):
    """A filter chain or a filter's parameters are invalid."""


class FilterParams(StrictModel):
    """Base of every filter's parameters: strict and frozen, like the rest of the config."""

    # Parameters holding file paths (a str or a list of str): ``load_config`` resolves relative ones against the
    # config file's folder, as it does every other path, so a chain means the same thing from any working dir;
    # here each must name an existing file, checked once for every filter.
    paths: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _path_files_exist(self) -> "FilterParams":
        for field in self.paths:
            value = getattr(self, field)
            for p in [value] if isinstance(value, str) else (value or ()):
                if not Path(p).is_file():
                    raise ValueError(f"{field}: {p} does not exist (a relative path is relative to the config file)")
        return self


class DocumentFilter(ABC):
    """One step of the curation chain. Subclasses set ``name``, ``version`` and ``Params`` and implement
    ``decide``. ``columns`` names the record columns ``decide`` reads (the stage reads only those)."""

    name: ClassVar[str]
    version: ClassVar[int]
    Params: ClassVar[type[FilterParams]] = FilterParams
    columns: ClassVar[tuple[str, ...]] = ("text",)
    # The quarantine reason of the rows it drops, when it should not be the filter's name (decontaminate/1 drops
    # rows as ``contaminated``, the word the issue and reviewers use). Counts and gate bounds stay by name.
    reason: ClassVar[str | None] = None

    def __init__(self, params: FilterParams | dict | None = None) -> None:
        if params is None:
            params = self.Params()
        elif isinstance(params, dict):
            try:
                params = self.Params.model_validate(params)
            except ValueError as exc:
                raise FilterError(f"filter {self.key}: bad parameters: {exc}") from exc
        elif not isinstance(params, self.Params):
            raise FilterError(f"filter {self.key}: parameters must be {self.Params.__name__}, "
                              f"not {type(params).__name__}")
        self.params = params

    @property
    def key(self) -> str:
        """``name/version``, as recorded in manifests: a changed decision rule gets a new version."""
        return f"{self.name}/{self.version}"

    @property
    def drop_reason(self) -> str:
        """What the quarantine's ``reason`` column says for the rows this filter drops."""
        return self.reason or self.name

    @abstractmethod
    def decide(self, batch: pa.RecordBatch | pa.Table) -> Sequence[str | None]:
        """One entry per row of ``batch``: ``None`` keeps it, a string drops it with that detail."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"
