"""PII placeholders as a row transform of the filter stage: the text rewritten, and the record kept true to it.

A rewritten row gets, besides its new text:
- ``content_sha256`` of the new text (``biomass verify-generation`` checks every record's hash);
- in its provenance JSON, ``pii``: the key of this step, the count replaced per kind and the ``original_sha256``
  (its ``doc_id``, made from the original content at birth, stays: it names the document, not the bytes);
- if it carries a signed C2PA manifest that verifies against the old text (trusted key, good signature, matching
  hash), a new manifest signed with the run's signing key: the same claims plus a ``c2pa.edited`` action saying
  what was replaced and the previous hash, and the new content hash. A manifest that did not verify is left as it
  was: re-signing it would launder it. A verified manifest with no signing key to re-sign is an error.
Rows without PII are not touched (their bytes, hash and provenance stay as they were).

The keyed watermark scores (previous word, word) pairs, so a placeholder changes at most the pairs around it:
on the long texts the tagger judges a few replaced tokens lower the z-score by little (tested). Likewise the
fingerprint archive holds a synthetic text's MinHash as born: a scrubbed re-post differs by a few shingles, so
its estimated Jaccard drops slightly (well above ``fingerprint_threshold`` unless the text is mostly PII).
Rows the chain drops are not rewritten: the quarantine keeps (the first 2,000 characters of) what came in.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.filters.pii import KINDS, VERSION, PIIParams, PIIScrubber
from biomass.config.provenance import ProvenanceConfig
from biomass.schema import canonical_json, sha256_text

NAME = "pii"
EDIT_AGENT = {"name": "biomass.filters.pii", "version": str(VERSION)}


class PIIRowTransform:
    """The filter stage's PII step over a record table (``RowTransform``). ``totals`` adds up what it did:
    rows rewritten, matches replaced per kind, manifests re-signed."""

    name = NAME
    key = f"{NAME}/{VERSION}"

    def __init__(self, params: PIIParams | dict | None = None, provenance: ProvenanceConfig | None = None) -> None:
        self.scrubber = PIIScrubber(params)
        self.provenance = provenance or ProvenanceConfig()
        self.totals: dict[str, int] = {"rows": 0, **{k: 0 for k in self.scrubber.kinds}, "resigned": 0}
        self._trusted: dict[bytes, str] | None = None
        self._signing_key = None

    def __repr__(self) -> str:
        return f"PIIRowTransform({self.scrubber.params!r})"

    def __call__(self, table: pa.Table) -> pa.Table:
        text, counts = self.scrubber.scrub_arrow(table.column("text"))
        per_row = np.sum([counts[k] for k in self.scrubber.kinds], axis=0) if counts else np.zeros(0)
        rows = np.flatnonzero(per_row)
        if not len(rows):
            return table
        take = pa.array(rows)
        old_texts = table.column("text").take(take).to_pylist()
        new_texts = text.take(take).to_pylist()
        provs = table.column("provenance").take(take).to_pylist()
        doc_ids = table.column("doc_id").take(take).to_pylist()
        hashes, new_provs = [], []
        for j, row in enumerate(rows):
            replaced = {k: int(counts[k][row]) for k in self.scrubber.kinds}
            new_hash = sha256_text(new_texts[j])
            hashes.append(new_hash)
            new_provs.append(self._record_provenance(provs[j], replaced, old_texts[j], new_hash, doc_ids[j]))
            self.totals["rows"] += 1
            for k, c in replaced.items():
                self.totals[k] += c
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[rows] = True
        mask = pa.array(mask)

        def put(name: str, values: list[str], column=None) -> None:
            nonlocal table
            column = table.column(name).combine_chunks() if column is None else column
            i = table.schema.get_field_index(name)
            replaced = pc.replace_with_mask(column, mask, pa.array(values, column.type))
            table = table.set_column(i, table.schema.field(i), replaced)

        i = table.schema.get_field_index("text")
        table = table.set_column(i, table.schema.field(i), text)
        put("content_sha256", hashes)
        put("provenance", new_provs)
        return table

    def _record_provenance(self, prov: str | None, replaced: dict[str, int], old_text: str, new_hash: str,
                    doc_id: str) -> str:
        data: Any = json.loads(prov) if prov else {}
        if not isinstance(data, dict):
            raise ValueError(f"record {doc_id}: provenance is not a JSON object, cannot record its PII counts")
        data["pii"] = {"key": self.key, "original_sha256": sha256_text(old_text), **replaced}
        if "c2pa" in data:
            data["c2pa"] = self._resign(data["c2pa"], old_text, new_hash, replaced, doc_id)
        return canonical_json(data)

    def _resign(self, signed: Any, old_text: str, new_hash: str, replaced: dict[str, int], doc_id: str) -> Any:
        from biomass.provenance.keys import trusted_keys
        from biomass.provenance.signing import sign_manifest, verify_signed

        if self._trusted is None:
            self._trusted = trusted_keys(self.provenance)
        if not verify_signed(signed, old_text, self._trusted, doc_id).ok:
            return signed
        if self._signing_key is None:
            from biomass.provenance.keys import require_signing_key

            try:
                self._signing_key = require_signing_key(self.provenance)
            except ValueError as exc:
                raise ValueError(f"PII replaced in signed synthetic record {doc_id}, but its manifest cannot be "
                                 f"re-signed: {exc}") from exc
        self.totals["resigned"] += 1
        return sign_manifest(edited_manifest(signed["manifest"], new_hash, replaced), self._signing_key)


def edited_manifest(manifest: dict[str, Any], new_hash: str, replaced: dict[str, int]) -> dict[str, Any]:
    """``manifest`` after a PII edit: a ``c2pa.edited`` action (what was replaced, the previous hash) appended to
    its actions and the content hash set to ``new_hash``; every other claim unchanged."""
    out = copy.deepcopy(manifest)
    previous = None
    for assertion in out.get("assertions", []):
        if assertion.get("label") == "c2pa.hash.data":
            previous = assertion["data"].get("hash")
            assertion["data"]["hash"] = new_hash
    edit = {"action": "c2pa.edited", "softwareAgent": EDIT_AGENT,
            "parameters": {"description": "PII replaced by placeholders", "replaced": replaced,
                           "previous_hash": previous}}
    for assertion in out.get("assertions", []):
        if assertion.get("label") == "c2pa.actions":
            assertion["data"].setdefault("actions", []).append(edit)
            break
    else:
        out.setdefault("assertions", []).append({"label": "c2pa.actions", "data": {"actions": [edit]}})
    return out


__all__ = ["PIIRowTransform", "edited_manifest", "KINDS"]
