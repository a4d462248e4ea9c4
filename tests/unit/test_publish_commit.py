"""A year's dedup signatures are part of its publish commit: a run killed between the manifest and the index
leaves a year that the next year is still deduplicated against. Real bundled samples, real SIGKILL."""

import os
import subprocess
import sys
import textwrap

from biomass.dedup import SignatureIndex
from biomass.storage import GenerationStore

KILLED_AFTER_THE_MANIFEST = textwrap.dedent("""
    import os, signal, sys
    import biomass.storage as s
    write = s.write_bytes_atomic
    def write_then_die(path, data, **kw):
        write(path, data, **kw)
        if os.path.basename(path) == "manifest.json":
            os.kill(os.getpid(), signal.SIGKILL)
    s.write_bytes_atomic = write_then_die
    from biomass.pipeline import make_plan, run_year
    run_year(make_plan(2021, data_root=sys.argv[1]))
""")


def test_a_publish_killed_between_manifest_and_index_is_rolled_forward_and_the_next_year_passes(tmp_path,
                                                                                                signing_key_env):
    """2021's publish dies right after its manifest (before its signatures are in the index). 2022, which repeats
    some 2021 documents and accumulates 2021's rows, must still drop those repeats (not carry them twice and fail
    its generation gate on duplicate doc_ids)."""
    from biomass.pipeline import make_plan, run_year

    root = tmp_path / "data"
    script = tmp_path / "publish_2021.py"   # a file, not -c: pyspark (imported via great-expectations) exits a
    script.write_text(KILLED_AFTER_THE_MANIFEST)   # __main__ without __file__, taking it for a doctest run
    proc = subprocess.run([sys.executable, str(script), str(root)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -9, proc.stderr[-3000:]
    store = GenerationStore(root)
    assert store.published_years() == [2021]
    assert SignatureIndex(store.minhash_dir).years() == []   # visible, but not yet in the index

    manifest = run_year(make_plan(2022, data_root=str(root)))
    notes = manifest.stages["dedup"].notes
    assert notes["index_years"] == [2021] and notes["earlier_generation_matches"] > 0
    assert SignatureIndex(store.minhash_dir).years() == [2021, 2022]
    ids = store.read(2022, columns=["doc_id"]).column("doc_id").to_pylist()
    assert len(ids) == len(set(ids))
