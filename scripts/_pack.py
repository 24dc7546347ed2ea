"""Import this repository as a package, the way ComfyUI does, so scripts and tests share the pack's relative imports.

The folder may have any name (users clone it under their own), so it is loaded under the fixed name `longform_pack`.
"""

import importlib.util
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parent.parent
PACK_NAME = "longform_pack"


def load_pack():
    """Import (once) and return the pack's root package."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, PACK_ROOT / "__init__.py", submodule_search_locations=[str(PACK_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module
