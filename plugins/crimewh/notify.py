"""The one mailer: batch jobs that end, runs that fail, and (if asked) the nightly's summary.

Configured by the settings' SMTP fields, all from the environment (``CRIMEWH_SMTP_HOST``,
``_PORT``, ``_TLS`` = ``starttls`` | ``ssl`` | ``none``, ``_USER``, ``_PASSWORD``, ``_FROM``,
``_TO``: a comma-separated list). Without a host and a recipient nothing is sent, and the
log says so once per process rather than at every failure.

A mail that cannot be sent is logged and reported as ``False``, never raised: the failure it
was reporting must stay the error that Airflow, the job or the caller sees. The password is
given to ``smtplib`` and nothing else; no log line names it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import traceback
from email.message import EmailMessage
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crimewh.settings import Settings

log = logging.getLogger(__name__)
SUBJECT_PREFIX = "[crimewh]"
ERROR_LINES = 20  # of a failure's traceback, in the mail
TIMEOUT_S = 30
TLS_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
_said_unconfigured = False  # the "nothing is sent" line, once per process


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_to)


def send(settings: Settings, subject: str, body: str) -> bool:
    """Mail ``body`` to the settings' recipients; True once the server accepted it."""
    global _said_unconfigured  # noqa: PLW0603 - one line per process, not per mail
    if not configured(settings):
        if not _said_unconfigured:
            _said_unconfigured = True
            log.info(
                "no mail is sent: set CRIMEWH_SMTP_HOST and CRIMEWH_SMTP_TO (and, as needed, "
                "CRIMEWH_SMTP_PORT, _TLS, _USER, _PASSWORD, _FROM) to be notified"
            )
        return False
    message = EmailMessage()
    message["Subject"] = f"{SUBJECT_PREFIX} {subject}"
    message["From"] = settings.smtp_from or f"crimewh@{_hostname()}"
    message["To"] = ", ".join(settings.smtp_to)
    message.set_content(body)
    host, mode = settings.smtp_host, settings.smtp_tls
    port = settings.smtp_port or DEFAULT_PORTS[mode]
    try:
        if mode == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S,
                                    context=ssl.create_default_context())  # fmt: skip
        else:
            smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
        with smtp:
            if mode == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        who = f" as {settings.smtp_user}" if settings.smtp_user else ""
        log.error(
            "could not mail %r to %s via %s:%s (%s%s): %s",
            subject, message["To"], host, port, mode, who, error,
        )  # fmt: skip
        return False
    log.info("mailed %r to %s", subject, message["To"])
    return True


# -- what is sent --------------------------------------------------------------------------------
def batch_job_finished(settings: Settings, job: dict) -> bool:
    """A batch scoring job's end: its counts, why it failed, and the link to its page."""
    status = job["status"]
    name = job.get("file_name") or "the upload"
    if status == "succeeded":
        subject = (
            f"scoring job {job['job_id']}: {name} scored, {job.get('scored') or 0:,} of "
            f"{job.get('rows') or 0:,} rows"
        )
    else:
        subject = f"scoring job {job['job_id']} failed: {name}"
    lines = [
        f"Job:        {job['job_id']}",
        f"File:       {name} ({job.get('file_bytes') or 0:,} bytes)",
        f"Submitted:  {job.get('submitted_at')} by {job.get('submitted_by')}",
        f"Status:     {status}",
        f"Rows:       {job.get('rows') if job.get('rows') is not None else 'unknown'}",
        f"Scored:     {job.get('scored') if job.get('scored') is not None else 0}",
        f"Not scored: {job.get('bad_rows') if job.get('bad_rows') is not None else 0}",
    ]
    result = job.get("result") or {}
    if result.get("model_version"):
        lines.append(f"Model:      arrest {result['model_version']}")
    if job.get("error"):
        lines += ["", "Why it failed:", job["error"]]
    if job.get("url"):
        lines += ["", f"The job, its scored CSV and the rows that were not scored: {job['url']}"]
    if job.get("log_url"):
        lines.append(f"Airflow log: {job['log_url']}")
    return send(settings, subject, "\n".join(lines) + "\n")


def task_failed(settings: Settings, context) -> bool:
    """An Airflow task's failure (an ``on_failure_callback``): the DAG, the task, the run,
    the error's last lines and the log's URL."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    error = context.get("exception")
    subject = f"{dag_id}.{task_id} failed ({run_id})"
    lines = [
        f"DAG:   {dag_id}",
        f"Task:  {task_id}",
        f"Run:   {run_id}",
        f"Try:   {getattr(ti, 'try_number', '?')}",
        f"Log:   {_log_url(ti)}",
        "",
        "The error's last lines:",
        error_tail(error),
    ]
    return send(settings, subject, "\n".join(lines) + "\n")


def run_summary(settings: Settings, summary: dict) -> bool:
    """The nightly's summary, when ``CRIMEWH_NOTIFY_SUMMARY`` asks for it."""
    if not settings.notify_summary:
        return False
    import json

    failed = summary.get("failed") or []
    subject = f"nightly run {summary.get('status')}" + (
        f": {len(failed)} task(s) failed" if failed else ""
    )
    return send(settings, subject, json.dumps(summary, indent=2, default=str) + "\n")


def error_tail(error: BaseException | None, lines: int = ERROR_LINES) -> str:
    """The last ``lines`` lines of an exception's traceback (its message last)."""
    if error is None:
        return "(Airflow gave no exception: see the log)"
    text = "".join(traceback.format_exception(error)).rstrip().splitlines()
    return "\n".join(text[-lines:])


def _log_url(ti) -> str:
    try:
        return ti.log_url
    except Exception:
        return "(not available)"


def _hostname() -> str:
    import socket

    return socket.gethostname() or "localhost"
