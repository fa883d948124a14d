"""``python -m ssclip`` (and ``torchrun --nproc-per-node N -m ssclip train ...``): the ``ssclip`` command."""

import sys

from ssclip.app.cli import main

sys.exit(main())
