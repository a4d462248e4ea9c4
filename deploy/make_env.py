"""Print a fresh `.env` for docker compose: every secret newly generated, nothing copied from the repo.

`make env` writes its output to `.env` (mode 600) and refuses to overwrite an existing one, because changing the
Fernet key would make every stored connection password unreadable. Stdlib only: runs before any venv exists.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def fernet_key() -> str:
    """The format cryptography.fernet.Fernet.generate_key() returns: urlsafe base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def generated() -> dict[str, str]:
    uid = os.getuid() if hasattr(os, "getuid") else 50000
    return {
        # Containers write logs and the data root as this user; root on the host would make files root-owned.
        "AIRFLOW_UID": str(uid if uid != 0 else 50000),
        "POSTGRES_PASSWORD": secrets.token_hex(24),  # hex: safe inside the connection URL without quoting
        "REDIS_PASSWORD": secrets.token_hex(24),
        "AIRFLOW__CORE__FERNET_KEY": fernet_key(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(48),
        "_AIRFLOW_WWW_USER_PASSWORD": secrets.token_urlsafe(18),
        # An Ed25519 private key is any 32-byte seed; biomass reads it as standard base64.
        "AIRFLOW_VAR_BIOMASS_SIGNING_PRIVATE_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


def render(example: str, values: dict[str, str]) -> str:
    """The example file with every `KEY=` line whose key we generate filled in; comments and order kept."""
    out, seen = [], set()
    for line in example.splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and "=" in line and key in values:
            out.append(f"{key}={values[key]}")
            seen.add(key)
        else:
            out.append(line)
    missing = set(values) - seen
    if missing:
        raise SystemExit(f".env.example lacks {sorted(missing)}; add them there first")
    return "\n".join(out) + "\n"


def main() -> int:
    sys.stdout.write(render(EXAMPLE.read_text(), generated()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
