"""The grader: runs students' notebooks in isolated processes and grades the eight questions.

Use it through pytest (see README, "Grading a class"):

    pytest --submissions DIR [--gradebook grades.csv]

- questions.py: the eight questions, what each one checks, the hidden inputs;
- reference.py: the grader's own implementation of every graded quantity;
- worker.py:    what runs inside a notebook's process (cells, limits, checks);
- sandbox.py:   starts and watches those processes (time limit, crashes, retries);
- plugin.py:    the pytest side: options, one item per (student, question), gradebook.
"""
