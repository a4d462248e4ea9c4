"""Document curation filters: an ordered chain of named, versioned filters, each keeping a row or dropping it
with a reason (the filter's name) and a detail.

``base`` is the contract every filter meets, ``registry`` maps names to filters (an unknown name lists the known
ones). Filters import lazily, so loading the registry costs nothing until a chain is built.
"""

from biomass.filters.base import DocumentFilter, FilterError, FilterParams
from biomass.filters.registry import UnknownFilter, build_chain, filter_class, known_filters

__all__ = ["DocumentFilter", "FilterParams", "FilterError", "UnknownFilter", "build_chain", "filter_class",
           "known_filters"]
