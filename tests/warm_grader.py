"""A grader kept warm for the tests of one pytest process (conftest.grade_warm starts it).

`python -m grader CLASS ...` spends 2.3 s of CPU before it grades anything: Python and pytest
start, and its fork server imports NumPy, matplotlib, scikit-learn and IPython. The tests that
grade a class to read its grades, reasons and pages (not to check how the command starts, ends or
is interrupted) send their command line here instead: this process runs the same
`grader.__main__.main(argv)`, in the folder asked, with its output going to the files asked, and
keeps the fork server it started for the next class. The README's commands, the attacks on the
grading machine and the interrupted runs still start `python -m grader` afresh.

Protocol: one JSON object per line on stdin ({"argv", "cwd", "stdout", "stderr", "env"}: env is
what the run's environment changes, such as TMPDIR); one line per run on stdout ({"returncode"}).
It ends when stdin closes.
"""
import json
import os
import sys
import tempfile
import threading
import traceback


def main():
    from grader import __main__ as command, sandbox
    sandbox.start_fork_server(contained=True)
    sandbox.stop_fork_server = lambda: None  # kept for the next run; it ends with this process
    replies = os.fdopen(os.dup(1), "w")      # fds 1 and 2 are lent to each run
    for line in sys.stdin:
        request = json.loads(line)
        replies.write(json.dumps({"returncode": run(command, request)}) + "\n")
        replies.flush()


def run(command, request):
    folder = os.getcwd()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    threads = set(threading.enumerate())
    environment = dict(os.environ)
    os.environ.update(request.get("env", {}))
    tempfile.tempdir = None  # found again from TMPDIR
    try:
        os.chdir(request["cwd"])
        return command.main(request["argv"])
    except SystemExit as end:
        return end.code if isinstance(end.code, int) else 1
    except BaseException:  # a grader error: the test sees it as the command's would be seen
        traceback.print_exc()
        return 3
    finally:
        left = [thread.name for thread in set(threading.enumerate()) - threads if thread.is_alive()]
        if left:  # the next run would share this process with them: say so where the test looks
            print(f"warm grader: threads left running after the run: {left}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, kept in zip((1, 2), saved):
            os.dup2(kept, fd)
            os.close(kept)
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        tempfile.tempdir = None


if __name__ == "__main__":
    main()
