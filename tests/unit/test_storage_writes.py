"""Every atomic write and rename of the package goes through ``biomass.storage`` (the commit protocol an
object-store data root would replace): no other module renames files or writes a path's bytes directly."""

from __future__ import annotations

import ast
from pathlib import Path

import biomass

PACKAGE = Path(biomass.__file__).parent
OWNER = PACKAGE / "storage.py"
RENAMES = {("os", "replace"), ("os", "rename"), ("os", "renames"), ("shutil", "move")}
DIRECT_WRITES = {"write_text", "write_bytes"}
# Writes that are not data-root files, each with its reason.
ALLOWED_DIRECT = {
    "profiling.py": "writes /proc/self/clear_refs to reset the kernel's peak-RSS counter",
    "provenance/keys.py": "a signing key's public half, next to its private key (the user's key folder)",
    "lm/model_store.py": "the files of a model folder built aside, then swapped in whole by replace_dir",
}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func
        if isinstance(attr.value, ast.Name) and (attr.value.id, attr.attr) in RENAMES:
            found.append(f"{attr.value.id}.{attr.attr} at line {node.lineno}")
        elif attr.attr in DIRECT_WRITES:
            found.append(f".{attr.attr}() at line {node.lineno}")
        elif attr.attr == "rename" and not node.keywords and len(node.args) == 1:
            found.append(f".rename() at line {node.lineno}")
    return found


def test_only_storage_renames_or_writes_files_directly():
    offences = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if path == OWNER:
            continue
        found = _offences(path)
        if rel in ALLOWED_DIRECT:
            found = [f for f in found if not f.startswith(".write_")]
        if found:
            offences[rel] = found
    assert not offences, ("write through biomass.storage (write_file_atomic, write_bytes_atomic, "
                          f"write_json_atomic, move, replace_dir) instead: {offences}")


def test_the_check_sees_a_rename_and_a_direct_write(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom pathlib import Path\nos.replace('a', 'b')\nPath('x').write_text('y')\n"
                   "Path('x').rename('z')\n")
    assert _offences(bad) == ["os.replace at line 3", ".write_text() at line 4", ".rename() at line 5"]
