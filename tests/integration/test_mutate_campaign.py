"""One cheap mutant end to end: planted in a copy of system/, one shipped scenario run through
`harness run` on the local backend against the copy (HARNESS_SYSTEM_ROOT), caught by a check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.mutate.campaign import CampaignOptions, run_campaign, write_outputs
from harness.mutate.matrix import CAUGHT
from harness.mutate.table import by_name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_no_retries_mutant_is_caught_by_retry_recovers(tmp_path: Path) -> None:
    lines: list[str] = []
    opts = CampaignOptions(out=tmp_path, budget=240, say=lines.append)
    campaign = run_campaign([by_name()["no-retries"]], opts)
    (result,) = campaign.results
    (cell,) = result.cells  # stops at the first catch: one run
    assert cell.scenario == "retry-recovers"
    assert cell.verdict == CAUGHT, f"{cell} / {lines}"
    assert "throughput_min" in cell.caught_by  # every task died at its first failure: none completed
    run = json.loads((Path(cell.run_dir) / "results.json").read_text())
    assert run["passed"] is False
    files = write_outputs(campaign, tmp_path)
    doc = json.loads(files["json"].read_text())
    assert (doc["caught"], doc["total"], doc["passed"]) == (1, 1, True)
    assert "retry-recovers" in files["html"].read_text()
    # the real checkout was never touched
    root = Path(__file__).resolve().parents[2]
    assert "if failures <= tonumber(f[4]) then" in (root / "system/lua/finish.lua").read_text()
