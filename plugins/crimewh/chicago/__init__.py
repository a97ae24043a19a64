"""Chicago "Crimes - 2001 to Present" (Socrata dataset ijzp-q8t2): pulls, parsing, a local server.

* ``synth``: synthetic rows that follow the published statistics, with each row's true arrest
  probability kept in a side file;
* ``server``: a local SODA-compatible HTTP server for tests, the demo and the benchmark;
* ``client``: sodapy 2.2.0 wrapped for a nightly job (keyset paging, timeouts, retries);
* ``parse``: the API's JSON rows to a typed Arrow table;
* ``pull``: incremental and backfill pulls, checkpointed page by page, into the lake and raw.
"""

DATASET_ID = "ijzp-q8t2"

# The 22 API fields in the dataset's own order (docs/reference/chicago-crimes-soda.md §1.1).
API_FIELDS = (
    "id", "case_number", "date", "block", "iucr", "primary_type", "description",
    "location_description", "arrest", "domestic", "beat", "district", "ward", "community_area",
    "fbi_code", "x_coordinate", "y_coordinate", "year", "updated_on", "latitude", "longitude",
    "location",
)  # fmt: skip
FIRST_YEAR, LAST_YEAR = 2001, 2025  # what the synthetic generator covers
LOCATION_SHAPES = ("legacy", "point")  # the `location` objects it can serve (§1.3)
