"""Names in a run folder shared by the runner, which writes it, and the reports, which read it
(kept apart from both so that reading a report does not import the models)."""

RESULTS_FILE = "results.json"
