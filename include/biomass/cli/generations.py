"""`biomass generations`: list the published generations of a data root."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    g = subparsers.add_parser("generations", help="list the published generations of a data root")
    g.add_argument("--config")
    g.add_argument("--data-root")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_cmd_generations)


def _cmd_generations(args) -> int:
    from biomass.config import load_config
    from biomass.report import generations_table
    from biomass.storage import GenerationStore

    root = args.data_root or load_config(args.config).data_root
    store = GenerationStore(root)
    if args.json:
        print(json.dumps([m.as_dict() for _, m in store.iter_published()], indent=2, sort_keys=True))   # as stored
    else:
        print(generations_table(store))
    return 0
