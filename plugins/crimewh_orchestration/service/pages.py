"""The upload page and the job page: plain HTML written here, with no external asset (no
script, font or stylesheet from elsewhere), so the pages work offline and leak nothing.

Every value that came from a person (a file name, an error quoting a cell) is escaped. The
job page refreshes itself every few seconds until the job has ended.
"""

from __future__ import annotations

from html import escape

REFRESH_S = 2
ERRORS_SHOWN = 100

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
form { border: 1px solid #ccc; border-radius: 6px; padding: 1rem 1.25rem; }
label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
input[type=text], input[type=password] { width: 22rem; padding: .3rem; }
button { margin-top: 1rem; padding: .45rem 1.2rem; font-size: 1rem; }
table { border-collapse: collapse; margin-top: .5rem; }
td, th { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
.status { font-size: 1.2rem; font-weight: 600; }
.succeeded { color: #11772d; } .failed { color: #b3261e; }
.queued, .running { color: #8a5a00; }
.note { color: #555; font-size: .9rem; }
.error { border-left: 4px solid #b3261e; padding: .5rem 1rem; background: #fdf0ef; }
"""


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width">{meta}'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def upload_page(*, limit_mb: int, needs_token: bool, error: str | None = None) -> str:
    token = (
        '<label for="token">API token</label>'
        '<input type="password" id="token" name="token" autocomplete="off" required>'
        if needs_token
        else ""
    )
    problem = f'<p class="error" id="problem">{escape(error)}</p>' if error else ""
    body = f"""
<h1>Score a CSV of Chicago crimes</h1>
<p>Upload crimes in the City's "Crimes - 2001 to Present" schema: the portal's CSV export
(Date, Primary Type, Location Description, ...) or the API's field names (date, primary_type,
...). Each row gets the arrest model's probability; rows that cannot be scored keep their
columns and get the reason. The file is scored as a batch job in Airflow; this page then
follows the job to its download links.</p>
{problem}
<form method="post" action="/v1/uploads" enctype="multipart/form-data">
  <label for="file">CSV file (at most {limit_mb:,} MB)</label>
  <input type="file" id="file" name="file" accept=".csv,.txt,text/csv" required>
  <label for="submitted_by">Your name or e-mail (kept with the job)</label>
  <input type="text" id="submitted_by" name="submitted_by" maxlength="200">
  {token}
  <br><button type="submit" id="upload">Upload and score</button>
</form>
<p class="note">Decision support only: a probability is never the sole basis for a decision
about a case or a person. The JSON API and its documentation: <a href="/docs">/docs</a>;
the models: <a href="/v1/models">/v1/models</a>; health: <a href="/health">/health</a>.</p>
"""
    return _page("Score Chicago crimes", body)


def job_page(job: dict) -> str:
    status = job["status"]
    done = status in ("succeeded", "failed")
    rows = [
        ("File", f"{job['file_name']} ({job['file_bytes']:,} bytes)"),
        ("Submitted", f"{job['submitted_at']:%Y-%m-%d %H:%M:%S %Z} by {job['submitted_by']}"),
        ("Progress", job.get("progress") or ""),
    ]
    if job.get("rows") is not None:
        rows += [
            ("Rows", f"{job['rows']:,}"),
            ("Scored", f"{job['scored']:,}"),
            ("Not scored", f"{job['bad_rows']:,}"),
        ]
    if job.get("model_version"):
        rows.append(("Model", f"arrest {job['model_version']}"))
    if job.get("airflow_run"):
        rows.append(("Airflow run", job["airflow_run"]))
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    parts = [
        f"<h1>Scoring job {escape(job['job_id'])}</h1>",
        f'<p class="status {status}" id="status">{escape(status)}</p>',
        f"<table>{table}</table>",
    ]
    if status == "failed" and job.get("error"):
        parts.append(f'<h2>Why it failed</h2><pre class="error">{escape(job["error"])}</pre>')
    if job.get("result_csv"):
        parts.append(
            f'<h2>Results</h2><p><a id="download" href="{escape(job["result_csv"])}" download>'
            "Download the scored CSV</a> (every row, with arrest_probability, model_version "
            "and error columns)"
            + (
                f' · <a id="errors-csv" href="{escape(job["errors_csv"])}" download>the rows '
                "that could not be scored</a>"
                if job.get("bad_rows")
                else ""
            )
            + "</p>"
        )
    errors = job.get("errors") or []
    if errors:
        shown = errors[:ERRORS_SHOWN]
        lines = "".join(
            f"<tr><td>{e['row']}</td><td>{e['line']}</td><td>{escape(', '.join(e['fields']))}"
            f"</td><td>{escape(e['error'])}</td></tr>"
            for e in shown
        )
        more = (job.get("bad_rows") or 0) - len(shown)
        parts.append(
            "<h2>Rows that could not be scored</h2>"
            '<table id="bad-rows"><tr><th>Row</th><th>Line</th><th>Fields</th><th>Reason</th>'
            f"</tr>{lines}</table>"
            + (f'<p class="note">… and {more:,} more: see the CSV above.</p>' if more > 0 else "")
        )
    if not done:
        parts.append(f'<p class="note">This page refreshes every {REFRESH_S} s.</p>')
    parts.append('<p><a href="/">Score another file</a></p>')
    return _page(f"Scoring job {job['job_id']}: {status}", "\n".join(parts), refresh=not done)


def error_page(status: int, detail: str) -> str:
    body = (
        f"<h1>The upload was refused ({status})</h1>"
        f'<p class="error" id="problem">{escape(detail)}</p><p><a href="/">Back</a></p>'
    )
    return _page(f"Refused: {status}", body)
