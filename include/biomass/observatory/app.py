"""The observatory's FastAPI app. Authentication is injected by the caller (the Airflow plugin), because
Airflow mounts plugin apps without its own auth: whatever dependencies are passed guard every route here."""

from __future__ import annotations

from importlib import resources
from typing import Callable, Sequence

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from biomass.observatory.data import observatory_payload, pending_reviews
from biomass.datadocs import DATA_DOCS, URL_PREFIX, data_docs_root
from biomass.storage import GenerationStore, NotPublished

__all__ = ["DATA_DOCS", "URL_PREFIX", "create_app"]


def create_app(data_root: Callable[[], str], *, dependencies: Sequence = (), airflow_url: str = "") -> FastAPI:
    """``data_root`` is called per request, so a changed config or env needs no restart."""
    app = FastAPI(title="biomass observatory", dependencies=list(dependencies), docs_url=None, redoc_url=None,
                  openapi_url=None)
    page = resources.files("biomass.observatory").joinpath("page.html").read_text()

    def store() -> GenerationStore:
        return GenerationStore(data_root())

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page.replace("__AIRFLOW_URL__", airflow_url)

    @app.get("/api/generations")
    def generations() -> JSONResponse:
        return JSONResponse(observatory_payload(store()))

    @app.get("/api/reviews")
    def reviews() -> JSONResponse:
        """Years waiting for a review decision, with where to decide (the Airflow UI's Required Actions)."""
        return JSONResponse({"required_actions": f"{airflow_url}/required_actions",
                             "pending": pending_reviews(store())})

    @app.get("/review/{year}/sample/{kind}/{rank}", response_class=HTMLResponse)
    def review_document(year: int, kind: str, rank: int) -> str:
        """One sampled document in full (as the sample keeps it), next to what it matched."""
        import html

        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        path = store().staging_dir(year) / "review" / "sample.parquet"
        if not path.exists():
            raise HTTPException(404, f"no review sample for {year}")
        table = pq.read_table(path)
        rows = table.filter(pc.and_(pc.equal(table.column("kind"), kind), pc.equal(table.column("rank"), rank)))
        if rows.num_rows == 0:
            raise HTTPException(404, f"no sampled {kind} #{rank} in {year}")
        row = rows.to_pylist()[0]
        facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in row.items()
                        if k not in ("text", "matched_text") and v not in (None, []))
        matched = (f"<h2>Matched: {html.escape(str(row['matched_doc_id']))}</h2><pre>"
                   f"{html.escape(row['matched_text'] or '(text not found)')}</pre>") if row["matched_doc_id"] else ""
        return (f"<!doctype html><meta charset=utf-8><title>biomass {year} review: {html.escape(kind)} #{rank}"
                f"</title><style>pre{{white-space:pre-wrap;max-width:60em}}</style><h1>{year} review sample: "
                f"{html.escape(kind)} #{rank}</h1><dl>{facts}</dl><h2>Text</h2><pre>"
                f"{html.escape(row['text'] or '')}</pre>{matched}")

    @app.get("/api/generations/{year}/manifest")
    def manifest(year: int) -> JSONResponse:
        try:
            return JSONResponse(store().manifest(year))
        except NotPublished as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.get("/datadocs/{path:path}")
    def data_docs(path: str) -> FileResponse:
        root = data_docs_root(data_root())
        if root is None:
            raise HTTPException(403, "Data Docs are not served through a symlinked folder (see the server log)")
        target = (root / (path or "index.html")).resolve()
        if root not in target.parents and target != root or not target.is_file():
            raise HTTPException(404, f"no Data Docs page {path!r}")
        return FileResponse(target)

    return app
