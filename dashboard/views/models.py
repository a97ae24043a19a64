"""Models: each model's champion and versions (test AUC beside the oracle's on synthetic
data), calibration, per-group metrics, score distributions by partition, and the model card."""

import pandas as pd
import streamlit as st

from dashboard import charts, drift, models_registry, queries
from dashboard.data import contents, csv_download, fetch, table


def show_drift(model: str, champion: dict) -> None:
    """PSI of each feature, training window against the latest scored partition."""
    latest = fetch(queries.LATEST_SCORED[model])["latest"].iloc[0]
    if pd.isna(latest):
        return
    window = champion["windows"]["train"]
    sizes = fetch(queries.MART_ROWS).set_index("mart")["estimated_rows"]
    rows = max(float(sizes.get(queries.DRIFT_MART[model]) or 0), 1.0)
    percent = min(100.0, round(100 * queries.DRIFT_SAMPLE_ROWS / rows, 3))
    counts = fetch(
        queries.DRIFT[model], latest=int(latest), percent=percent,
        train_start=window["start"], train_end=window["end"],
    )  # fmt: skip
    found = drift.feature_drift(counts)
    if found.empty:
        return
    st.subheader(
        f"Drift: training window {window['start']} .. {window['last_day']} against "
        f"{int(latest)}, the latest scored partition"
    )
    colours = {True: "#d9534f", False: "#2b6cb0"}
    figure = charts.bar(
        found, "feature", "psi", "Population stability index per feature",
        color="drifted", color_discrete_map=colours,
    )  # fmt: skip
    figure.add_hline(y=drift.THRESHOLD, line_dash="dot", annotation_text="drift threshold")
    st.plotly_chart(figure, key=f"{model}-drift")
    st.caption(
        f"Rows above PSI {drift.THRESHOLD} are red: the feature's distribution moved enough "
        f"to question the model. Sampled: {percent:g}% of the mart's blocks."
    )
    styled = found.style.apply(
        lambda row: ["background-color: #f8d7da" if row["drifted"] else "" for _ in row], axis=1
    )
    st.dataframe(styled, hide_index=True)
    csv_download(found, f"{model}-drift")


st.title("Models")
contents()
has_scores = fetch(queries.SCORE_TABLES).set_index("model")["has_scores"].to_dict()
any_model = False
for model in models_registry.MODELS:
    versions = models_registry.versions(model)
    st.header(f"{model} model")
    if not versions:
        st.info(f"No {model} model is trained yet: run `make demo` first (or "
                f"`crimewh train {model}`).")  # fmt: skip
        continue
    any_model = True
    champion = next((v for v in versions if v["is_champion"]), versions[0])
    st.markdown(
        f"**Champion** `{champion['version']}`: {champion['task']} on "
        f"`{champion['data']['table']}`; test window "
        f"{champion['windows']['test'].get('first_day')} .. "
        f"{champion['windows']['test'].get('last_day')}"
    )
    overview = pd.DataFrame([
        {"version": v["version"], "champion": v["is_champion"], "trained_at": v["trained_at"],
         "test_auc": v.get("test_auc"), "oracle_auc": v.get("oracle_auc"),
         "brier": v.get("test", {}).get("brier"),
         "rows_test": v["windows"]["test"].get("rows_used")}
        for v in versions
    ])  # fmt: skip
    st.plotly_chart(
        charts.bar(
            overview.melt(id_vars="version", value_vars=["test_auc", "oracle_auc"]),
            "version", "value", "Test AUC beside the oracle's (synthetic truth)",
            color="variable", barmode="group",
        ),
        key=f"{model}-auc",
    )  # fmt: skip
    table(overview, f"{model}-versions")

    calibration = pd.DataFrame(champion.get("calibration") or [])
    if not calibration.empty:
        figure = charts.line(
            calibration.dropna(), "mean_predicted", "observed_rate",
            "Calibration of the champion (test window): observed against predicted",
        )  # fmt: skip
        figure.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot"})
        st.plotly_chart(figure, key=f"{model}-calibration")
        table(calibration, f"{model}-calibration")

    for group, rows in (champion.get("groups") or {}).items():
        st.subheader(f"By {group.replace('_', ' ')}")
        table(pd.DataFrame(rows), f"{model}-by-{group}")

    if has_scores.get(model):
        scores = fetch(queries.SCORE_DISTRIBUTION[model])
        if not scores.empty:
            scores["probability"] = (scores["bucket"] - 0.5) / 20
            scores["share"] = scores["share"].astype(float)
            st.plotly_chart(
                charts.line(
                    scores, "probability", "share",
                    "Score distribution by scored partition (share of its rows, sampled)",
                    color="scored_partition",
                ),
                key=f"{model}-scores",
            )  # fmt: skip
            table(scores, f"{model}-score-distribution")
        show_drift(model, champion)
    else:
        st.info(f"No {model} scores yet: `crimewh score {model}` writes them.")

    text = models_registry.card(model, champion["version"])
    with st.expander(f"Model card, {champion['version']}"):
        st.markdown(text)
    st.download_button(
        "Download the model card", text, file_name=f"{model}-{champion['version']}.md",
        mime="text/markdown", key=f"{model}-card", on_click="ignore",
    )  # fmt: skip

if not any_model:
    st.caption("Models appear here once the nightly DAG (or `make demo`) has trained them.")
