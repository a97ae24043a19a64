"""The models' ``Workspace``, made from the settings: the one place where what ``ml`` is
given (a warehouse, a lake, threads, retraining ages, the dbt seeds, where synthetic truth
lies) is read from the environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crimewh.settings import Settings
    from ml.db import Workspace


def ml_workspace(settings: Settings) -> Workspace:
    from crimewh.lake import Lake
    from crimewh.settings import project_dir
    from ml.db import Workspace

    return Workspace(
        warehouse_url=settings.warehouse_url,  # None: the registry alone still works
        lake=Lake.from_settings(settings),
        seeds_dir=project_dir() / "dbt_project" / "seeds",
        nthread=settings.ml_nthread,
        max_age_days=settings.ml_max_age_days,
        new_data_days=settings.ml_new_data_days,
        nibrs_truth_url=settings.landing_url,
        chicago_truth_dir=settings.data_dir / "chicago",
    )
