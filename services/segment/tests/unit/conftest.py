"""Unit tests of the segment domain: plain objects, no I/O."""

import sys
from pathlib import Path

# segment_strategies.py lives beside this file; importlib mode does not add it.
sys.path.insert(0, str(Path(__file__).resolve().parent))
