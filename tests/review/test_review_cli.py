"""`biomass review` and `biomass run-year --review-mode required`: the review without Airflow."""

from __future__ import annotations

from biomass import exitcodes
from biomass.cli import main
from biomass.storage import GenerationStore, NotPublished


def _sampled_id(plan, kind="synthetic") -> str:
    import pyarrow.compute as pc

    from biomass.review.sample import load_sample

    sample = load_sample(plan)
    return sample.filter(pc.equal(sample.column("kind"), kind)).column("doc_id")[0].as_py()


def test_review_prints_the_sample_with_links(pending, capsys):
    assert main(["review", str(pending.year), "--data-root", pending.data_root]) == exitcodes.OK
    out = capsys.readouterr().out
    assert f"### Generation {pending.year}" in out and "#### Collapse metrics" in out and "#### Gates" in out
    assert f"(/biomass/review/{pending.year}/sample/rare_words/0)" in out
    assert _sampled_id(pending) in out


def test_approve_with_an_exclusion_publishes_and_records_it(pending, capsys):
    doc = _sampled_id(pending)
    code = main(["review", str(pending.year), "--data-root", pending.data_root, "--approve", "--by", "carol",
                 "--comment", "fine but one page", "--exclude", doc])
    assert code == exitcodes.OK, capsys.readouterr().err
    manifest = GenerationStore(pending.data_root).manifest(pending.year)
    assert manifest["review"]["by"] == "carol" and manifest["review"]["excluded"] == [doc]
    assert "1 excluded by review" in capsys.readouterr().out
    assert not GenerationStore(pending.data_root).lock_path(pending.year).exists()


def test_reject_needs_a_comment_then_publishes_nothing(pending, capsys):
    args = ["review", str(pending.year), "--data-root", pending.data_root, "--reject", "--by", "dan"]
    assert main(args) == exitcodes.USAGE
    assert "needs a comment" in capsys.readouterr().err
    assert main([*args, "--comment", "too much synthetic boilerplate"]) == exitcodes.CHECK_FAILED
    assert "rejected by dan: too much synthetic boilerplate" in capsys.readouterr().out
    try:
        GenerationStore(pending.data_root).manifest(pending.year)
        raise AssertionError("a rejected year was published")
    except NotPublished:
        pass


def test_run_year_with_a_required_review_stops_before_publish(pending, capsys):
    code = main(["run-year", str(pending.year), "--data-root", pending.data_root, "--workers", "1",
                 "--review-mode", "required"])
    assert code == exitcodes.REVIEW_PENDING
    err = capsys.readouterr().err
    assert f"biomass review {pending.year} --data-root" in err and "--approve" in err
    assert GenerationStore(pending.data_root).published_years() == [2021]
