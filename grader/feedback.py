"""Feedback for each student: one self-contained HTML file with every question, its points and its reason."""
from pathlib import Path

from grader import questions
from grader.mistakes import mistake
from grader.pages import esc, page, safe, slug, write_text

QUESTION_IDS = tuple(getattr(questions, "QUESTION_IDS", None) or questions.QUESTIONS)
BONUS_IDS = tuple(getattr(questions, "BONUS_IDS", ("ex6.q1", "ex6.q2")))

KIND_WORDS = {  # what a kind of lost point means, said to the student
    "missing": "The grader found no code of yours for this question: no file, or nothing with the expected "
               "name or printed line.",
    "not implemented": "This part still raises NotImplementedError: replace that line with your own code.",
    "error": "Your code raised an error when the grader used it.",
    "wrong value": "Your code ran, but the number it gave is not the expected one.",
    "not shown": "The grader did not find the answer printed in the form it reads, such as `Bob: 0.785...` "
                 "or `Log loss: 0.548...`.",
    "hidden check": "Your answer on the statement's input may be right, but the same code gives a wrong value "
                    "on other inputs: it has to compute the answer, not contain it.",
    "timeout": "Your notebook took too long (an endless loop, or very slow code) and was stopped.",
    "crash": "The process running your notebook died (for example an exit() call or too much memory).",
    "grader error": "The grader itself failed here, not your work: tell your instructor.",
}


def ordered(ids):
    """The eight in their order, then any others (the bonus) sorted."""
    ids = set(ids)
    return [q for q in QUESTION_IDS if q in ids] + sorted(ids - set(QUESTION_IDS))


def title(question):
    exercise, _, number = question.partition(".")
    if exercise.startswith("ex") and number.startswith("q"):
        return f"exercise {exercise[2:]}, question {number[1:]}"
    return question


def number(value):
    return repr(float(value)) if isinstance(value, (int, float)) else str(value)


def question_card(question, result):
    if result is None:
        return (f'<section class="card none"><h3><span>{esc(question)} &middot; {esc(title(question))}</span> '
                f'<span class="points">not graded</span></h3><p>Not graded in this run.</p></section>')
    if result.kind == "not attempted":
        return (f'<section class="card none"><h3><span>{esc(question)} &middot; {esc(title(question))}</span> '
                f'<span class="points">not attempted</span></h3><p>A bonus question you did not attempt: no '
                f'file of yours defines or shows it. It does not count in the total.</p></section>')
    earned = result.points >= 1
    parts = [f'<section class="card {"ok" if earned else "lost"}"><h3><span>{esc(question)} &middot; '
             f'{esc(title(question))}</span> <span class="points">{esc(result.points)} / 1 point</span></h3>']
    if earned:
        parts.append("<p>Point earned.</p>")
        if result.reason:
            parts.append(f"<p>Note: {esc(result.reason)}</p>")
    else:
        parts.append(f"<p>{esc(KIND_WORDS.get(result.kind, 'The point is lost.'))}</p>")
        if result.expected is not None and result.got is not None:
            parts.append(f"<p>On the statement's input the grader expected <code>{esc(number(result.expected))}"
                         f"</code>; your code gave <code>{esc(number(result.got))}</code>.</p>")
        label, sentence = mistake(result)
        if sentence:
            parts.append(f"<p>A likely cause: {esc(sentence)}.</p>")
        parts.append(f"<p>What the grader saw:</p><pre>{esc(result.reason or result.kind)}</pre>")
    if result.file:
        parts.append(f'<p class="meta">Judged on your file <code>{esc(result.file)}</code>.</p>')
    parts.append("</section>")
    return "".join(parts)


def student_page(student, seed):
    graded = student.questions
    main_ids = [q for q in QUESTION_IDS]
    extra = [q for q in ordered(graded) if q not in QUESTION_IDS]
    total = sum(graded[q].points for q in main_ids if q in graded)
    not_graded = sum(q not in graded for q in main_ids)
    body = [f"<h1>Feedback for {esc(student.name)}</h1>",
            f'<p class="total">Total: {total} / {len(main_ids)}</p>']
    if not_graded:
        body.append(f'<p class="meta">{not_graded} of the {len(main_ids)} questions were not graded in this run; '
                    "the total counts only the graded ones.</p>")
    if extra:
        bonus = sum(graded[q].points for q in extra)
        body.append(f"<p>Bonus (not in the total): {bonus} / {len(extra)}</p>")
    body.append(f'<p class="meta">Seed of this run: <code>{esc(seed)}</code> (the hidden checks\' inputs '
                "depend on it; your instructor can run the same grading again).</p>")
    if student.problems:
        body.append("<h2>Problems while running your notebooks</h2><ul>")
        body += [f"<li>{esc(problem)}</li>" for problem in student.problems]
        body.append("</ul>")
    body.append("<h2>Questions</h2>")
    body += [question_card(q, graded.get(q)) for q in main_ids]
    if extra:
        body.append("<h2>Bonus questions (not in the total)</h2>")
        body += [question_card(q, graded[q]) for q in extra]
    body.append('<p class="meta">Each question is worth one point. A value counts when it is within a relative '
                "1e-9 of the expected one, or, printed rounded, when it equals the expected one rounded the same way "
                "with at least 4 significant digits. Fix the code the reason points to and run your file again; in the course's notebooks, the check cell after each step says whether it is right.</p>")
    return page(f"Feedback for {student.name}", "\n".join(body))


def feedback_path(folder, name):
    return Path(folder) / f"{slug(name)}.html"


class PagesNotWritten(Exception):
    """Some students' pages could not be made; the message names each of them and why."""


def write_feedback(folder, students, seed):
    """One HTML file per student in `folder` (created if needed); returns the paths written.

    Two names that make the same file name (a hash collision) get distinct files. A page that
    fails does not stop the others: PagesNotWritten is raised once they are all written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, failed, taken = [], [], set()
    for student in students:
        path = first = feedback_path(folder, student.name)
        number = 1
        while path in taken:
            number += 1
            path = first.with_name(f"{first.stem}-{number}.html")
        taken.add(path)
        try:
            written.append(write_text(path, student_page(student, seed)))
        except Exception as error:
            failed.append(f"{safe(student.name)[:80]!r}: {type(error).__name__}: {safe(error)[:200]}")
    if failed:
        raise PagesNotWritten(f"{len(failed)} feedback page(s) not written ({len(written)} written): "
                              + "; ".join(failed))
    return written
