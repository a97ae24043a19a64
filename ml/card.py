"""A model card (markdown) for each trained model, written from its evaluation."""

from __future__ import annotations

PURPOSE = {
    "clearance": (
        "Estimates how likely a NIBRS Group A incident is to be cleared (by arrest or "
        "exceptionally), and which way (P(arrest | cleared) from a second booster), from "
        "what the incident report says when it is filed. For research on clearance and for "
        "triage of case review queues."
    ),
    "arrest": (
        "Estimates how likely a Chicago crime report is to end with an arrest, from what the "
        "report says (type, place, time, police district and beat). For research and for "
        "planning where follow-up capacity is needed."
    ),
}
LIMITS = {
    "clearance": [
        "Clearance in the master file is right-censored: arrests made after the FBI extracted "
        "the year are missing, so the newest incidents look less often cleared than they are.",
        "Agencies differ in how they report exceptional clearances; the per-state and "
        "per-population-group tables show where the model is weaker.",
        "What is known about the offender is left out by default because it is often recorded "
        "only once someone is arrested (`offender_known` in the feature options).",
    ],
    "arrest": [
        "Recent rows under-report arrests (recorded later), so the newest weeks are left out "
        "of training and evaluation (`maturity_days`).",
        "Arrest rates drift over the years; the model is evaluated on a later period than it "
        "learnt from, and should be retrained as new months arrive.",
        "Arrest-generated types (narcotics, prostitution, gambling, liquor law, public "
        "indecency) are excluded by default: their reports exist because of the arrest.",
        "Location labels and police presence reflect enforcement patterns, not only crime.",
    ],
}


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(evaluation: dict) -> str:
    model = evaluation["model"]
    test, oracle = evaluation["test"], evaluation.get("oracle") or {}
    windows = evaluation["windows"]
    lines = [
        f"# Model card: {model} ({evaluation['version']})",
        "",
        f"Trained {evaluation['trained_at']} from `{evaluation['data']['table']}`; predicts "
        f"{evaluation['task']}. XGBoost (`hist`), parameters chosen on the validation window.",
        "",
        "## Intended use",
        "",
        PURPOSE.get(model, ""),
        "",
        "**Decision support only.** A score is an estimate for a group of similar reports, "
        "never the sole basis for a decision about a case or a person. Scores must not be "
        "used to decide whom to investigate, charge or detain.",
        "",
        "## Data and windows (out of time)",
        "",
        "| window | from | to | rows used | positives |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for name in ("train", "valid", "test"):
        w = windows[name]
        sample = f" ({w['sample_share']:.0%} sample)" if w["sample_share"] < 1 else ""
        lines.append(
            f"| {name} | {w['start']} | {w['last_day']} | {w['rows_used']:,}{sample} "
            f"| {w['positives']:,} |"
        )
    data = evaluation["data"]
    lines += [
        "",
        f"Data snapshot: {data.get('mart_rows', 'n/a'):,} mart rows, loaded up to "
        f"{data.get('max_source_loaded_at')}; last mature day {data.get('last_mature_day')} "
        f"(the newest {evaluation['maturity_days']} days are left out). Rows covered: "
        f"`{evaluation['eligible_rows']}`. Key fingerprint `{data.get('keys_sha256', '')[:16]}`.",
        "",
        "Features: " + ", ".join(f"`{f['name']}`" for f in evaluation["features"]) + ".",
        "",
        f"Options: `{evaluation['feature_options']}`. Never features: outcome and "
        "post-outcome columns, personal demographic attributes (age, sex, race, ethnicity, "
        "residency).",
    ]
    if evaluation.get("excluded_types"):
        lines.append(
            "Excluded types: "
            + ", ".join(
                f"{t['primary_type']} ({t['rows']:,})" for t in evaluation["excluded_types"]
            )
            + "."
        )
    lines += [
        "",
        "## Metrics on the test window",
        "",
        "| metric | model | oracle (true probabilities) |",
        "| --- | ---: | ---: |",
        f"| ROC-AUC | {_num(test['roc_auc'])} | {_num(oracle.get('roc_auc'))} |",
        f"| PR-AUC | {_num(test['pr_auc'])} | {_num(oracle.get('pr_auc'))} |",
        f"| Brier | {_num(test['brier'], 4)} | {_num(oracle.get('brier'), 4)} |",
        f"| F1 at {_num(test['threshold'])} | {_num(test['f1'])} | {_num(oracle.get('f1'))} |",
        f"| precision / recall | {_num(test['precision'])} / {_num(test['recall'])} | |",
        f"| base rate / mean predicted | {_pct(test['base_rate'])} / "
        f"{_pct(test['mean_predicted'])} | |",
        "",
    ]
    if not oracle.get("roc_auc"):
        lines += [f"No oracle: {oracle.get('why', 'no truth for these rows')}.", ""]
    for name, subset in (evaluation.get("subsets") or {}).items():
        lines.append(
            f"- {name.replace('_', ' ')}: ROC-AUC {_num(subset['roc_auc'])} on "
            f"{subset['rows']:,} rows"
        )
    classes = evaluation.get("three_class")
    if classes:
        aucs = ", ".join(f"{c} {_num(v)}" for c, v in classes["roc_auc_one_vs_rest"].items())
        lines += [
            "",
            f"Three classes ({classes.get('stages', 'one softmax booster')}): log loss "
            f"{_num(classes['log_loss'])}, accuracy "
            f"{_num(classes['accuracy'])}, macro F1 {_num(classes['macro_f1'])}; "
            f"one-vs-rest AUC {aucs}.",
        ]
        if classes.get("oracle"):
            truth = ", ".join(
                f"{c} {_num(v)}" for c, v in classes["oracle"]["roc_auc_one_vs_rest"].items()
            )
            lines.append(f"Oracle: log loss {_num(classes['oracle']['log_loss'])}; {truth}.")
    lines += [
        "",
        "## Calibration (test window)",
        "",
        "| predicted | rows | mean predicted | observed |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in evaluation["calibration"]:
        if row["rows"]:
            lines.append(
                f"| {row['bin']} | {row['rows']:,} | {_pct(row['mean_predicted'])} | "
                f"{_pct(row['observed_rate'])} |"
            )
    lines.append(f"\nExpected calibration error: {_num(test.get('calibration_error'), 4)}.")
    for column, groups in evaluation["groups"].items():
        lines += [
            "",
            f"## By {column.replace('_', ' ')} (test window)",
            "",
            "| group | rows | base rate | ROC-AUC | oracle AUC | Brier |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for g in groups:
            lines.append(
                f"| {g['group']} | {g['rows']:,} | {_pct(g['base_rate'])} | "
                f"{_num(g.get('roc_auc'))} | {_num(g.get('oracle_auc'))} | "
                f"{_num(g.get('brier'), 4)} |"
            )
    champion = evaluation["champion"]
    lines += [
        "",
        "## Limits",
        "",
        *(f"- {limit}" for limit in LIMITS.get(model, [])),
        "- Metrics of groups under "
        "the minimum size are counts only; small groups' AUCs would be noise.",
        "",
        "## Registry",
        "",
        f"{'Champion' if champion['promoted'] else 'Not promoted'}: {champion['reason']}"
        + (
            f" (champion {champion['champion_version']}: AUC "
            f"{_num(champion.get('champion_auc_same_window'))} vs "
            f"{_num(champion.get('challenger_auc_same_window'))})"
            if champion.get("champion_version")
            else ""
        )
        + ".",
        "",
    ]
    return "\n".join(lines)
