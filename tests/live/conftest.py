"""Make the connector test modules importable, so the live classes reuse their service-specific overrides."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "connectors"))
