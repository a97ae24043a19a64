"""What the Models page reads from the model registry (``ml.registry``, in the lake): each
model's versions with their evaluation, and the champion. Read-only; cached like the queries."""

from __future__ import annotations

import streamlit as st

from dashboard.data import CACHE_TTL_S

MODELS = ("clearance", "arrest")


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def versions(model: str) -> list[dict]:
    """Every complete version, newest first: its metrics.json, and whether it is champion."""
    from crimewh.settings import settings
    from crimewh_orchestration.workspace import ml_workspace
    from ml.registry import Registry

    registry = Registry(ml_workspace(settings()))
    champion = (registry.champion(model) or {}).get("version")
    found = []
    for version in reversed(registry.versions(model)):
        metrics = registry.read_json(model, version, "metrics.json")
        found.append({**metrics, "version": version, "is_champion": version == champion})
    return found


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def card(model: str, version: str) -> str:
    from crimewh.settings import settings
    from crimewh_orchestration.workspace import ml_workspace
    from ml.registry import Registry

    return Registry(ml_workspace(settings())).read(model, version, "card.md").decode()
