"""The class report for the instructor: pass rates, grouped mistakes, totals, and near-identical code to look at."""
import re
import statistics

from grader import similarity
from grader.feedback import BONUS_IDS, QUESTION_IDS, ordered
from grader.mistakes import mistake
from grader.pages import esc, page, png, write_text


def pass_rates(students):
    """question -> (graded, passed), the eight first, then any others."""
    ids = ordered({q for student in students for q in student.questions} | set(QUESTION_IDS))
    rates = {}
    for question in ids:
        results = [s.questions[question] for s in students if question in s.questions]
        rates[question] = (len(results), sum(r.points >= 1 for r in results))
    return rates


def mistake_groups(students):
    """[(label, students, questions, example reason)] of the lost points, most students first."""
    groups = {}
    for student in students:
        for question, result in student.questions.items():
            if result.points >= 1 or result.kind == "not attempted":  # a bonus left out is no mistake
                continue
            label, _ = mistake(result)
            group = groups.setdefault(label, {"students": [], "questions": [], "example": result.reason})
            if student.name not in group["students"]:
                group["students"].append(student.name)
            if question not in group["questions"]:
                group["questions"].append(question)
    found = [(label, g["students"], ordered(g["questions"]), g["example"]) for label, g in groups.items()]
    return sorted(found, key=lambda group: (-len(group[1]), group[0]))


def totals(students):
    return [sum(s.questions[q].points for q in QUESTION_IDS if q in s.questions) for s in students]


def rate_figure(rates):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ids = list(rates)
    shares = [100 * passed / graded if graded else 0 for graded, passed in rates.values()]
    figure, axes = plt.subplots(figsize=(7, 3))
    colours = ["#9e9e9e" if q not in QUESTION_IDS else "#1565c0" for q in ids]
    axes.bar(ids, shares, color=colours)
    axes.set_ylim(0, 100)
    axes.set_ylabel("students who earned it (%)")
    axes.set_title("Pass rate per question" + (" (grey: bonus)" if any(q not in QUESTION_IDS for q in ids) else ""))
    axes.tick_params(axis="x", rotation=45)
    return figure


def total_figure(values):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 3))
    axes.hist(values, bins=[x - 0.5 for x in range(len(QUESTION_IDS) + 2)], color="#2e7d32", rwidth=0.85)
    axes.set_xticks(range(len(QUESTION_IDS) + 1))
    axes.set_xlabel(f"total of the {len(QUESTION_IDS)} questions")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title("Totals")
    return figure


def rates_section(students):
    rates = pass_rates(students)
    rows = "".join(f"<tr><td>{esc(q)}{' (bonus)' if q not in QUESTION_IDS else ''}</td><td class=num>{graded}</td>"
                   f"<td class=num>{passed}</td><td class=num>{(100 * passed / graded if graded else 0):.0f}%</td></tr>"
                   for q, (graded, passed) in rates.items())
    return (f'<h2>Pass rate per question</h2><img src="data:image/png;base64,{png(rate_figure(rates))}" '
            'alt="bar chart of the pass rate per question">'
            '<div class="scroll"><table><tr><th>question</th><th class=num>graded</th><th class=num>earned</th>'
            f"<th class=num>pass rate</th></tr>{rows}</table></div>")


def totals_section(students):
    values = totals(students)
    if not values:
        return ""
    return (f"<h2>Totals</h2><p>Mean {statistics.mean(values):.1f}, median {statistics.median(values):g} "
            f"of {len(QUESTION_IDS)}, over {len(values)} students.</p>"
            f'<img src="data:image/png;base64,{png(total_figure(values))}" alt="histogram of the totals">')


def short(reason, most=200):
    """A reason without the notebook's notes, cut to a readable length."""
    reason = re.sub(r"\s*\[the notebook:.*$", "", reason or "")
    return reason if len(reason) <= most else reason[:most - 3] + "..."


def mistakes_section(students):
    groups = mistake_groups(students)
    if not groups:
        return "<h2>Most common reasons for a lost point</h2><p>No point was lost.</p>"
    rows = "".join(f"<tr><td data-label='kind of mistake'>{esc(label)}</td><td class=num data-label=students>"
                   f"{len(names)}</td><td data-label=questions>{esc(', '.join(qs))}</td>"
                   f"<td class=who data-label=who>{esc(', '.join(names))}</td>"
                   f"<td data-label='an example'><code>{esc(short(example))}</code></td></tr>"
                   for label, names, qs, example in groups)
    return ("<h2>Most common reasons for a lost point</h2><p>Grouped by the kind of mistake, guessed from the "
            "expected and the wrong value on the statement's input; otherwise by the reason with its numbers "
            "replaced by #.</p><div class=scroll><table class=stack><tr><th>kind of mistake</th><th class=num>students</th>"
            f"<th>questions</th><th>who</th><th>an example</th></tr>{rows}</table></div>")


def problems_section(students):
    having = [s for s in students if s.problems]
    if not having:
        return ""
    items = "".join(f"<li><b>{esc(s.name)}</b>: {esc('; '.join(s.problems))}</li>" for s in having)
    return f"<h2>Notebook problems ({len(having)} students)</h2><ul>{items}</ul>"


def pairs_section(students, boilerplate):
    pairs = similarity.find_pairs({s.name: s.files for s in students if s.files}, boilerplate)
    cut = [s.name for s in students if similarity.cut(s.files)]
    intro = ("<h2>Code to look at</h2><p class=note>Pairs of students whose code is very alike once names, "
             "spacing and comments are set aside, across files and layouts. This is a list of things to look at, "
             "not a finding: students who worked together, or followed the same tutorial, write alike code. "
             "Read the parts side by side, then talk to the students before drawing any conclusion.</p>"
             f"<p class=meta>score = fingerprints in common / fingerprints of the student with fewer; listed from "
             f"{similarity.THRESHOLD:.0%} with at least {similarity.MIN_SHARED} in common; the code every student "
             "is given, and code that half the class shares, does not count.</p>")
    if cut:
        intro += (f"<p class=meta>Compared only in part (the first {similarity.MAX_CODE // 1024} KiB of their code): "
                  f"{esc(', '.join(cut))}.</p>")
    if not pairs:
        return intro + "<p>No pair of students has near-identical code.</p>"
    parts = [intro]
    for pair in pairs:
        parts.append(f'<section class="card"><h3><span>{esc(pair.a)} &amp; {esc(pair.b)}</span> '
                     f'<span class="points">score {pair.score:.0%} ({pair.shared} fingerprints)</span></h3>')
        for region in pair.regions:
            parts.append('<div class="side">'
                         f"<div><p class=meta>{esc(pair.a)}: <code>{esc(region.file_a)}</code> lines "
                         f"{region.lines_a[0]}-{region.lines_a[1]}</p><pre>{esc(region.text_a)}</pre></div>"
                         f"<div><p class=meta>{esc(pair.b)}: <code>{esc(region.file_b)}</code> lines "
                         f"{region.lines_b[0]}-{region.lines_b[1]}</p><pre>{esc(region.text_b)}</pre></div></div>")
        parts.append("</section>")
    return "".join(parts)


def report_page(students, seed, boilerplate=(), failed=None):
    """The page; `failed`, a list, gets a line for each part that could not be made."""
    students = list(students)
    bonus = [q for q in BONUS_IDS if any(q in s.questions for s in students)]
    body = ["<h1>Class report</h1>",
            f"<p class=meta>{len(students)} students &middot; seed of this run <code>{esc(seed)}</code>"
            + (f" &middot; bonus questions {esc(', '.join(bonus))} are shown apart and not in the totals"
               if bonus else "") + "</p>",
            *(guarded(failed, make, *args) for make, *args in (
                (rates_section, students), (mistakes_section, students), (totals_section, students),
                (problems_section, students), (pairs_section, students, boilerplate)))]
    return page("Class report", "\n".join(part for part in body if part))


def guarded(failed, section, *args):
    """One section of the report, or a line saying why it is missing: one part's failure loses no other part."""
    try:
        return section(*args)
    except Exception as error:
        if failed is not None:
            failed.append(f"{section.__name__}: {type(error).__name__}: {str(error)[:300]}")
        return (f"<h2>{esc(section.__name__.replace('_section', '').capitalize())}: not available</h2>"
                f"<p class=note>This part of the report could not be made ({esc(type(error).__name__)}: "
                f"{esc(str(error)[:300])}). Tell whoever maintains the grader.</p>")


def write_report(path, students, seed, boilerplate=(), failed=None):
    """The class report as one self-contained HTML file; `boilerplate`: code texts every student was given;
    `failed`, a list, gets a line for each part that could not be made (the rest is written)."""
    return write_text(path, report_page(students, seed, boilerplate, failed))
