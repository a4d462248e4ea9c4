"""The ``biomass`` command's static table: ``--help`` imports no command module, and the table matches them."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from biomass.cli import COMMANDS, build_parser

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pyarrow", "pandas", "numpy", "pydantic", "yaml", "great_expectations", "pyspark", "airflow",
         "cryptography")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "include"),
                                                                       os.environ.get("PYTHONPATH")]))}


def _modules_after(argv: list[str]) -> tuple[int, str, set[str]]:
    """Run ``biomass ARGV`` in a fresh interpreter; its exit code, stdout and the top-level modules it loaded."""
    probe = ("import json, sys\nfrom biomass.cli import main\ncode = 0\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as exc:\n    code = exc.code\n"
             "print(json.dumps({'code': code, 'mods': sorted({m.split('.')[0] for m in sys.modules})}))")
    proc = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=_env(),
                          timeout=120)
    *out, last = proc.stdout.strip().splitlines()
    got = json.loads(last)
    return got["code"], "\n".join(out), set(got["mods"])


def _registered(module_name: str) -> tuple[dict[str, argparse.ArgumentParser], dict[str, str]]:
    sub = argparse.ArgumentParser(prog="biomass").add_subparsers(dest="command")
    importlib.import_module(module_name).register(sub)
    return dict(sub.choices), {a.dest: a.help for a in sub._choices_actions}


def test_top_level_help_lists_every_command_without_importing_heavy_modules():
    code, out, mods = _modules_after(["--help"])
    assert code == 0
    assert all(f"    {name}" in out for name in COMMANDS)
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))
    assert not any(m.startswith("biomass.") for m in mods if m != "biomass")


def test_a_command_help_imports_its_own_module_only():
    code, out, mods = _modules_after(["dedup", "--help"])
    assert code == 0 and "--threshold" in out and "usage: biomass dedup" in out
    assert not mods & {"pandas", "great_expectations", "pyspark", "airflow"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_registers_with_the_listed_help(name):
    module_name, help_text = COMMANDS[name]
    parsers, helps = _registered(module_name)
    assert name in parsers, f"{module_name}.register() does not add {name!r}"
    assert helps[name] == help_text, "update the one-line help in biomass.cli.COMMANDS"
    assert parsers[name].get_default("func") is not None


def test_no_command_module_registers_a_command_the_table_does_not_list():
    for module_name in set(m for m, _ in COMMANDS.values()):
        parsers, _ = _registered(module_name)
        listed = {n for n, (m, _) in COMMANDS.items() if m == module_name}
        assert set(parsers) == listed, module_name


def test_every_command_has_its_own_file_in_the_cli_package_named_after_it():
    """One file per command: ``run-year`` is ``biomass.cli.run_year``, and no file of the package goes unlisted
    (helpers shared by commands start with an underscore)."""
    assert {name: module for name, (module, _) in COMMANDS.items()} == {
        name: f"biomass.cli.{name.replace('-', '_')}" for name in COMMANDS}
    files = {p.stem for p in (REPO / "include" / "biomass" / "cli").glob("*.py") if not p.stem.startswith("_")}
    assert files == {name.replace("-", "_") for name in COMMANDS}


@pytest.mark.parametrize("argv", [["-v", "retire", "2021", "--reason", "x"], ["verify", "x.parquet"],
                                  ["run-year", "2021", "--seed", "3"]])
def test_the_parser_for_a_command_is_the_real_one(argv):
    args = build_parser(argv).parse_args(argv)
    assert args.command == next(a for a in argv if not a.startswith("-"))
    assert callable(args.func)


def test_unknown_command_and_missing_command_are_usage_errors(capsys):
    for argv in (["bogus"], []):
        with pytest.raises(SystemExit) as err:
            build_parser(argv)
        assert err.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_commands_run_on_arrows_jemalloc_pool_unless_the_environment_names_one(tmp_path):
    """Arrow reads ARROW_DEFAULT_MEMORY_POOL at its first allocation, so the CLI must set it before any command
    imports pyarrow; an operator's own choice wins."""
    import os
    import subprocess
    import sys

    probe = ("import sys; from biomass import cli; cli.COMMANDS['pool'] = ('pool_probe', 'probe'); "
             "sys.exit(cli.main(['pool']))")
    (tmp_path / "pool_probe.py").write_text(
        "import pyarrow as pa\n"
        "def register(sub):\n"
        "    p = sub.add_parser('pool', help='probe')\n"
        "    p.set_defaults(func=lambda args: print(pa.default_memory_pool().backend_name))\n")
    base = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    base["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    got = subprocess.run([sys.executable, "-c", probe], env=base, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "jemalloc"
    mine = subprocess.run([sys.executable, "-c", probe], env={**base, "ARROW_DEFAULT_MEMORY_POOL": "system"},
                          capture_output=True, text=True, check=True)
    assert mine.stdout.strip() == "system"
