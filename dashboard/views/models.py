"""Models: each model's champion and versions (test AUC beside the oracle's on synthetic
data), calibration, per-group metrics, score distributions by partition, and the model card."""

import pandas as pd
import streamlit as st

from dashboard import charts, models_registry, queries
from dashboard.data import contents, fetch, table

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
            st.plotly_chart(
                charts.line(
                    scores, "probability", "rows", "Score distribution by scored partition",
                    color="scored_partition",
                ),
                key=f"{model}-scores",
            )  # fmt: skip
            table(scores, f"{model}-score-distribution")
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
