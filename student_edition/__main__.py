"""python -m student_edition [--solutions DIR] [--out DIR]: write the student edition."""
import argparse
import sys
from pathlib import Path

from student_edition import MarkerError, write_edition

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m student_edition", description=__doc__)
    parser.add_argument("--solutions", default=ROOT, type=Path, help="folder of the solution notebooks")
    parser.add_argument("--out", default=ROOT / "exercises", type=Path, help="folder for the edition")
    options = parser.parse_args(argv)
    try:
        for path in write_edition(options.solutions, options.out):
            print(f"wrote {path}")
    except (MarkerError, FileNotFoundError) as error:
        sys.exit(f"student_edition: {error}")


if __name__ == "__main__":
    main()
