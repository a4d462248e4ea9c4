"""The gates import great-expectations without pyspark: GX would load it whenever installed (~0.5 s), and
pyspark.sql.connect even ends a ``python -c`` process with exit 0 when grpc is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

INCLUDE = Path(__file__).resolve().parents[2] / "include"


def _run(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    """A script file, not ``python -c`` (under -c an unblocked GX import would silently exit 0, see above)."""
    script = tmp_path / "probe.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(INCLUDE), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)


def test_the_gates_import_gx_without_pyspark(tmp_path):
    proc = _run(tmp_path, "import sys\n"
                "from biomass.gates.runner import _quiet_gx\n"
                "gx = _quiet_gx()\n"
                "assert hasattr(gx, 'ExpectationSuite')\n"
                "print('pyspark loaded:', 'pyspark' in sys.modules)\n"
                "import pyspark\n"  # the block is lifted: the Spark dedup backend can still import it
                "print('pyspark importable after')\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pyspark loaded: False" in proc.stdout and "pyspark importable after" in proc.stdout, proc.stderr[-2000:]


def test_when_spark_is_already_loaded_gx_gets_it(tmp_path):
    proc = _run(tmp_path, "import sys, pyspark\nfrom biomass.gates.runner import _quiet_gx\n_quiet_gx()\n"
                "from great_expectations.compatibility import pyspark as compat\n"
                "print('gx sees pyspark:', compat.pyspark is sys.modules['pyspark'])\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gx sees pyspark: True" in proc.stdout, proc.stdout + proc.stderr[-2000:]
