"""Hidden from `make test` (its Makefile puts this folder first on PYTHONPATH).

jsonschema, which nbformat imports, imports rfc3987_syntax if it can, and that module builds an
IRI grammar as it is imported: 1.3 s of CPU in every process that reads a notebook (pytest and
each of its workers, the release builder, `pytest --collect-only`...: eleven in one `make test`).
Neither nbformat's schema nor anything else here checks an "iri" format, so without it nothing
changes but the time (jsonschema skips that check, as it does when rfc3987_syntax is absent).
"""
raise ImportError("rfc3987_syntax is left out of `make test` (see tests/no_iri/rfc3987_syntax.py)")
