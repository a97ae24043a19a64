"""The FastAPI application: health, the models, predictions, uploads and their jobs.

``create_app(settings)`` builds it; ``crimewh serve`` runs it under uvicorn. The OpenAPI
documentation is at ``/docs``. With ``CRIMEWH_API_TOKEN`` set, ``predict`` and ``upload``
need ``Authorization: Bearer <token>`` (the upload page sends it as a form field, which a
plain form can do); the rest is readable by whoever reaches the service, which without a
token is this machine only (``crimewh_orchestration.service.server`` binds 127.0.0.1 then).
"""

from __future__ import annotations

import gc
import hmac
import logging
import shutil
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse

from crimewh_orchestration.service import jobs, pages
from crimewh_orchestration.service.predict import (
    Champions,
    NoChampionError,
    UnknownModelError,
    predict,
)
from crimewh_orchestration.service.schemas import (
    Check,
    Health,
    Job,
    ModelDetail,
    ModelSummary,
    PredictRequest,
    PredictResponse,
    Problem,
    VersionInfo,
)
from crimewh_orchestration.service.upload import UploadError, check_csv, receive
from ml.db import MLError
from ml.features import MODELS

if TYPE_CHECKING:
    from crimewh.settings import Settings

log = logging.getLogger(__name__)
NOT_FOUND = {404: {"model": Problem}}
UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "a CSV of Chicago crimes"},
                        "submitted_by": {"type": "string",
                                         "description": "who sends it (kept with the job)"},
                        "token": {"type": "string",
                                  "description": "the API token, for a form that cannot "
                                  "send a header"},
                    },
                }
            }
        },
    }
}  # fmt: skip


def create_app(settings: Settings) -> FastAPI:
    champions = Champions(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # the champions load before the first request rather than during it; then what is
        # loaded for good (modules, models) is left out of the garbage collector's scans,
        # which a full collection in the middle of a request would otherwise walk
        for name in MODELS:
            try:
                champions.get(name)
            except MLError as error:
                log.warning("%s", error)
        gc.freeze()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Crime Warehouse models",
        version="1",
        summary="The NIBRS clearance and Chicago arrest models: predictions, batch scoring "
        "of CSV uploads, and their model cards. Decision support only.",
    )
    app.state.settings = settings
    app.state.champions = champions
    access = _Access(settings.api_token)

    @app.exception_handler(UnknownModelError)
    @app.exception_handler(NoChampionError)
    async def not_found(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    _add_pages(app, settings)
    _add_models(app, settings, access)
    _add_uploads(app, settings, access)
    return app


class _Access:
    """Who may predict and upload: anyone without a token, else the token's holder."""

    def __init__(self, token: str | None):
        self.token = token

    def authorized(self, request: Request, form_token: str | None = None) -> bool:
        if not self.token:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            given = form_token or ""
        return hmac.compare_digest(given.strip().encode(), self.token.encode())

    def require(self, request: Request) -> None:
        """A FastAPI dependency: 401 without the token."""
        if not self.authorized(request):
            raise HTTPException(
                401,
                "this service needs Authorization: Bearer <CRIMEWH_API_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )


def _add_pages(app: FastAPI, settings: Settings) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return pages.upload_page(limit_mb=settings.upload_max_mb,
                                 needs_token=bool(settings.api_token))  # fmt: skip

    @app.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def job_page(job_id: str) -> str:
        return pages.job_page(_job_view(_find_job(settings, job_id)))


def _add_models(app: FastAPI, settings: Settings, access: _Access) -> None:
    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health() -> JSONResponse:
        """The warehouse and the lake answer, and each model has its champion."""
        report = _health(settings, app.state.champions.registry())
        code = 200 if report.status == "ok" else 503
        return JSONResponse(report.model_dump(), status_code=code)

    @app.get("/v1/models", response_model=list[ModelSummary])
    def models() -> list[ModelSummary]:
        registry = app.state.champions.registry()
        out = []
        for name in MODELS:
            record = registry.champion(name) or {}
            out.append(ModelSummary(
                name=name, champion=record.get("version"), promoted_at=record.get("promoted_at"),
                test_auc=record.get("test_auc"), versions=len(registry.versions(name)),
            ))  # fmt: skip
        return out

    @app.get("/v1/models/{name}", response_model=ModelDetail, responses=NOT_FOUND)
    def model(name: str) -> ModelDetail:
        """The champion, every version, the champion's test metrics and its model card."""
        if name not in MODELS:
            raise UnknownModelError(f"no model named {name!r}: the models are {', '.join(MODELS)}")
        return _model_detail(app.state.champions.registry(), name)

    @app.post(
        "/v1/models/{name}/predict",
        response_model=PredictResponse,
        responses={**NOT_FOUND, 401: {"model": Problem}},
        dependencies=[Depends(access.require)],
    )
    def predict_records(name: str, body: PredictRequest) -> dict:
        """Score records (the dataset's API field names for arrest, the model's feature names
        for clearance). A bad record gets its own errors, each naming its field; the others
        are scored. The arrest model scores exactly as `crimewh score arrest --file`."""
        return predict(app.state.champions.get(name), body.rows())


def _add_uploads(app: FastAPI, settings: Settings, access: _Access) -> None:
    limit = settings.upload_max_mb * 1_000_000
    incoming = settings.data_dir / "service" / "incoming"

    @app.post(
        "/v1/uploads",
        status_code=202,
        response_model=Job,
        responses={401: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem},
                   422: {"model": Problem}, 503: {"model": Problem}},
        openapi_extra=UPLOAD_FORM,
    )  # fmt: skip
    async def upload(request: Request):
        """Store a CSV of Chicago crimes in the lake and score it in a batch job (the Airflow
        DAG chicago_csv_scoring). A browser is sent on to the job's page."""
        html = "text/html" in request.headers.get("accept", "")
        header = request.headers.get("authorization")
        if settings.api_token and header and not access.authorized(request):
            return _refuse(html, 401, "the Bearer token is not this service's API token")
        job_id = jobs.new_job_id()
        folder = incoming / job_id
        try:
            received = await receive(request, folder, limit)
            if not access.authorized(request, received.fields.get("token")):
                return _refuse(html, 401, "this service needs its API token (CRIMEWH_API_TOKEN)")
            await run_in_threadpool(check_csv, received)
            job = await run_in_threadpool(
                _start_job, settings, job_id, received, request, str(request.base_url)
            )
        except UploadError as error:
            return _refuse(html, error.status, error.detail, error.missing)
        except jobs.JobError as error:
            return _refuse(html, 503, f"{error} (job {job_id} is marked failed)")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if html:
            return RedirectResponse(f"/jobs/{job_id}", status_code=303)
        return JSONResponse(Job(**_job_view(job)).model_dump(mode="json"), status_code=202)

    @app.get("/v1/jobs/{job_id}", response_model=Job, responses=NOT_FOUND)
    def job(job_id: str) -> Job:
        return Job(**_job_view(_find_job(settings, job_id)))

    @app.get("/v1/jobs/{job_id}/scored.csv", responses=NOT_FOUND, response_class=StreamingResponse)
    def scored_csv(job_id: str) -> StreamingResponse:
        """The upload with arrest_probability, model_version and error columns."""
        found = _find_job(settings, job_id)
        return _download(settings, found, "scored.csv", jobs.scored_name(found["file_name"]))

    @app.get("/v1/jobs/{job_id}/errors.csv", responses=NOT_FOUND, response_class=StreamingResponse)
    def errors_csv(job_id: str) -> StreamingResponse:
        """The rows that could not be scored: row, line, fields and the reason."""
        found = _find_job(settings, job_id)
        stem = jobs.scored_name(found["file_name"]).removesuffix(".scored.csv")
        return _download(settings, found, "errors.csv", f"{stem}.errors.csv")


# -- helpers -------------------------------------------------------------------------------------
def _refuse(html: bool, status: int, detail: str, missing: list[str] | None = None):
    if html:
        return HTMLResponse(pages.error_page(status, detail), status_code=status)
    body = {"detail": detail} | ({"missing": missing} if missing else {})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _start_job(settings, job_id: str, received, request: Request, base_url: str) -> dict:
    who = received.fields.get("submitted_by") or "anonymous"
    client = request.client.host if request.client else "unknown"
    uri = jobs.store_upload(settings, job_id, received.path)
    jobs.create(settings, job_id, submitted_by=f"{who[:200]} from {client}",
                file_name=received.file_name[:300], file_bytes=received.size, input_uri=uri,
                url=f"{base_url.rstrip('/')}/jobs/{job_id}")  # fmt: skip
    try:
        jobs.trigger(settings, job_id)
    except jobs.JobError as error:
        jobs.fail(settings, job_id, str(error))
        raise
    return jobs.get(settings, job_id)


def _find_job(settings, job_id: str) -> dict:
    try:
        return jobs.get(settings, job_id)
    except jobs.JobError as error:
        raise HTTPException(404, str(error)) from None


def _job_view(job: dict) -> dict:
    done = job["status"] == "succeeded"
    base = f"/v1/jobs/{job['job_id']}"
    return {
        **{key: job.get(key) for key in (
            "job_id", "status", "progress", "file_name", "file_bytes", "submitted_by",
            "submitted_at", "started_at", "finished_at", "rows", "scored", "bad_rows", "error",
        )},
        "errors": job.get("errors") or [],
        "model_version": (job.get("result") or {}).get("model_version"),
        "page": f"/jobs/{job['job_id']}",
        "result_csv": f"{base}/scored.csv" if done else None,
        "errors_csv": f"{base}/errors.csv" if done else None,
        "airflow_run": job.get("dag_run_id"),
    }  # fmt: skip


def _download(settings, job: dict, name: str, filename: str) -> StreamingResponse:
    if job["status"] != "succeeded":
        raise HTTPException(404, f"job {job['job_id']} is {job['status']}: no {name} yet")
    stream = jobs.open_file(settings, job["job_id"], name)

    def chunks():
        with stream:
            while block := stream.read(jobs.CHUNK):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_header_safe(filename)}"'},
    )


def _header_safe(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


def _health(settings, registry) -> Health:
    from crimewh.warehouse import fetch

    try:
        fetch(settings, "select 1")
        warehouse = Check(ok=True, detail="answers")
    except Exception as error:
        warehouse = Check(ok=False, detail=f"{type(error).__name__}: {error}".strip()[:300])
    try:
        from pyarrow import fs

        from crimewh.lake import Lake

        lake_fs = Lake.from_settings(settings)
        found = lake_fs.fs.get_file_info(lake_fs.root).type != fs.FileType.NotFound
        lake = Check(ok=found, detail=settings.lake_url + ("" if found else " does not exist"))
    except Exception as error:
        lake = Check(ok=False, detail=f"{type(error).__name__}: {error}"[:300])
    models = {}
    for name in MODELS:
        try:
            record = registry.champion(name)
            if record is None:
                models[name] = Check(ok=False, detail=f"no champion: `crimewh train {name}`")
            else:
                registry.manifest(name, record["version"])
                models[name] = Check(ok=True, detail=f"champion {record['version']}")
        except Exception as error:
            models[name] = Check(ok=False, detail=str(error)[:300])
    ok = warehouse.ok and lake.ok and all(check.ok for check in models.values())
    return Health(status="ok" if ok else "degraded", warehouse=warehouse, lake=lake,
                  models=models)  # fmt: skip


def _model_detail(registry, name: str) -> ModelDetail:
    record = registry.champion(name)
    versions = []
    for version in registry.versions(name):
        manifest = registry.manifest(name, version)
        versions.append(VersionInfo(
            version=version, trained_at=manifest.get("trained_at"),
            test_auc=manifest.get("test_auc"), oracle_auc=manifest.get("oracle_auc"),
            champion=bool(record) and record["version"] == version,
        ))  # fmt: skip
    metrics = card = None
    if record:
        evaluation = registry.read_json(name, record["version"], "metrics.json")
        metrics = {key: evaluation.get(key) for key in (
            "test", "test_auc", "oracle_auc", "windows", "threshold", "subsets", "three_class",
        ) if key in evaluation}  # fmt: skip
        card = registry.read(name, record["version"], "card.md").decode()
    return ModelDetail(name=name, champion=record, versions=versions, metrics=metrics, card=card)
