"""``python -m ssclip`` (and ``torchrun --nproc-per-node N -m ssclip train ...``): the ``ssclip`` command."""

import sys

from ssclip.cli import main

sys.exit(main())
