"""C2PA-style provenance manifests for synthetic text, signed with Ed25519.

The manifest follows C2PA's shape (claim generator, ``c2pa.actions`` with ``c2pa.created`` and the IPTC
"trainedAlgorithmicMedia" source type, ``c2pa.ingredients``, ``c2pa.hash.data``), serialised as canonical JSON
and signed as bytes. It is not a binary C2PA/JUMBF container: plain text has no standard place to embed one.
Verification trusts only configured public keys; the key embedded in a record is a hint, never a credential.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from biomass.provenance.keys import key_id, public_raw
from biomass.schema import canonical_json, sha256_text

ALG = "Ed25519"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def build_manifest(*, doc_id: str, content_sha256: str, generator_id: str, generator_version: str,
                   created: str, parent_generation: int | None, generation: int, ingredients: dict[str, Any],
                   parameters: dict[str, Any]) -> dict[str, Any]:
    """Claims: what made it (generator), when (created), from what (ingredients/parent), and the content hash."""
    return {
        "claim_generator": f"{generator_id}/{generator_version}",
        "format": "text/plain; charset=utf-8",
        "instance_id": f"biomass:doc:{doc_id}",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created",
                "when": created,
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": {"name": generator_id, "version": generator_version},
                "parameters": parameters,
            }]}},
            {"label": "c2pa.ingredients", "data": {
                "parent_generation": parent_generation, "generation": generation, **ingredients}},
            {"label": "c2pa.hash.data", "data": {"alg": "sha256", "hash": content_sha256}},
        ],
    }


def sign_manifest(manifest: dict[str, Any], private_key) -> dict[str, Any]:
    signature = private_key.sign(canonical_json(manifest).encode("utf-8"))
    pub = private_key.public_key()
    return {
        "manifest": manifest,
        "alg": ALG,
        "key_id": key_id(pub),
        "public_key": base64.b64encode(public_raw(pub)).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # "verified" or why not
    key_id: str | None = None


def _content_hash(manifest: dict[str, Any]) -> str | None:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == "c2pa.hash.data":
            return assertion.get("data", {}).get("hash")
    return None


def verify_signed(signed: Any, text: str, trusted: dict[bytes, str], doc_id: str | None = None) -> Verdict:
    """Check a signed manifest against the text it claims: trusted key, valid signature, matching hash."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if not isinstance(signed, dict) or "manifest" not in signed:
        return Verdict(False, "no_manifest")
    try:
        if signed.get("alg") != ALG:
            return Verdict(False, "unsupported_alg")
        pub_raw = base64.b64decode(signed["public_key"], validate=True)
        signature = base64.b64decode(signed["signature"], validate=True)
        manifest = signed["manifest"]
        if not isinstance(manifest, dict):
            return Verdict(False, "malformed")
    except (KeyError, TypeError, ValueError):
        return Verdict(False, "malformed")
    if pub_raw not in trusted:
        return Verdict(False, "untrusted_key")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(pub_raw).verify(signature, canonical_json(manifest).encode())
    except (InvalidSignature, ValueError):
        return Verdict(False, "bad_signature", trusted[pub_raw])
    if _content_hash(manifest) != sha256_text(text):
        return Verdict(False, "content_mismatch", trusted[pub_raw])
    if doc_id is not None and manifest.get("instance_id") != f"biomass:doc:{doc_id}":
        return Verdict(False, "doc_id_mismatch", trusted[pub_raw])
    return Verdict(True, "verified", trusted[pub_raw])


def verify_provenance(provenance: str | None, text: str, trusted: dict[bytes, str],
                      doc_id: str | None = None) -> Verdict:
    """Verify the ``c2pa`` block of a record's provenance JSON."""
    if not provenance:
        return Verdict(False, "no_manifest")
    try:
        data = json.loads(provenance)
    except (TypeError, ValueError):
        return Verdict(False, "malformed")
    if not isinstance(data, dict) or "c2pa" not in data:
        return Verdict(False, "no_manifest")
    return verify_signed(data["c2pa"], text, trusted, doc_id)
