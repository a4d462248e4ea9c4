"""Ed25519 and watermark keys from configuration: a key file, an environment variable, or a run-time string.

Accepted forms for a private key: PEM (PKCS8, as ``biomass keygen`` writes) or base64 of the 32-byte raw
seed. Public keys: PEM (SubjectPublicKeyInfo), base64 of the 32 raw bytes, or a path to a file holding either.
Nothing here ever prints or logs key material; a key is named by its id (a hash of the public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from biomass.config.provenance import ProvenanceConfig


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - cryptography is a core dependency
        raise ImportError("provenance signing needs the 'cryptography' package") from exc
    return serialization, ed25519


def parse_private_key(value: str | bytes):
    serialization, ed25519 = _crypto()
    raw = value.encode() if isinstance(value, str) else value
    if b"BEGIN" in raw:
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError("signing key is not an Ed25519 private key")
        return key
    try:
        seed = base64.b64decode(raw.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("signing key is neither PEM nor base64") from exc
    if len(seed) != 32:
        raise ValueError("base64 signing key must decode to 32 bytes (an Ed25519 seed)")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def parse_public_key(value: str | bytes):
    serialization, ed25519 = _crypto()
    raw = value.encode() if isinstance(value, str) else value
    if b"BEGIN" not in raw and len(raw) < 200 and Path(raw.decode(errors="ignore").strip()).is_file():
        raw = Path(raw.decode().strip()).read_bytes()
    if b"BEGIN" in raw:
        key = serialization.load_pem_public_key(raw)
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("trusted key is not an Ed25519 public key")
        return key
    data = base64.b64decode(raw.strip(), validate=True)
    if len(data) != 32:
        raise ValueError("base64 public key must decode to 32 bytes")
    return ed25519.Ed25519PublicKey.from_public_bytes(data)


def public_raw(public_key) -> bytes:
    serialization, _ = _crypto()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key) -> str:
    return hashlib.sha256(public_raw(public_key)).hexdigest()[:16]


def load_signing_key(config: ProvenanceConfig):
    """The configured private key: run-time string, else key file, else env var; None when none is set."""
    if config.signing_key is not None:
        return parse_private_key(config.signing_key.get_secret_value())
    if config.signing_key_file:
        path = Path(config.signing_key_file)
        if not path.is_file():
            raise FileNotFoundError(f"signing key file {path} does not exist (make one: biomass keygen --out ...)")
        return parse_private_key(path.read_bytes())
    env = os.environ.get(config.signing_key_env)
    if env:
        return parse_private_key(env)
    return None


def require_signing_key(config: ProvenanceConfig):
    key = load_signing_key(config)
    if key is None:
        raise ValueError(f"no signing key: set ${config.signing_key_env}, provenance.signing_key_file, or pass "
                         "one with ProvenanceConfig.with_secrets (create one with `biomass keygen --out FILE`)")
    return key


def trusted_keys(config: ProvenanceConfig) -> dict[bytes, str]:
    """Raw public key bytes -> key id, for every trusted key plus the public half of our own signing key."""
    out: dict[bytes, str] = {}
    for value in config.trusted_public_keys:
        pub = parse_public_key(value)
        out[public_raw(pub)] = key_id(pub)
    own = load_signing_key(config)
    if own is not None:
        pub = own.public_key()
        out[public_raw(pub)] = key_id(pub)
    return out


def load_watermark_key(config: ProvenanceConfig) -> bytes | None:
    """Watermark key: run-time string, key file, env var; else derived from the signing key; else None."""
    wm = config.watermark
    if wm.key is not None:
        return wm.key.get_secret_value().encode()
    if wm.key_file:
        return Path(wm.key_file).read_bytes().strip()
    env = os.environ.get(wm.key_env)
    if env:
        return env.encode()
    signing = load_signing_key(config)
    if signing is None:
        return None
    serialization, _ = _crypto()
    seed = signing.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return hashlib.sha256(b"biomass-watermark-from-signing-key\x00" + seed).digest()


def generate_keypair() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a fresh Ed25519 key."""
    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem


def write_keypair(path: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write KEYFILE (mode 0600) and KEYFILE.pub; refuse to overwrite an existing key."""
    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} exists; refusing to overwrite a key")
    private_pem, public_pem = generate_keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    pub_path = path.with_name(path.name + ".pub")
    pub_path.write_bytes(public_pem)
    return path, pub_path, key_id(parse_public_key(public_pem))
