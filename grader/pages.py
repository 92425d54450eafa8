"""HTML building blocks of the feedback files and the class report: escaping, the page frame, safe writing."""
import base64
import hashlib
import html
import io
import os
import re
import tempfile
import unicodedata
from pathlib import Path

CSS = """
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#f6f6f4}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
.meta{color:#555;font-size:.9rem}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:6px;padding:.6rem .9rem;margin:.6rem 0}
.card.ok{border-left-color:#2e7d32}.card.lost{border-left-color:#c62828}.card.none{border-left-color:#bbb}
.card h3{font-size:1rem;margin:0;display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
.points{font-weight:600;white-space:nowrap}
.total{font-size:1.3rem;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0;background:#fff}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right}
td.who{min-width:9rem}
.scroll{overflow-x:auto}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.85rem}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f3f3;padding:.5rem;margin:.3rem 0;border-radius:4px}
p,li,td{overflow-wrap:anywhere}
img{max-width:100%;height:auto}
.side{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
@media (max-width:40rem){.side{grid-template-columns:1fr}main{padding:.6rem}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
table.stack tr:first-child{display:none}table.stack tr{margin:.5rem 0;border:1px solid #ddd}
table.stack td{border:0;text-align:left}table.stack td::before{content:attr(data-label) ": ";color:#555}}
.note{background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:.5rem .8rem}
"""


# Characters shown as their code instead of acting: controls (but tab and newline), and the bidirectional
# embeddings, overrides and isolates that would turn the text around them.
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text):
    """Any text as valid, visible Unicode: a lone surrogate (from a student's output, or a file name that
    is not UTF-8) becomes `\\udcff`, a control or bidi override character `\\x1b`, `\\u202e`."""
    text = "" if text is None else str(text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return INVISIBLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def esc(text):
    """Any text from a student (name, file, reason, code) as HTML text, never as markup."""
    return html.escape(safe(text), quote=True)


def page(title, body):
    """A complete, self-contained page: inline CSS, no script, nothing fetched from the network."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def png(figure):
    """A matplotlib figure as an <img> with the PNG inline (base64), then closed."""
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def slug(name, length=40):
    """A file name part for any student name: ASCII letters, digits and '-', plus a short hash of the name."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    part = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower()[:length].strip("-") or "student"
    digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{part}-{digest}"


def write_text(path, text):
    """Write next to the final place, then rename: an interrupted run never leaves half a page.
    Text that is not valid Unicode (a lone surrogate) is written escaped, never an error."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".page.", suffix=".tmp",
                                         delete=False, encoding="utf-8", errors="backslashreplace")
    try:
        with handle:
            handle.write(text)
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise
    return path
