"""`python -m genre_classifier tag PATH... --output genres.csv` (or `serve`): the `genre-classifier` command."""

import sys

from .cli import main

sys.exit(main(prog="python -m genre_classifier"))
