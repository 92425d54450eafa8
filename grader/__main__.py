"""Grade a class: python -m grader CLASS [--gradebook grades.csv] [pytest or grader options].

The same as `pytest --submissions=CLASS ...` run from the project folder, but safe from any
folder: pytest reads the project's pytest.ini, collects only the grading items, and writes
nothing (no cache) into the class folder or anywhere else but the gradebook.
"""
import sys
from pathlib import Path

import pytest

from grader import sandbox

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("\nGrader options (pytest --help lists them all): --gradebook FILE, --feedback DIR, --report FILE, "
              "--grade-seed N, --grade-timeout S, --grade-cell-timeout S, --grade-memory MIB, --grade-output KIB, "
              "--grade-jobs N")
        print("Back to the LMS (README, \"Back to the LMS\"): --moodle-worksheet FILE (writes FILE-graded.csv and "
              "FILE-feedback.zip beside it), --canvas-gradebook FILE (writes FILE-graded.csv), "
              "--lms-points scaled|scaled+bonus|total|total+bonus (default scaled), --lms-assignment TITLE_OR_ID")
        return 0 if argv else 2
    submissions, rest = argv[0], argv[1:]
    # The plugin starts the fork server once the run's options and class are checked: it imports
    # NumPy, matplotlib... while pytest collects. A refused run never starts it.
    # nbval re-runs the project's notebooks, which grading does not do: without it (and without
    # the options pytest.ini passes it) pytest starts in a fraction of the time.
    try:
        return int(pytest.main([f"--rootdir={ROOT}", "-c", str(ROOT / "pytest.ini"), "-p", "no:cacheprovider",
                                "-p", "no:nbval", "-o", "addopts=",
                                "-W", "ignore::pytest.PytestAssertRewriteWarning",  # grader is imported already
                                f"--submissions={submissions}", *rest, str(ROOT / "tests" / "test_questions.py")]))
    finally:
        sandbox.stop_fork_server()


if __name__ == "__main__":
    sys.exit(main())
