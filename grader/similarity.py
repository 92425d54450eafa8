"""Near-identical code between students: normalised tokens, winnowed fingerprints (as MOSS), scored pairs.

How a pair is scored (README, "Feedback and the class report"):

1. Each file is cut into Python tokens (stdlib `tokenize`). Comments, blank lines, indentation
   and spacing are dropped; every identifier that is not a keyword or a builtin becomes `V`,
   every string `S`; keywords, operators and numbers stay. Notebook magics (`%...`, `!...`) are
   skipped. So renaming variables, re-spacing and changing comments changes nothing.
2. Every run of K tokens is hashed; winnowing keeps the smallest hash of each window of W runs.
   Any common stretch of K + W - 1 tokens or more is certain to be found.
3. A student's fingerprints are those of all their files together, so one notebook and five
   files compare equally. Runs that occur in the boilerplate (the code every student is given)
   are removed, and so are runs that more than half of the class share (a common idiom).
   At most MAX_CODE characters of a student's code are compared, so a huge file cannot stall the report.
4. score = shared fingerprints / fingerprints of the student who has fewer (0..1). A pair is
   listed when score >= THRESHOLD and at least MIN_SHARED fingerprints are shared.
"""
import builtins
import hashlib
import io
import keyword
import tokenize
from collections import deque
from dataclasses import dataclass, field

K = 12            # tokens per hashed run
W = 6             # runs per winnowing window: common stretches of K + W - 1 = 17 tokens are always found
THRESHOLD = 0.7  # students who share the statement's template reach about 55%; copies reach 90% and more
MIN_SHARED = 8    # and at least this many fingerprints in common
MAX_CODE = 512 * 1024  # characters of one student's code compared (MOSS, too, compares what it can)
MAX_STRETCH = 4000  # tokens a region of common code grows each way from a fingerprint (the excerpt shows 40 lines)
KEPT_NAMES = set(keyword.kwlist) | set(dir(builtins))
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}


@dataclass(frozen=True)
class Token:
    text: str   # normalised
    file: str
    line: int


@dataclass
class Region:
    """One stretch of code that two students have in common."""
    file_a: str
    lines_a: tuple   # (first, last), 1-based, in the code of file_a
    file_b: str
    lines_b: tuple
    text_a: str = ""
    text_b: str = ""


@dataclass
class Pair:
    a: str
    b: str
    score: float                  # 0..1, see the module's docstring
    shared: int                   # fingerprints in common
    regions: list = field(default_factory=list)


def without_magics(code):
    """Notebook-only lines (`%timeit`, `!pip install`) become blank, so the line numbers stay."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.split("\n"))


def tokens(code, file=""):
    """The normalised tokens of one file; what cannot be tokenised (a syntax error) ends the list there."""
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(without_magics(code)).readline):
            if token.type in SKIPPED:
                continue
            if token.type == tokenize.NAME:
                text = token.string if token.string in KEPT_NAMES else "V"
            elif token.type == tokenize.STRING or token.type in _FSTRING_TYPES:
                text = "S"
            else:
                text = token.string
            if found and text == "S" and found[-1].text == "S":
                continue  # an f-string is several tokens, an implicit concatenation several strings
            found.append(Token(text, file, token.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return found


_FSTRING_TYPES = {getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                  if hasattr(tokenize, name)}


def run_hashes(sequence):
    """(hash, start index) of every run of K tokens."""
    texts = [token.text for token in sequence]
    return [(int.from_bytes(hashlib.blake2b(" ".join(texts[i:i + K]).encode(), digest_size=8).digest(), "big"), i)
            for i in range(len(texts) - K + 1)]


def winnow(hashes):
    """The smallest hash of every window of W runs (the rightmost on a tie), as in MOSS."""
    if len(hashes) <= W:
        return set(hashes[:1]) if hashes else set()
    chosen, candidates = set(), deque()  # positions whose hash may still be a window's smallest
    for end, (value, _) in enumerate(hashes):
        while candidates and hashes[candidates[-1]][0] >= value:  # never again the rightmost smallest
            candidates.pop()
        candidates.append(end)
        if candidates[0] <= end - W:  # it has left the window
            candidates.popleft()
        if end >= W - 1:
            chosen.add(hashes[candidates[0]])
    return chosen


def compared(files):
    """The part of a student's files that is compared: in path order, MAX_CODE characters in all."""
    kept, budget = {}, MAX_CODE
    for path, code in sorted(files.items()):
        if budget <= 0:
            break
        if len(code) > budget:
            code = code[:code.rfind("\n", 0, budget) + 1]  # whole lines only
        kept[path] = code
        budget -= len(code)
    return kept


def cut(files):
    """True when some of a student's code is past MAX_CODE and is not compared."""
    return sum(len(code) for code in files.values()) > MAX_CODE


def student_tokens(files):
    """Per file, in path order: a student's code as a whole, whatever the layout."""
    return [tokens(code, path) for path, code in sorted(files.items())]


def fingerprints(sequences):
    """hash -> (file index, token index) of its first occurrence, from student_tokens()."""
    found = {}
    for index, sequence in enumerate(sequences):
        for value, start in sorted(winnow(run_hashes(sequence)), key=lambda entry: entry[1]):
            found.setdefault(value, (index, start))
    return found


def boilerplate_hashes(boilerplate):
    """Every run of the given code: of each text, and of the texts one after the other (cells that follow
    each other in the edition follow each other in the students' notebooks too)."""
    boilerplate = list(boilerplate)
    sequences = [tokens(code) for code in boilerplate] + [[t for code in boilerplate for t in tokens(code)]]
    return {value for sequence in sequences for value, _ in run_hashes(sequence)}


def find_pairs(students, boilerplate=(), threshold=THRESHOLD, min_shared=MIN_SHARED, common=None):
    """Pairs of near-identical students, best first. `students`: name -> {relative path: code}.
    Time and memory grow linearly with the code (each student's capped at MAX_CODE) and with the pairs.

    `common`: a run shared by more than this many students is ignored (default: half the class,
    at least 3), as MOSS ignores what appears in many files.
    """
    given = boilerplate_hashes(boilerplate)
    students = {name: compared(files) for name, files in students.items()}
    sequences, prints, done = {}, {}, {}
    for name, files in students.items():  # each student's code tokenised and fingerprinted once
        same_code = tuple(code for _, code in sorted(files.items()))
        if same_code in done:  # a copy of a classmate's files, under any names: only the names differ
            first = done[same_code]
            sequences[name] = [[Token(token.text, path, token.line) for token in sequence]
                               for sequence, path in zip(sequences[first], sorted(files))]
            prints[name] = prints[first]
            continue
        done[same_code] = name
        sequences[name] = student_tokens(files)
        prints[name] = {value: at for value, at in fingerprints(sequences[name]).items() if value not in given}
    counts = {}
    for found in prints.values():
        for value in found:
            counts[value] = counts.get(value, 0) + 1
    limit = common if common is not None else max(3, len(students) // 2)
    prints = {name: {value: at for value, at in found.items() if counts[value] <= limit}
              for name, found in prints.items()}
    names = sorted(prints)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = prints[a].keys() & prints[b].keys()
            smaller = min(len(prints[a]), len(prints[b]))
            score = len(shared) / smaller if smaller else 0.0
            if score >= threshold and len(shared) >= min_shared:
                pairs.append(Pair(a, b, round(score, 3), len(shared),
                                  regions((students[a], sequences[a]), (students[b], sequences[b]),
                                          prints[a], prints[b], shared)))
    return sorted(pairs, key=lambda pair: (-pair.score, -pair.shared, pair.a, pair.b))


def regions(student_a, student_b, prints_a, prints_b, shared, most=6):
    """The longest stretches of code the two have in common, trimmed to their shared, non-given fingerprints,
    with the code of both. Each stretch grows from a shared fingerprint while the normalised tokens stay equal
    (at most MAX_STRETCH each way); a fingerprint inside a stretch already found starts none: linear time.
    `student_a`, `student_b`: (files, their student_tokens())."""
    (files_a, seq_a), (files_b, seq_b) = student_a, student_b
    codes_a = [code for _, code in sorted(files_a.items())]
    codes_b = [code for _, code in sorted(files_b.items())]
    texts_a, texts_b = [[t.text for t in seq] for seq in seq_a], [[t.text for t in seq] for seq in seq_b]
    starts = {}  # (file of a, file of b) -> [(token index in a, in b)] of the shared fingerprints
    for value in shared:
        (fa, ta), (fb, tb) = prints_a[value], prints_b[value]
        starts.setdefault((fa, fb), []).append((ta, tb))
    found = []
    for (fa, fb), pairs in sorted(starts.items()):
        pairs.sort()
        covered = -1  # fingerprints of a starting at or before this index lie in the last stretch found
        for index, (ta, tb) in enumerate(pairs):
            if ta <= covered:
                continue
            first_a, first_b, size = stretch(texts_a[fa], texts_b[fb], ta, tb)
            if size < K:
                continue  # a hash collision, not a common run
            covered = first_a + size - K
            inside = [t for t, _ in pairs[index:] if t <= covered]
            first, last = inside[0], min(inside[-1] + K - 1, first_a + size - 1)
            shift = first_b - first_a
            lines_a = (seq_a[fa][first].line, seq_a[fa][last].line)
            lines_b = (seq_b[fb][first + shift].line, seq_b[fb][last + shift].line)
            found.append((last - first, Region(seq_a[fa][0].file, lines_a, seq_b[fb][0].file, lines_b,
                                               excerpt(codes_a[fa], lines_a), excerpt(codes_b[fb], lines_b))))
    found.sort(key=lambda entry: -entry[0])
    return [region for _, region in found[:most]]


def stretch(a, b, ta, tb, most=None):
    """(first index in a, first index in b, length) of the equal tokens around a[ta] and b[tb]."""
    most = MAX_STRETCH if most is None else most
    back = 0
    while back < most and ta - back > 0 and tb - back > 0 and a[ta - back - 1] == b[tb - back - 1]:
        back += 1
    ahead = 0
    while ahead < most and ta + ahead < len(a) and tb + ahead < len(b) and a[ta + ahead] == b[tb + ahead]:
        ahead += 1
    return ta - back, tb - back, back + ahead


def excerpt(code, lines, most=40):
    first, last = lines
    chosen = code.split("\n")[first - 1:last]
    if len(chosen) > most:
        chosen = chosen[:most] + [f"... ({len(chosen) - most} more lines)"]
    return "\n".join(chosen)
