"""The chaos harness: run the task queue, inject faults from YAML scenarios, record, check, report.

Pure core (no I/O): `scenario` (the model), `loader` (YAML -> Scenario, all errors at once),
`schedule` (fault timeline from scenario + seed), `loadshape` (submit plan), `checks` and
`stats` (judge a recorded run). `history` reads and writes the run directory's files.
"""
