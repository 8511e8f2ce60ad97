"""`python -m genre_classifier tag PATH... --output genres.csv`: tag many files (see genre_classifier/tag.py)."""

import argparse
import sys

from . import tag

parser = argparse.ArgumentParser(prog="python -m genre_classifier")
commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
tag.add_arguments(commands.add_parser("tag", help="classify every audio or video file under PATH into a CSV",
                                      description=tag.__doc__.split("\n\n")[0]))  # fmt: skip
sys.exit(tag.run_logged(parser.parse_args()))
