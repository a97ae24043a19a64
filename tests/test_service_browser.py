"""The upload page in headless Chromium (Debian's `chromium` through Playwright's
``executable_path``; Playwright's own browser download cannot work offline): pick a file,
upload it, follow the job to its end, download the result and compare it with
`crimewh score --file` on the same file."""

import test_service as shared

# the service, its stand-in champions and the crimes CSV, as test_service.py sets them up
# (module fixtures: this module gets its own)
champions = shared.champions
service_env = shared.service_env
service = shared.service
crimes_csv = shared.crimes_csv


def test_upload_follow_the_job_and_download(
    service, airflow, chromium, crimes_csv, tmp_path, capsys
):
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{service}/")
    assert page.title() == "Score Chicago crimes"
    page.set_input_files("#file", str(crimes_csv))
    page.fill("#submitted_by", "browser@crimewh.test")
    page.click("#upload")
    page.wait_for_url(f"{service}/jobs/*")
    job_id = page.url.rsplit("/", 1)[-1]
    # the page refreshes itself until the job has ended; then it shows the links
    page.locator("#download").wait_for(timeout=240_000)
    assert page.locator("#status").inner_text() == "succeeded"
    assert "date 'yesterday' is not a date and time" in page.locator("#bad-rows").inner_text()
    screenshot = tmp_path / "upload-page-finished-job.png"
    page.screenshot(path=str(screenshot), full_page=True)
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "crimes.scored.csv"
    saved = tmp_path / "downloaded.csv"
    download.save_as(str(saved))
    context.close()

    expected = shared.score_file(airflow.settings, crimes_csv, tmp_path / "cli.scored.csv")
    assert saved.read_bytes() == expected
    with capsys.disabled():
        print(f"\nscreenshot of job {job_id}'s page: {screenshot}")
