"""Where a data root's great-expectations Data Docs live, and whether they may be served (no web framework here:
the pipeline's run notes use it too)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

URL_PREFIX = "/biomass"  # where the Airflow plugin mounts the observatory app; run notes link into it
DATA_DOCS = Path("gx") / "gx" / "uncommitted" / "data_docs" / "local_site"


def data_docs_root(data_root: str | os.PathLike[str]) -> Path | None:
    """The Data Docs folder of ``data_root``, resolved; None if a folder on the way to it is a symlink.

    The data root itself may be a symlink (an operator's mount point), but GX writes real folders below it: a
    symlink there means someone with write access to the data root pointed the observatory at another folder of
    the host, and serving "its Data Docs" would publish that folder to every UI user.
    """
    here = Path(data_root).resolve()
    for part in DATA_DOCS.parts:
        here = here / part
        if here.is_symlink():
            log.warning("not serving Data Docs: %s is a symlink (to %s)", here, os.readlink(here))
            return None
    return here
