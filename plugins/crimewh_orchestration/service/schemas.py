"""The service's requests and responses (pydantic v2), as /docs shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_RECORDS = 100_000  # per predict call; more is a batch job (the upload page)

ARREST_EXAMPLE = {
    "date": "2025-11-16T23:00:00",
    "primary_type": "THEFT",
    "location_description": "RESIDENCE",
    "domestic": True,
    "beat": "0224",
    "district": "002",
    "ward": 3,
    "community_area": 38,
    "fbi_code": "06",
    "latitude": 41.805072258,
    "longitude": -87.619480201,
}


class DataframeSplit(BaseModel):
    """MLflow's ``dataframe_split``: column names, then rows of values in that order."""

    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


class PredictRequest(BaseModel):
    """Either ``records`` (one object per crime, keyed by the dataset's API field names, as
    the CSV scorer reads them) or MLflow's ``dataframe_split`` (``dataframe_records`` is
    taken as ``records``). A record that is not an object, or a value that is a list or an
    object, is that record's error; the other records are still scored."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"records": [ARREST_EXAMPLE]}]},
    )

    records: list[Any] | None = Field(default=None, max_length=MAX_RECORDS)
    dataframe_records: list[Any] | None = Field(default=None, max_length=MAX_RECORDS)
    dataframe_split: DataframeSplit | None = None

    @model_validator(mode="after")
    def one_form(self) -> PredictRequest:
        given = [
            name
            for name in ("records", "dataframe_records", "dataframe_split")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "send exactly one of records, dataframe_records or dataframe_split"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.dataframe_split is not None and len(self.dataframe_split.data) > MAX_RECORDS:
            raise ValueError(f"at most {MAX_RECORDS:,} rows per call; upload a CSV for more")
        return self

    def rows(self) -> list[Any]:
        """The records as objects (field -> value); a split row of the wrong width stays a
        list, which the scorer reports as that row's error."""
        if self.dataframe_split is not None:
            columns = self.dataframe_split.columns
            return [
                dict(zip(columns, row, strict=True)) if len(row) == len(columns) else row
                for row in self.dataframe_split.data
            ]
        return list(self.records if self.records is not None else self.dataframe_records)


class FieldProblem(BaseModel):
    field: str | None = Field(description="the field it is about; null for the whole record")
    message: str


class Contribution(BaseModel):
    feature: str
    value: str = Field(description="the record's value of the feature, as the model read it")
    contribution: float = Field(description="its share of the log-odds (XGBoost's Saabas)")


class RecordPrediction(BaseModel):
    index: int = Field(description="the record's position in the request, from 0")
    probability: float | None = Field(
        description="P(arrest) or P(cleared); null when the record has errors"
    )
    classes: dict[str, float] | None = Field(
        default=None, description="clearance only: P(open), P(arrest), P(exceptional)"
    )
    contributions: list[Contribution] = Field(default_factory=list)
    errors: list[FieldProblem] = Field(default_factory=list)


class PredictResponse(BaseModel):
    model: str
    model_version: str
    records: int
    scored: int
    ignored_fields: list[str] = Field(
        default_factory=list, description="fields the model does not read"
    )
    predictions: list[RecordPrediction]


class VersionInfo(BaseModel):
    version: str
    trained_at: str | None = None
    test_auc: float | None = None
    oracle_auc: float | None = None
    champion: bool = False


class ModelSummary(BaseModel):
    name: str
    champion: str | None = Field(description="the version that scores; null before training")
    promoted_at: str | None = None
    test_auc: float | None = None
    versions: int


class ModelDetail(BaseModel):
    name: str
    champion: dict[str, Any] | None
    versions: list[VersionInfo]
    metrics: dict[str, Any] | None = Field(
        description="the champion's test window: ROC-AUC, PR-AUC, F1, Brier, windows, oracle"
    )
    card: str | None = Field(description="the champion's model card (markdown)")


class Check(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    warehouse: Check
    lake: Check
    models: dict[str, Check]


class BadRow(BaseModel):
    row: int = Field(description="data row, from 1")
    line: int = Field(description="the line of the file it starts on")
    fields: list[str]
    error: str


class Job(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: str | None
    file_name: str
    file_bytes: int
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows: int | None
    scored: int | None
    bad_rows: int | None
    errors: list[BadRow] = Field(
        default_factory=list, description="the first bad rows; all are in the errors CSV"
    )
    error: str | None = Field(description="why the job failed")
    model_version: str | None
    page: str
    result_csv: str | None
    errors_csv: str | None
    airflow_run: str | None


class Problem(BaseModel):
    """An error response: what was wrong and what to do."""

    detail: str
    missing: list[str] | None = None
