"""The grader: runs every file a student hands in, contained, and grades the eight questions and the bonus.

Use it as `python -m grader CLASS [--gradebook grades.csv] [pytest options]` (README, "Grading a
class"). One step per module, in the order a class goes through them:

- intake.py:     finds the students of a class (folders, a zip, Moodle, Canvas) and their files;
- sandbox.py:    runs one file in a forked, warm process and reads its JSON report with deadlines;
- contain.py:    shuts that process in (namespaces, CPU, process and memory budgets, no capabilities);
- rootfs.py:     the files that process sees, declared as one list (an allow-list), and its new root;
- worker.py:     what runs inside it: the cells, then the student's functions on the grader's inputs;
- shown.py:      reads the values a file printed or displayed;
- questions.py:  what each question requires, the hidden inputs, the verdicts (the one place to read);
- reference.py:  the grader's own implementation of every graded quantity, in plain `math`;
- grading.py:    runs a student's files and picks the file that answers each question;
- results.py:    what grading hands to reporting;
- gradebook.py, feedback.py, report.py, similarity.py, mistakes.py, pages.py: the reports;
- lms.py:        the grades and feedback back to Moodle (worksheet, feedback zip) and Canvas (gradebook);
- plugin.py:     the pytest side: options, one item per (student, question), the table;
- __main__.py:   `python -m grader CLASS`.
"""
