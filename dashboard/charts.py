"""Plotly figures for the pages: white backgrounds, no geo traces (which fetch shapes from a
CDN), no map tiles; a map is a scatter on plain axes."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.geometry import STATE_TILES, label

TEMPLATE = "plotly_white"


def line(frame: pd.DataFrame, x: str, y: str | list[str], title: str, **kwargs) -> go.Figure:
    years = frame[x].dtype.kind in "iu"
    if years and "color" not in kwargs and frame[x].is_unique and not frame.empty:
        # a year the warehouse does not hold breaks the line: a straight line across it
        # would show a trend through years nobody loaded
        span = range(int(frame[x].min()), int(frame[x].max()) + 1)
        frame = frame.set_index(x).reindex(span).rename_axis(x).reset_index()
    figure = px.line(frame, x=x, y=y, markers=True, title=title, template=TEMPLATE, **kwargs)
    if years:  # one tick each, never 2019.5
        figure.update_xaxes(dtick=1)
    figure.update_yaxes(rangemode="tozero")
    return figure


def bar(frame: pd.DataFrame, x: str, y: str, title: str, **kwargs) -> go.Figure:
    return px.bar(frame, x=x, y=y, title=title, template=TEMPLATE, **kwargs)


def heatmap(
    z, x, y, title: str, *, colorscale="Blues", zmin=None, zmax=None, text=None, **layout
) -> go.Figure:
    figure = go.Figure(
        go.Heatmap(
            z=z, x=x, y=y, colorscale=colorscale, zmin=zmin, zmax=zmax, text=text,
            hovertemplate="%{y} · %{x}: %{text}<extra></extra>" if text is not None else None,
        )
    )  # fmt: skip
    figure.update_layout(title=title, template=TEMPLATE, **layout)
    return figure


def state_tiles(frame: pd.DataFrame, value: str, title: str, *, fmt: str = ".0%") -> go.Figure:
    """One square per state on the shipped tile grid, coloured by ``value``; states the
    frame lacks are grey."""
    known = frame.set_index("state_abbreviation")
    rows = []
    for state, (row, column) in STATE_TILES.items():
        present = state in known.index and pd.notna(known.at[state, value])
        rows.append({
            "state": state, "label": label(state), "x": column, "y": -row,
            "value": float(known.at[state, value]) if present else None,
        })  # fmt: skip
    tiles = pd.DataFrame(rows)
    figure = go.Figure()
    missing = tiles[tiles["value"].isna()]
    figure.add_trace(go.Scatter(
        x=missing["x"], y=missing["y"], mode="markers+text", text=missing["label"],
        marker={"symbol": "square", "size": 38, "color": "#e5e5e5"},
        hovertext=missing["label"] + ": no agencies", hoverinfo="text", showlegend=False,
    ))  # fmt: skip
    shown = tiles[tiles["value"].notna()]
    figure.add_trace(go.Scatter(
        x=shown["x"], y=shown["y"], mode="markers+text", text=shown["label"],
        textfont={"color": "black"},
        marker={
            "symbol": "square", "size": 38, "color": shown["value"], "colorscale": "Blues",
            "cmin": 0, "cmax": 1 if fmt.endswith("%") else None, "showscale": True,
            "colorbar": {"title": value, "tickformat": fmt},
        },
        customdata=shown["value"],
        hovertemplate="%{text}: %{customdata:" + fmt + "}<extra></extra>", showlegend=False,
    ))  # fmt: skip
    figure.update_layout(
        title=title, template=TEMPLATE, height=430,
        xaxis={"visible": False, "range": [-0.7, 11.7]},
        yaxis={"visible": False, "scaleanchor": "x", "range": [-8.7, 0.7]},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )  # fmt: skip
    return figure


def points(frame: pd.DataFrame, title: str) -> go.Figure:
    """Crimes at their coordinates on blank axes (longitude scaled for Chicago's latitude)."""
    figure = px.scatter(
        frame, x="longitude", y="latitude", color="arrest", title=title, template=TEMPLATE,
        hover_data=["primary_type"], opacity=0.5,
    )  # fmt: skip
    figure.update_traces(marker={"size": 4})
    # at 41.8°N a degree of longitude is 0.745 of a degree of latitude
    figure.update_yaxes(scaleanchor="x", scaleratio=1 / 0.745)
    figure.update_layout(height=650)
    return figure
