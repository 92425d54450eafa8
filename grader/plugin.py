"""The pytest side of the grader: options, one item per (student, question), the table and the gradebook."""
import gc
import json
import os
import shlex
import tempfile
from pathlib import Path

import pytest

from grader import gradebook, lms, questions
from grader.grading import Grading
from grader.intake import ClassError, Student, find_class, remove_tree
from grader.questions import ALL_NOTEBOOKS, BONUS_IDS, QUESTION_IDS
from grader.sandbox import Limits, one_line, preload_for, preload_line, start_fork_server

ROOT = Path(__file__).resolve().parent.parent
ITEMS_FILE = ROOT / "tests" / "test_questions.py"
OWN_NOTEBOOKS = "solutions"  # the student name of the project's own notebooks


def pytest_addoption(parser):
    group = parser.getgroup("grader", "grading students' notebooks (README: Grading a class)")
    group.addoption("--submissions", metavar="DIR",
                    help="grade the class in DIR (a folder of student folders, one student's folder, "
                         "an LMS download or a .zip)")
    group.addoption("--gradebook", metavar="FILE", help="write the points to this CSV file")
    group.addoption("--feedback", metavar="DIR", help="write one HTML page of feedback per student into DIR")
    group.addoption("--report", metavar="FILE", help="write the class report (HTML) for the instructor to FILE")
    group.addoption("--moodle-worksheet", metavar="FILE",
                    help="Moodle's grading worksheet (Download grading worksheet): write FILE-graded.csv beside it "
                         "with each graded student's grade and comment, and FILE-feedback.zip of feedback pages "
                         "(README: Back to the LMS)")
    group.addoption("--canvas-gradebook", metavar="FILE",
                    help="Canvas's gradebook export: write FILE-graded.csv beside it with the assignment's "
                         "column filled for each graded student")
    group.addoption("--lms-points", default="scaled", metavar="MODE", choices=lms.POINT_MODES,
                    help="the points the LMS gets: scaled (default: the total of eight scaled to the LMS "
                         "assignment's maximum), scaled+bonus, total (0-8), total+bonus")
    group.addoption("--lms-assignment", metavar="TITLE_OR_ID",
                    help="the Canvas assignment to fill, when the export has more than one")
    group.addoption("--grade-seed", type=int, default=None, metavar="N",
                    help="draw the hidden inputs from this seed (default: a new one each run, printed)")
    group.addoption("--grade-timeout", type=float, default=60.0, metavar="SECONDS",
                    help="wall-clock budget of one file, across its re-runs (default 60)")
    group.addoption("--grade-cell-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="limit for one cell, or one call of the student's code by a check (default 10)")
    group.addoption("--grade-memory", type=int, default=2048, metavar="MIB",
                    help="memory a file may use on top of the preloaded libraries (default 2048)")
    group.addoption("--grade-output", type=int, default=1024, metavar="KIB",
                    help="what one cell may print (default 1024)")
    group.addoption("--grade-no-contain", action="store_true",
                    help="run files without namespaces (own session and limits only); for measuring, or "
                         "where the kernel refuses them")
    group.addoption("--grade-jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="files run at the same time (default: the number of CPUs)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """`--submissions DIR` as two words: pytest has already taken DIR for a test path (it would
    import a student's conftest.py and put its cache in the class). Make it one word, and
    refuse when pytest has picked another folder than the project as its rootdir."""
    for index, arg in enumerate(args[:-1]):
        if arg == "--submissions":
            args[index:index + 2] = [f"--submissions={args[index + 1]}"]
            break
    else:
        return
    if early_config.rootpath != ROOT:
        raise pytest.UsageError(
            f"pytest took the class folder for a test folder (rootdir {early_config.rootpath}). "
            f"Grade with: python -m grader {shlex.quote(args[index][len('--submissions='):])} [options], "
            f"or run pytest from {ROOT} with --submissions=DIR")


def own_notebooks():
    files = [Path(name) for name in ALL_NOTEBOOKS if (ROOT / name).is_file()]
    return [Student(OWN_NOTEBOOKS, ROOT, files)]


def nbval_on(config):
    return bool(config.getoption("nbval", False) or config.getoption("nbval_lax", False))


def add_solution_notebooks(config):
    """`pytest --nbval` with no path runs the solution notebooks as well as tests/. pytest.ini's
    testpaths names only tests/: a notebook named there is "not found" when nbval is off."""
    if (config.args_source == pytest.Config.ArgsSource.TESTPATHS and config.rootpath == ROOT
            and nbval_on(config) and not config.getoption("submissions")):
        config.args = [*config.args, *(str(path) for path in sorted(ROOT.glob("ex0*.ipynb")))]


def pytest_configure(config):
    add_solution_notebooks(config)
    option = config.getoption
    for name in ("grade_timeout", "grade_cell_timeout", "grade_memory", "grade_output", "grade_jobs"):
        if option(name) <= 0:
            raise pytest.UsageError(f"--{name.replace('_', '-')} must be positive, got {option(name)}")
    for name in ("gradebook", "report", "feedback"):
        if option(name):
            problem = gradebook.check_writable(option(name) if name != "feedback" else Path(option(name)) / "x",
                                               f"--{name} {option(name)}")
            if problem:
                raise pytest.UsageError(problem)
    config.lms_sheets = read_lms_files(config)
    passed_over = []
    if option("submissions"):
        workdir = tempfile.mkdtemp(prefix="grader-class-")  # the unzipped class, Canvas's files grouped
        config.add_cleanup(lambda: remove_tree(workdir))    # at the end of the run, however it ends
        try:
            students, passed_over = find_class(option("submissions"), workdir)
        except ClassError as error:
            raise pytest.UsageError(str(error)) from None
    else:
        students = own_notebooks()
    seed = option("grade_seed")
    if hasattr(config, "workerinput"):  # under pytest-xdist: the controller's seed
        seed = config.workerinput["grade_seed"]
    limits = Limits(timeout=option("grade_timeout"), cell_timeout=option("grade_cell_timeout"),
                    memory_mib=option("grade_memory"), output_kib=option("grade_output"),
                    contain=not option("grade_no_contain"),
                    preload=preload_for(students))
    config.grading = Grading(students, limits, option("grade_jobs"), seed)
    config.grading.passed_over = passed_over
    config.pluginmanager.register(GradeReport(config), "grade-report")


def read_lms_files(config):
    """Read and check the LMS downloads before grading: a wrong file stops the run now, not after it."""
    sheets = {}
    for kind, read in (("moodle_worksheet", lms.read_moodle_worksheet), ("canvas_gradebook", lms.read_canvas_gradebook)):
        path = config.getoption(kind)
        if not path:
            continue
        if not config.getoption("submissions"):
            raise pytest.UsageError(f"--{kind.replace('_', '-')} fills in the grades of a class: add --submissions=DIR")
        try:
            sheets[kind] = read(path)
            if kind == "canvas_gradebook":
                lms.canvas_assignment(sheets[kind], config.getoption("lms_assignment"))
        except lms.LMSError as error:
            raise pytest.UsageError(str(error)) from None
        problem = gradebook.check_writable(lms.output_path(path, "graded.csv"), f"--{kind.replace('_', '-')}")
        if problem:
            raise pytest.UsageError(problem)
    return sheets


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: every worker draws the same hidden inputs as the controller."""
    node.workerinput["grade_seed"] = node.config.grading.seed


def containment_line(grading):
    notes = grading.containment
    if notes is None:
        return "containment: off (--grade-no-contain): own session and limits only; a notebook can read and change anything you can"
    budgets = [name for name, what in (("CPU", "cpu cgroup"), ("process", "pids cgroup"), ("memory", "memory cgroup"))
               if any(what in line for line in notes.applied)]
    budgets = ", ".join(budgets[:-1]) + " and " + budgets[-1] if len(budgets) > 1 else "".join(budgets)
    if notes.missing:
        return "containment: partial, it could not: " + "; ".join(notes.missing)
    how = ("as PID 1 of its own PID namespace, in its own mount and network namespaces"
           if "PID 1 of its own PID namespace" in notes.applied  # as root: contain.fork
           else "in its own user, mount, PID and network namespaces")
    return (f"containment: each file {how}, in a root of its own (the software, read-only; its home, a copy "
            f"of the student's folder; /tmp; the course data: nothing else), without capabilities, "
            f"with {budgets} budgets for all it starts")


def pytest_report_header(config):
    grading = config.grading
    lines = [f"grader: {len(grading.students)} student(s), seed {grading.seed} "
             f"(--grade-seed {grading.seed} reproduces this run)", containment_line(grading),
             preload_line(grading.limits.preload)]
    if (config.args_source == pytest.Config.ArgsSource.TESTPATHS and not nbval_on(config)
            and not config.getoption("submissions")):
        lines.append("notebooks: not re-run; `pytest --nbval` (make test) re-runs the solution notebooks too")
    return lines


def pytest_ignore_collect(collection_path, config):
    """With --submissions, the run is a grading run: only the question items are collected."""
    if config.getoption("submissions") and collection_path != ITEMS_FILE \
            and collection_path not in ITEMS_FILE.parents:
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo):
    """Ctrl-C can land in a frame that Python 3.11 gives no line number (a thread's wait): pytest
    would then crash while printing the traceback, instead of saying the run was interrupted."""
    from _pytest._code.code import Traceback
    entries = [entry for entry in excinfo.traceback if entry._rawentry.tb_lineno is not None]
    excinfo.traceback = Traceback(entries)


class Graded:
    """The parameter of one item: a student's question, graded on demand."""

    def __init__(self, student, question, grading):
        self.student, self.question, self.grading = student, question, grading

    def outcome(self):
        return self.grading.outcome(self.student, self.question)


def pytest_generate_tests(metafunc):
    if "graded" in metafunc.fixturenames:
        grading = metafunc.config.grading
        params = [Graded(student, question, grading) for student in grading.students
                  for question in QUESTION_IDS + BONUS_IDS]
        metafunc.parametrize("graded", params, ids=[f"{p.student.name}-{p.question}" for p in params])


def pytest_sessionstart(session):
    """A grading run starts the fork server now, its options and class checked: it imports its
    libraries during the collection. Not in pytest-xdist's controller, which grades nothing
    itself, nor for --collect-only."""
    config = session.config
    if (config.getoption("submissions") and not config.pluginmanager.has_plugin("dsession")
            and not config.option.collectonly):
        start_fork_server(contained=config.grading.limits.contain, preload=config.grading.limits.preload)


def pytest_collection_finish(session):
    if hasattr(session.config, "workerinput"):
        return  # under pytest-xdist each worker grades what it is given, on demand
    if session.config.option.collectonly:
        return  # --collect-only lists the items: nothing is graded
    students = [item.callspec.params["graded"].student for item in session.items
                if hasattr(item, "callspec") and "graded" in item.callspec.params]
    if session.config.getoption("submissions"):
        # pytest's own objects and the items live to the end of the run: the garbage collector
        # need not go through them again every time it runs (a third of this process's time).
        gc.freeze()
    session.config.grading.start(dict.fromkeys(students))


class GradeReport:
    """Collects the points from the items' reports (also under xdist); prints and writes them."""

    def __init__(self, config):
        self.config = config
        self.details = {}  # (student name, question) -> every property of its item
        self.notes = []

    def pytest_runtest_logreport(self, report):
        properties = dict(report.user_properties)
        if report.when == "call" and "question" in properties:
            key = (properties["student"], properties["question"])
            self.details[key] = properties

    def rows(self):
        """One row per student: points per question ('' if not graded), the total of the eight, bonus."""
        rows = []
        names = [student.name for student in self.config.grading.students]
        for name in dict.fromkeys(names + [student for student, _ in self.details]):
            if not any((name, question) in self.details for question in QUESTION_IDS + BONUS_IDS):
                continue
            points = [self.details.get((name, question), {}).get("points", "") for question in QUESTION_IDS]
            bonus = [self.details.get((name, question), {}).get("points", "") for question in BONUS_IDS]
            rows.append([name, *points, sum(p for p in points if p != ""), *bonus])
        return rows

    def pytest_sessionfinish(self, session, exitstatus):
        self.config.grading.close()
        if hasattr(self.config, "workerinput"):
            return
        self.write_gradebook(exitstatus)  # first: no page or report can lose it
        self.write_pages(exitstatus)
        self.write_lms(exitstatus)

    def write_gradebook(self, exitstatus):
        path = self.config.getoption("gradebook")
        if not path:
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.notes.append(f"gradebook {path} not written: the run was interrupted")
            return
        ids = {student.name: gradebook.identity(student) for student in self.config.grading.students}
        try:
            gradebook.write(path, ["student", gradebook.ID_COLUMN, *QUESTION_IDS, "total", *BONUS_IDS],
                            [[row[0], ids.get(row[0], ""), *row[1:]] for row in self.rows()])
        except Exception as error:
            self.notes.append(f"gradebook {path} NOT written ({type(error).__name__}: {printable(error, 300)}); "
                              "the grades are in the table above")
            return
        self.notes.append(f"gradebook written to {path} (seed {self.config.grading.seed})")

    def results(self):
        """One StudentResult per student with a graded question, for the feedback and the report."""
        students = []
        for student in self.config.grading.students:
            graded = {q: p for (name, q), p in self.details.items() if name == student.name}
            if not graded:
                continue
            try:
                students.append(self.student_result(student, graded))
            except Exception as error:  # this student's feedback and report rows only
                self.notes.append(f"feedback and class report leave out {printable(student.name, 80)}: "
                                  f"{type(error).__name__}: {printable(error, 200)}")
        return students

    def student_result(self, student, graded):
        from grader.results import QuestionResult, StudentResult
        from grader.sandbox import read_cells
        result = StudentResult(student.name)
        for question, p in graded.items():
            result.questions[question] = QuestionResult(
                question, p["points"], p["reason"], p.get("file") or None, p.get("kind", "ok"),
                float(p["expected"]) if p.get("expected") else None, float(p["got"]) if p.get("got") else None)
        result.problems = json.loads(next(iter(graded.values())).get("problems", "[]"))
        for relative in student.files:
            try:
                result.files[str(relative)] = "\n\n".join(read_cells(student.folder / relative)[1])
            except ValueError:
                pass
            for number, code in enumerate(self.compiled(student, relative), 1):
                result.files[f"{relative}, code compiled at run time ({number})"] = code
        return result

    def compiled(self, student, relative):
        """The code a file's cells handed to exec() or compile() as they ran (worker.py), when this process
        ran it (not under pytest-xdist, whose workers keep their runs)."""
        future = self.config.grading.futures.get((student.name, str(relative)))
        if future is None or not future.done() or future.exception() is not None:
            return []
        report = future.result().report or {}
        return report.get("compiled") or []

    def write_pages(self, exitstatus):
        feedback_dir, report_file = self.config.getoption("feedback"), self.config.getoption("report")
        if not (feedback_dir or report_file):
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.notes.append("feedback and class report not written: the run was interrupted")
            return
        seed, students = self.config.grading.seed, self.results()
        if feedback_dir:
            from grader.feedback import PagesNotWritten, write_feedback
            try:
                written = write_feedback(feedback_dir, students, seed)
                self.notes.append(f"feedback written to {feedback_dir} ({len(written)} pages, one per student)")
            except PagesNotWritten as error:
                self.notes.append(f"feedback written to {feedback_dir}, but {printable(error, 2000)}")
            except OSError as error:
                self.notes.append(f"feedback NOT written to {feedback_dir}: {error}")
        if report_file:
            from grader.report import write_report
            try:
                failed = []
                write_report(report_file, students, seed, boilerplate=list(questions.given_code()), failed=failed)
                self.notes.append(f"class report written to {report_file}"
                                  + (f", without its part(s): {printable('; '.join(failed), 1000)}" if failed else ""))
            except Exception as error:
                self.notes.append(f"class report NOT written to {report_file}: {type(error).__name__}: "
                                  f"{printable(error, 300)}")

    def graded_for_lms(self):
        """The students graded on all eight questions, as lms.py needs them; says who was left out."""
        from grader.feedback import student_page
        students = {student.name: student for student in self.config.grading.students}
        pages = {result.name: student_page(result, self.config.grading.seed) for result in self.results()}
        graded, partial = [], []
        for row in self.rows():
            name, points, total, bonus = row[0], row[1:9], row[9], row[10:]
            if "" in points:
                partial.append(name)
                continue
            student = students.get(name)
            graded.append(lms.Graded(name, getattr(student, "lms", None), getattr(student, "lms_id", None), total,
                                     sum(p for p in bonus if p != ""),
                                     [q for q, p in zip(QUESTION_IDS, points) if p == 0], pages.get(name, "")))
        if partial:
            self.notes.append(f"not sent to the LMS (not all eight questions graded, -k?): {', '.join(partial)}")
        return graded

    def write_lms(self, exitstatus):
        sheets = getattr(self.config, "lms_sheets", {})
        if not sheets:
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.notes.append("LMS files not written: the run was interrupted")
            return
        try:
            self.fill_lms_files(sheets)
        except Exception as error:  # the gradebook is written already: say what failed, lose nothing else
            self.notes.append(f"LMS files NOT (all) written: {type(error).__name__}: {printable(error, 300)}")

    def fill_lms_files(self, sheets):
        students, mode = self.graded_for_lms(), self.config.getoption("lms_points")
        if "moodle_worksheet" in sheets:
            sheet = sheets["moodle_worksheet"]
            done = lms.fill_moodle(sheet, students, mode)
            done.written = lms.output_path(sheet.path, "graded.csv")
            sheet.write(done.written)
            self.notes += done.lines("Moodle grading worksheet")
            archive = lms.output_path(sheet.path, "feedback.zip")
            lms.write_feedback_zip(archive, done.pages)
            self.notes.append(f"Moodle feedback files: {len(done.pages)} page(s) in {archive}")
        if "canvas_gradebook" in sheets:
            sheet = sheets["canvas_gradebook"]
            done = lms.fill_canvas(sheet, students, mode, self.config.getoption("lms_assignment"))
            done.written = lms.output_path(sheet.path, "graded.csv")
            sheet.write(done.written)
            self.notes += done.lines("Canvas gradebook")

    def pytest_terminal_summary(self, terminalreporter):
        write = terminalreporter.write_line
        grading = self.config.grading
        rows = self.rows()
        if rows:
            names = [printable(row[0], MAX_NAME) for row in rows]
            width = max(len("student"), *(len(name) for name in names))
            terminalreporter.section("grades")
            write(f"{'student':<{width}}  " + " ".join(f"{q:>6}" for q in QUESTION_IDS) + "  total"
                  + "".join(f" {q:>6}" for q in BONUS_IDS))
            for name, row in zip(names, rows):
                points, total, bonus = row[1:9], row[9], row[10:]
                graded = sum(p != "" for p in points)
                write(f"{name:<{width}}  " + " ".join(f"{str(p):>6}" for p in points) + f"  {total}/{graded}"
                      + "".join(f" {str(p):>6}" for p in bonus))
        lost = [(s, q, p.get("kind", ""), p["reason"]) for (s, q), p in self.details.items()
                if p["points"] == 0 and p.get("kind") != "not attempted"]
        if lost:
            write("")
            write("lost points:")
            # the kind is the grader's own word; the reason may quote what the student's code raised or printed
            for student, question, kind, reason in lost:
                write(f"  {printable(student, MAX_NAME)} {question} [{kind}]: {printable(reason, 300)}")
        passed_over = getattr(grading, "passed_over", [])
        if passed_over:
            write("")
            write("not graded (not a student folder):")
            for name, why in passed_over:
                write(f"  {printable(name, 80)}: {printable(why, 300)}")
        if rows and (grading.containment is None or grading.containment.missing):
            write("")
            write(containment_line(grading))
        if rows:
            write("")
            write(f"seed {grading.seed}: --grade-seed {grading.seed} draws the same hidden inputs again")
        for note in self.notes:
            write(note)


MAX_NAME = 40  # characters of a student's name in the terminal's table: one long name widens no other row


def printable(text, limit):
    """Text from a student as one terminal line: no control or bidi character acts, nothing undecodable."""
    from grader.pages import safe
    return one_line(safe(text), limit)


