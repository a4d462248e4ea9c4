"""What an operator sees when a command fails: one line saying what, where and on which path, and an exit code
that tells a full disk from a failed gate from a bug (README "Exit codes")."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from biomass import exitcodes
from biomass.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "crawl" / "crawl-2021.warc.gz"
needs_dev_full = pytest.mark.skipif(not (os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode)),
                                    reason="needs the /dev/full character device")


def _full_disk_at(out: Path) -> None:
    """Make the write of ``out`` hit a real ENOSPC, without root: its temp file is a symlink to /dev/full.

    (Never write to /dev/full itself: pyarrow deletes a target it failed to write, and a root test would delete
    the device. Here only the symlink is deleted.)"""
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / f".{out.name}.tmp").symlink_to("/dev/full")


def _docs(tmp_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"doc_id": ["a", "b"], "text": ["one two three four", "five six seven eight"]}), path)
    return path


def _scrape(out: Path) -> list[str]:
    return ["scrape", str(SAMPLE), "--out", str(out), "--quarantine", str(out.with_name("q.parquet")),
            "--year", "2021"]


@needs_dev_full
def test_a_full_disk_is_an_io_error_naming_errno_path_and_step(tmp_path, capsys):
    out = tmp_path / "o.parquet"
    _full_disk_at(out)
    assert main(_scrape(out)) == exitcodes.IO_ERROR
    err = capsys.readouterr().err
    assert err.startswith("biomass scrape: I/O error: ENOSPC (No space left on device)")
    assert f"on {out.parent / '.o.parquet.tmp'}" in err and "ParquetStream" in err and "free space" in err
    assert "Traceback" not in err and not out.exists()


@needs_dev_full
def test_the_installed_command_exits_with_the_io_code_and_no_traceback(tmp_path):
    out = tmp_path / "o.parquet"
    _full_disk_at(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "include"),
                                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "biomass.cli", *_scrape(out)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == exitcodes.IO_ERROR == 4, proc.stderr[-2000:]
    assert "ENOSPC" in proc.stderr and str(out.parent) in proc.stderr and "Traceback" not in proc.stderr


def test_a_permission_error_at_a_plain_write_names_errno_and_path(tmp_path, monkeypatch, capsys):
    # Root ignores file modes, so EACCES is raised where the stage's write_parquet opens its temp file.
    import biomass.storage as storage

    def denied(where, *args, **kw):   # the dedup output's writer opens its temp file
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(where))

    inp = _docs(tmp_path)
    monkeypatch.setattr(storage.pq, "ParquetWriter", denied)
    assert main(["dedup", str(inp), "--out", str(tmp_path / "kept.parquet")]) == exitcodes.IO_ERROR
    err = capsys.readouterr().err
    assert "I/O error: EACCES (Permission denied)" in err and str(tmp_path / ".kept.parquet.tmp") in err
    assert "while in " in err and "_BatchSink.__init__ (biomass.dedup.files" in err and "owner and mode" in err


def test_verbose_adds_the_traceback(tmp_path, monkeypatch, capsys):
    import biomass.storage as storage

    def read_only(where, *args, **kw):
        raise OSError(errno.EROFS, "pyarrow's wording")  # no filename: naming_the_file adds it

    inp = _docs(tmp_path)
    monkeypatch.setattr(storage.pq, "ParquetWriter", read_only)
    assert main(["-v", "dedup", str(inp), "--out", str(tmp_path / "k.parquet")]) == exitcodes.IO_ERROR
    err = capsys.readouterr().err
    assert "EROFS (Read-only file system)" in err and str(tmp_path / ".k.parquet.tmp") in err
    assert "read-only" in err and "Traceback" in err


def test_an_unexpected_error_is_internal_with_a_one_line_summary_and_the_hint(monkeypatch, capsys):
    import biomass.cli.generations as generations_cli

    def boom(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(generations_cli, "_cmd_generations", boom)
    assert main(["generations", "--data-root", "x"]) == exitcodes.INTERNAL
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "biomass generations: internal error: ZeroDivisionError: division by zero"
    assert "rerun with -v" in err[1] and len(err) == 2


def test_bad_input_keeps_code_2(tmp_path, capsys):
    assert main(["scrape", str(tmp_path / "nope"), "--out", str(tmp_path / "o.parquet"), "--year", "2021"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_failed_gate_in_run_year_has_its_own_code(tmp_path, capsys):
    root = tmp_path / "data"
    code = main(["run-year", "2021", "--data-root", str(root), "--scrape-input", str(SAMPLE),
                 "--gate-overrides", '{"scrape": {"min_rows": 100000}}'])
    assert code == exitcodes.CHECK_FAILED == 3
    assert "gate 'scrape' FAILED" in capsys.readouterr().out
    assert not (root / "generations" / "2021").exists()


class _Locked(Exception):
    exit_code = 6


class IntegrityError(ValueError):  # as another module may define it: matched by name, before ValueError
    pass


class RunLocked(RuntimeError):
    pass


@pytest.mark.parametrize("exc, code", [
    (_Locked("held"), exitcodes.LOCKED),
    (IntegrityError("sha256 mismatch"), exitcodes.INTEGRITY),
    (RunLocked("2021 is being built by pid 7"), exitcodes.LOCKED),
    (OSError(errno.ENOSPC, "No space left on device", "/x"), exitcodes.IO_ERROR),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"), exitcodes.USAGE),
    (ValueError("bad"), exitcodes.USAGE),
    (KeyError("unknown gate"), exitcodes.USAGE),
    (RuntimeError("?"), exitcodes.INTERNAL),
])
def test_exception_classes_map_to_codes(exc, code):
    assert exitcodes.exit_code_for(exc) == code


def test_refused_publish_and_gate_failure_carry_the_check_failed_code():
    from biomass.gates.runner import GateFailed
    from biomass.pipeline.publishing import PublishRefused

    assert GateFailed.exit_code == PublishRefused.exit_code == exitcodes.CHECK_FAILED


def test_codes_are_distinct_and_documented_in_the_readme():
    codes = [exitcodes.OK, exitcodes.INTERNAL, exitcodes.USAGE, exitcodes.CHECK_FAILED, exitcodes.IO_ERROR,
             exitcodes.INTEGRITY, exitcodes.LOCKED, exitcodes.REVIEW_PENDING, exitcodes.UNAVAILABLE,
             exitcodes.INTERRUPTED]
    assert len(set(codes)) == len(codes) == len(exitcodes.MEANING)
    readme = (REPO / "README.md").read_text()
    for code in codes:
        assert f"| {code} |" in readme, f"exit code {code} is missing from the README's table"


def test_an_unreachable_generator_server_exits_unavailable_with_no_output(tmp_path, capsys, monkeypatch):
    """The openai backend pointed at a loopback port where nothing listens: every attempt is refused, and the
    command says so with its own code (the server may come back; it is neither a bug nor bad input)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    train = tmp_path / "train.parquet"
    words = " ".join(f"w{i % 37}" for i in range(80))
    pq.write_table(pa.table({"doc_id": [f"d{i}" for i in range(4)], "text": [words] * 4}), train)
    config = tmp_path / "biomass.yaml"
    config.write_text("data_root: data\nsynthesize:\n  backend: openai\n  openai_base_url: http://127.0.0.1:9/v1\n"
                      "  openai_max_attempts: 2\n  openai_backoff_s: 0\n  openai_backoff_max_s: 0\n")
    monkeypatch.delenv("BIOMASS_SIGNING_KEY", raising=False)
    key = tmp_path / "keys" / "signing.pem"
    assert main(["keygen", "--out", str(key)]) == 0
    capsys.readouterr()
    out = tmp_path / "syn.parquet"
    code = main(["synthesize", "--train", str(train), "--n", "2", "--seed", "1", "--out", str(out),
                 "--config", str(config), "--key-file", str(key)])
    err = capsys.readouterr().err
    assert code == exitcodes.UNAVAILABLE == 8, err
    assert "127.0.0.1:9" in err and "after 2 attempts" in err
    assert not out.exists() and not list(tmp_path.glob(".syn.parquet*"))
