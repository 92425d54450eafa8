"""A grader kept warm for the tests of one pytest process (conftest.grade_warm starts it).

`python -m grader CLASS ...` spends 1.7 s of CPU before it grades anything (3.3 s for a class that
names scikit-learn): Python and pytest start, and its fork server imports NumPy, matplotlib and
IPython, and scikit-learn if asked. This one's server imports scikit-learn from the start, so
that every class finds what it needs. The tests that grade a class to read its grades, reasons
and pages (not to check how the command starts, ends or is interrupted) send their command line
here instead: this process runs the same
`grader.__main__.main(argv)`, in the folder asked, with its output going to the files asked, and
keeps the fork server it started for the next class. The README's commands, the attacks on the
grading machine and the interrupted runs still start `python -m grader` afresh.

Protocol: one JSON object per line on stdin ({"argv", "cwd", "stdout", "stderr", "env"}: env is
what the run's environment changes, such as TMPDIR); one line per run on stdout ({"returncode",
"threads"}: the threads a run left running, which would share this process with the next runs).
It ends when stdin closes. Between runs it puts back the folder, the environment, sys.path, the
temp folder and the garbage collector as they were; the fork server writes to this process's
stderr (in a fresh run, to the command's).
"""
import gc
import json
import os
import sys
import tempfile
import threading
import traceback


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != here]  # as python -m grader has it
    replies = os.fdopen(os.dup(1), "w")  # fds 1 and 2 are lent to each run; the server gets stderr
    os.dup2(2, 1)
    from grader import __main__ as command, sandbox
    sandbox.start_fork_server(contained=True)
    sandbox.stop_fork_server = lambda: None  # kept for the next run; it ends with this process
    for line in sys.stdin:
        request = json.loads(line)
        returncode, threads = run(command, request)
        replies.write(json.dumps({"returncode": returncode, "threads": threads}) + "\n")
        replies.flush()


def run(command, request):
    """(the command's exit status, the names of the threads it left running)"""
    folder, search_path = os.getcwd(), list(sys.path)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    for fd, name in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    threads = set(threading.enumerate())
    environment = dict(os.environ)
    os.environ.update(request.get("env", {}))
    tempfile.tempdir = None  # found again from TMPDIR
    try:
        os.chdir(request["cwd"])
        returncode = command.main(request["argv"])
    except SystemExit as end:
        returncode = end.code if isinstance(end.code, int) else 1
    except BaseException:  # a grader error: the test sees it as the command's would be seen
        traceback.print_exc()
        returncode = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, kept in zip((1, 2), saved):
            os.dup2(kept, fd)
            os.close(kept)
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        tempfile.tempdir = None
        sys.path[:] = search_path
        gc.unfreeze()  # the grading run froze its objects for its own life (grader/plugin.py)
        gc.collect()
    return returncode, sorted(thread.name for thread in set(threading.enumerate()) - threads if thread.is_alive())


if __name__ == "__main__":
    main()
