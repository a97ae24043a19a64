"""The model registry, in the lake: every trained model, and a champion pointer per model.

Layout under the lake (a folder or S3, through the lake's own pyarrow filesystem)::

    <lake>/ml/models/<model>/<version>/model.ubj          the binary booster (XGBoost UBJSON)
                                       model_cleared_arrest.ubj  P(arrest | cleared), clearance
                                       model_classes.ubj  a three-class booster (older versions)
                                       features.json      the feature spec and its vocabularies
                                       metrics.json       the evaluation (what --json prints)
                                       card.md            the model card
                                       manifest.json      version, windows, data snapshot; last
    <lake>/ml/models/<model>/champion.json                which version scores, and why

A version is complete once its ``manifest.json`` exists (written last, like the lake's
partition manifests), so a training run that dies half way leaves nothing that looks usable.
Versions are UTC timestamps with a random suffix, so they sort by age.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ml.db import MLError

if TYPE_CHECKING:
    from pathlib import Path

    from ml.db import Workspace

MANIFEST = "manifest.json"
MAIN = "model.ubj"
CLEARED_ARREST = "model_cleared_arrest.ubj"
CLASSES = "model_classes.ubj"  # versions trained before the two-stage classes
CHAMPION = "champion.json"
_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def new_version(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


class Registry:
    def __init__(self, workspace: Workspace):
        lake = workspace.lake
        self.workspace = workspace
        self.fs = lake.fs
        self.base = f"{lake.root}/ml/models"
        self.url = f"{lake.url}/ml/models"

    # -- paths ---------------------------------------------------------------------------------
    def _folder(self, model: str, version: str | None = None) -> str:
        if not re.match(r"^[a-z_]+$", model):
            raise MLError(f"{model!r} is not a model name")
        if version is None:
            return f"{self.base}/{model}"
        if not _VERSION.match(version):
            raise MLError(f"{version!r} is not a model version (like 20251123T031500Z-1a2b3c)")
        return f"{self.base}/{model}/{version}"

    def uri(self, model: str, version: str) -> str:
        return f"{self.url}/{model}/{version}"

    # -- writing -------------------------------------------------------------------------------
    def save(self, model: str, version: str, files: dict[str, bytes], manifest: dict) -> str:
        """Write a version's files, then its manifest; returns the version's URI."""
        folder = self._folder(model, version)
        self.fs.create_dir(folder, recursive=True)
        for name, body in files.items():
            self._write(f"{folder}/{name}", body)
        self._write(f"{folder}/{MANIFEST}", _json_bytes({**manifest, "files": sorted(files)}))
        return self.uri(model, version)

    def set_champion(self, model: str, record: dict) -> None:
        self.manifest(model, record["version"])  # only a complete version can be champion
        self.fs.create_dir(self._folder(model), recursive=True)
        self._write(f"{self._folder(model)}/{CHAMPION}", _json_bytes(record))

    def _write(self, path: str, body: bytes) -> None:
        from pyarrow import fs

        if isinstance(self.fs, fs.LocalFileSystem):  # a rename makes it appear whole
            partial = f"{path}.{uuid.uuid4().hex}.partial"
            with self.fs.open_output_stream(partial) as out:
                out.write(body)
            self.fs.move(partial, path)
        else:  # an S3 PUT is atomic already
            with self.fs.open_output_stream(path) as out:
                out.write(body)

    # -- reading -------------------------------------------------------------------------------
    def read(self, model: str, version: str, name: str) -> bytes:
        path = f"{self._folder(model, version)}/{name}"
        try:
            with self.fs.open_input_stream(path) as stream:
                return stream.read()
        except FileNotFoundError:
            raise MLError(f"{self.uri(model, version)}/{name} does not exist") from None

    def read_json(self, model: str, version: str, name: str) -> dict:
        return json.loads(self.read(model, version, name))

    def manifest(self, model: str, version: str) -> dict:
        try:
            return self.read_json(model, version, MANIFEST)
        except MLError:
            raise MLError(
                f"model {model} version {version} is not in the registry at {self.url} "
                "(or its training never finished); `crimewh train {model}` makes one"
            ) from None

    def versions(self, model: str) -> list[str]:
        """Complete versions, oldest first."""
        from pyarrow import fs

        selector = fs.FileSelector(self._folder(model), allow_not_found=True)
        found = []
        for info in self.fs.get_file_info(selector):
            if info.type == fs.FileType.Directory and _VERSION.match(info.base_name):
                marker = self.fs.get_file_info(f"{info.path}/{MANIFEST}")
                if marker.type == fs.FileType.File:
                    found.append(info.base_name)
        return sorted(found)

    def champion(self, model: str) -> dict | None:
        try:
            with self.fs.open_input_stream(f"{self._folder(model)}/{CHAMPION}") as stream:
                return json.loads(stream.read())
        except FileNotFoundError:
            return None

    def load(self, model: str, version: str) -> LoadedModel:
        from ml.features import FittedFeatures

        manifest = self.manifest(model, version)
        features = FittedFeatures.from_json(self.read_json(model, version, "features.json"))
        boosters = {
            name: _booster(self.read(model, version, name), self.workspace.nthread)
            for name in (MAIN, CLEARED_ARREST, CLASSES)
            if name in manifest["files"]
        }
        return LoadedModel(
            model,
            version,
            manifest,
            features,
            boosters.get(MAIN),
            cleared_arrest_booster=boosters.get(CLEARED_ARREST),
            class_booster=boosters.get(CLASSES),
            nthread=self.workspace.nthread,
            seeds_dir=self.workspace.seeds_dir,
        )

    def load_champion(self, model: str) -> LoadedModel:
        record = self.champion(model)
        if record is None:
            raise MLError(
                f"model {model} has no champion in {self.url}: `crimewh train {model}` "
                "trains one (the first model trained becomes champion)"
            )
        return self.load(model, record["version"])


class LoadedModel:
    """A registered version, ready to predict.

    Clearance's three classes come in two stages: the main booster's P(cleared), split by
    ``cleared_arrest_booster``'s P(arrest | cleared) into arrest and exceptional means, so the
    classes always agree with the main probability. Versions trained before that carry one
    three-class booster (``class_booster``), which still predicts for them.
    """

    def __init__(self, model, version, manifest, features, booster, *,
                 cleared_arrest_booster=None, class_booster=None, nthread: int = 2,
                 seeds_dir: Path | None = None):  # fmt: skip
        self.model = model
        self.version = version
        self.manifest = manifest
        self.features = features
        self.booster = booster
        self.cleared_arrest_booster = cleared_arrest_booster
        self.class_booster = class_booster
        self.nthread = nthread
        self.seeds_dir = seeds_dir  # the dbt seeds, for reading Chicago's own rows (a CSV)

    @property
    def has_classes(self) -> bool:
        return self.cleared_arrest_booster is not None or self.class_booster is not None

    def predict(self, table, *, contributions: bool = False):
        """P(positive) per row, and the per-feature log-odds contributions if asked."""
        matrix = self.features.dmatrix(table, nthread=self.nthread)
        probability = self.booster.predict(matrix)
        if not contributions:
            return probability
        return probability, self.booster.predict(matrix, pred_contribs=True)

    def class_probabilities(self, dmatrix, probability):
        """P(open), P(arrest), P(exceptional) per row (n x 3), given the main booster's
        ``probability`` for the same ``dmatrix``; None for a model without classes."""
        if self.cleared_arrest_booster is not None:
            return split_cleared(probability, self.cleared_arrest_booster.predict(dmatrix))
        if self.class_booster is not None:
            return self.class_booster.predict(dmatrix)
        return None

    def predict_classes(self, table):
        if not self.has_classes:
            return None
        matrix = self.features.dmatrix(table, nthread=self.nthread)
        return self.class_probabilities(matrix, self.booster.predict(matrix))


def split_cleared(p_cleared, p_arrest_given_cleared):
    """Open, arrest and exceptional probabilities from P(cleared) and P(arrest | cleared)."""
    import numpy as np

    return np.column_stack(
        (1 - p_cleared, p_cleared * p_arrest_given_cleared,
         p_cleared * (1 - p_arrest_given_cleared))
    )  # fmt: skip


def _booster(raw: bytes, nthread: int):
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    booster.set_param({"nthread": nthread})
    return booster


def _json_bytes(data: dict) -> bytes:
    return json.dumps(data, indent=2, default=str).encode()
