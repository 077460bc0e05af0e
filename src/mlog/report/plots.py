"""Charts drawn by Bokeh, embedded offline: the one module that imports the plotting library.

Why Bokeh: its wheel ships BokehJS, and ``Resources(mode="inline")`` hands it back as
``<script>`` text, so a page carries the library (1.3 MB for the core) and no request
leaves it. It draws on a canvas, so 1,000 runs of 100 steps draw quickly, and it parses
several times faster than plotly.js (4.8 MB) in the same browser: see docs/benchmarks.md.
Every figure of a page goes through one ``components`` call, so the page holds one
document and one embedding script.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlog.errors import UsageError
from mlog.report.data import CHAMPION, OLDER, MetricChart, SeriesChart, TimelineEvent

PALETTE = ("#0969da", "#8250df", "#1a7f37", "#bc4c00", "#cf222e", "#1b7c83", "#6639ba",
           "#953800", "#4d2d00", "#0550ae")  # fmt: skip
CHAMPION_COLOR = "#bf8700"
OLDER_COLOR = "#8c959f"
REGRESSED_COLOR = "#cf222e"
HEIGHT = 330
INSTALL_HINT = "pip install 'mlog-cli[report]'"


def require() -> None:
    """A one-line error naming the extra when Bokeh is missing."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        raise UsageError(
            f"HTML pages draw charts with bokeh, which is not installed ({INSTALL_HINT})"
        ) from None


def scripts() -> str:
    """BokehJS itself as inline ``<script>`` elements, for the page's head."""
    require()
    from bokeh.resources import Resources

    return str(Resources(mode="inline", components=["bokeh"]).render_js())


def embed(figures: Sequence[Any]) -> tuple[str, list[str]]:
    """The one script that draws every figure, and one ``<div>`` per figure, in order."""
    if not figures:
        return "", []
    from bokeh.embed import components

    script, divs = components(list(figures))
    return str(script), [str(d) for d in divs]


def _figure(title: str, x_label: str, y_label: str, **extra: Any) -> Any:
    from bokeh.plotting import figure

    fig = figure(
        title=title, height=HEIGHT, sizing_mode="stretch_width", toolbar_location="above",
        tools="pan,box_zoom,wheel_zoom,reset,save", **extra,
    )  # fmt: skip
    fig.title.text_font_size = "14px"
    fig.xaxis.axis_label, fig.yaxis.axis_label = x_label, y_label
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.axis_label_text_font_style = "normal"
        axis.axis_label_text_font_size = "12px"
    fig.grid.grid_line_color = "#eaeef2"
    fig.outline_line_color = None
    fig.toolbar.logo = None
    return fig


def _goal(goal: str, guessed: bool = False) -> str:
    arrow = "lower is better" if goal == "minimize" else "higher is better"
    return arrow + (", guessed" if guessed else "")


def series_figure(chart: SeriesChart) -> Any:
    """A series over steps: older runs grey, the newest in colour, the champion thick and gold."""
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem

    fig = _figure(chart.name, "step", f"{chart.name} ({_goal(chart.goal)})")
    items, hovered = [], []
    for index, trace in enumerate(chart.traces):
        source = ColumnDataSource({"xs": trace.xs, "ys": trace.ys, "run": trace.runs})
        color, width, alpha = PALETTE[index % len(PALETTE)], 2.0, 1.0
        if trace.role == OLDER:
            color, width, alpha = OLDER_COLOR, 1.0, 0.35
        elif trace.role == CHAMPION:
            color, width, alpha = CHAMPION_COLOR, 4.0, 1.0
        line = fig.multi_line("xs", "ys", source=source, line_color=color, line_width=width,
                              line_alpha=alpha)  # fmt: skip
        items.append(LegendItem(label=trace.name, renderers=[line]))
        hovered.append(line)
    fig.add_tools(HoverTool(renderers=hovered, tooltips=[("run", "@run")], line_policy="nearest"))
    legend = Legend(items=items, click_policy="hide", label_text_font_size="11px", spacing=0)
    fig.add_layout(legend, "right")
    return fig


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def metric_figure(chart: MetricChart) -> Any:
    """Each model's runs in time order, its champion's value and tolerance band, regressions red."""
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem

    title = f"{chart.name} ({_goal(chart.goal, chart.guessed)})"
    fig = _figure(title, "run start (UTC)", chart.name, x_axis_type="datetime")
    several = len(chart.series) > 1
    items, hovered = [], []
    for index, series in enumerate(chart.series):
        source = ColumnDataSource({"x": [_when(t) for t in series.started_at],
                                   "y": series.values, "run": series.runs})  # fmt: skip
        color = PALETTE[index % len(PALETTE)]
        line = fig.line("x", "y", source=source, line_color=color, line_width=1.5)
        dots = fig.scatter("x", "y", source=source, color=color, size=6)
        items.append(LegendItem(label=series.model if several else "runs", renderers=[line, dots]))
        hovered.append(dots)
        bad = [i for i, regressed in enumerate(series.regressed) if regressed]
        if bad:
            marks = fig.scatter(
                [_when(series.started_at[i]) for i in bad], [series.values[i] for i in bad],
                marker="x", size=13, line_width=2.5, color=REGRESSED_COLOR,
            )  # fmt: skip
            items.append(LegendItem(label="regressed", renderers=[marks]))
    _baselines(fig, chart, several)
    fig.add_tools(HoverTool(renderers=hovered, tooltips=[("run", "@run"), (chart.name, "@y")]))
    fig.add_layout(Legend(items=items, orientation="horizontal", label_text_font_size="11px"),
                   "above")  # fmt: skip
    return fig


def _baselines(fig: Any, chart: MetricChart, several: bool) -> None:
    from bokeh.models import BoxAnnotation, Label, Span

    for base in chart.baselines:
        label = f"champion {base.alias}" + (f" ({base.model})" if several else "")
        if base.tolerance:
            fig.add_layout(
                BoxAnnotation(bottom=base.value - base.tolerance, top=base.value + base.tolerance,
                              fill_color=CHAMPION_COLOR, fill_alpha=0.15, line_alpha=0)
            )  # fmt: skip
            label += f" ± {base.tolerance:g}"
        fig.add_layout(Span(location=base.value, dimension="width", line_color=CHAMPION_COLOR,
                            line_dash="dashed", line_width=2))  # fmt: skip
        fig.add_layout(Label(x=8, y=base.value, x_units="screen", text=label, y_offset=3,
                             text_color=CHAMPION_COLOR, text_font_size="11px"))  # fmt: skip


MARKERS = {"register": "circle", "promote": "triangle", "approve": "star",
           "champion": "diamond", "data_review": "square"}  # fmt: skip


def timeline_figure(events: Sequence[TimelineEvent]) -> Any:
    """Registry events over time, one row per model, one marker per kind of event."""
    from bokeh.models import ColumnDataSource, HoverTool, LabelSet, Legend, LegendItem

    models = sorted({event.model for event in events})
    fig = _figure("registry events", "time (UTC)", "", x_axis_type="datetime", y_range=models)
    fig.height = 150 + 45 * len(models)
    items, hovered = [], []
    for index, (kind, marker) in enumerate(MARKERS.items()):
        chosen = [event for event in events if event.kind == kind]
        if not chosen:
            continue
        source = ColumnDataSource(
            {"x": [_when(e.at) for e in chosen], "y": [e.model for e in chosen],
             "label": [_event_label(e) for e in chosen], "by": [e.by for e in chosen]}
        )  # fmt: skip
        marks = fig.scatter("x", "y", source=source, marker=marker, size=13,
                            color=PALETTE[index % len(PALETTE)])  # fmt: skip
        fig.add_layout(LabelSet(x="x", y="y", text="label", source=source, y_offset=9,
                                x_offset=-10, text_font_size="11px"))  # fmt: skip
        items.append(LegendItem(label=kind, renderers=[marks]))
        hovered.append(marks)
    fig.add_tools(HoverTool(renderers=hovered, tooltips=[("event", "@label"), ("by", "@by")]))
    fig.add_layout(Legend(items=items, orientation="horizontal", label_text_font_size="11px"),
                   "above")  # fmt: skip
    return fig


def _event_label(event: TimelineEvent) -> str:
    parts = [event.version or event.run or "", f"→ {event.stage}" if event.stage else ""]
    return " ".join(part for part in parts if part)
