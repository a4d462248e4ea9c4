"""The filter registry: names, versions, parameters, and the errors a user sees for a bad chain."""

import pyarrow as pa
import pytest

from biomass.filters import DocumentFilter, FilterError, FilterParams, UnknownFilter, build_chain, known_filters
from biomass.filters.registry import register


class _MinLenParams(FilterParams):
    min_chars: int = 5


@register
class _MinLen(DocumentFilter):
    name = "test_min_len"
    version = 2
    Params = _MinLenParams

    def decide(self, batch):
        return [None if len(t) >= self.params.min_chars else f"{len(t)} < {self.params.min_chars} chars"
                for t in batch.column("text").to_pylist()]


def test_chain_builds_with_params_and_decides_per_row():
    (f,) = build_chain([{"name": "test_min_len/2", "params": {"min_chars": 3}}])
    assert f.key == "test_min_len/2"
    assert f.decide(pa.table({"text": ["ab", "abc"]})) == ["2 < 3 chars", None]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownFilter) as err:
        build_chain(["no_such_filter"])
    assert "no_such_filter" in str(err.value) and "test_min_len" in str(err.value)
    assert "test_min_len" in known_filters()


def test_a_version_the_code_does_not_implement_is_refused():
    with pytest.raises(UnknownFilter, match="version 2, not 1"):
        build_chain(["test_min_len/1"])
    with pytest.raises(UnknownFilter, match="integer"):
        build_chain(["test_min_len/x"])


def test_bad_params_and_duplicates_are_errors():
    with pytest.raises(FilterError, match="bad parameters"):
        build_chain([{"name": "test_min_len", "params": {"min_chars": "many"}}])
    with pytest.raises(FilterError, match="bad parameters"):
        build_chain([{"name": "test_min_len", "params": {"typo": 1}}])
    with pytest.raises(FilterError, match="twice"):
        build_chain(["test_min_len", "test_min_len"])
    with pytest.raises(FilterError, match="spec"):
        build_chain([{"nam": "test_min_len"}])


def test_a_taken_name_cannot_be_registered_again():
    class Other(_MinLen):
        pass

    with pytest.raises(FilterError, match="already registered"):
        register(Other)
