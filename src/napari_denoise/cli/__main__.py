"""``python -m napari_denoise.cli ...``: the same as the ``napari-denoise`` command."""

import sys

from . import main

sys.exit(main())
