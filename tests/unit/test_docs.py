"""The README must stay true: its configuration table is the output of system.config."""

from pathlib import Path

from system.config import settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's table is stale: paste the output of `python -m system.config`"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in ci
