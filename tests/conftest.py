import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
# Tests that go through the CLI must not write into the user's compilation cache (test_compile_cache sets its own).
os.environ.setdefault("WRL_COMPILE_CACHE", "off")
