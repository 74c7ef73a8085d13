"""End-to-end tests: this folder (helpers) and the messaging integration folder (the
local SMTP server and LINE/SMS provider of messaging_providers.py) on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for folder in (_HERE, _HERE.parents[1] / "services" / "messaging" / "tests" / "integration"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
