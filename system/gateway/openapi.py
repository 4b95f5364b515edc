"""The OpenAPI 3 description of the API: a static document (openapi.json beside this module)
whose enums are filled from the code (task types, priorities, statuses), so they cannot drift.
tests/integration/test_openapi.py keeps its paths equal to the Flask routes and fuzzes it."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from system.handlers import REGISTRY
from system.keys import PRIORITIES
from system.model import STATUSES

DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def _document() -> dict[str, Any]:
    doc = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    request = schemas["TaskRequest"]["properties"]
    request["type"]["enum"] = list(REGISTRY)
    request["priority"]["enum"] = list(PRIORITIES)
    schemas["Task"]["properties"]["status"]["enum"] = list(STATUSES)
    for param in doc["paths"]["/tasks"]["get"]["parameters"]:
        if param["name"] == "status":
            param["schema"]["enum"] = list(STATUSES)
        elif param["name"] == "type":
            param["schema"]["enum"] = list(REGISTRY)
    return doc


def openapi_document() -> dict[str, Any]:
    """A copy, so no caller can change the served document."""
    return copy.deepcopy(_document())
