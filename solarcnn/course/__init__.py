"""The course tooling (layer 5, the top floor): what runs, builds and checks the course, not what students import.

- `runner`     executes the numbered notebooks with papermill into a run folder and collects their results
- `book`       builds the Jupyter Book from a run folder (`book.env`, `book.staging`, `book.check`)
- `cli`        the ``solarcnn`` command; `book_cli` and `bench_cli` are two of its sub-commands

Nothing below this layer imports from it. The old module names ``solarcnn.runner``, ``solarcnn.book``,
``solarcnn.cli``, ``solarcnn.book_cli`` and ``solarcnn.bench_cli`` still work (with a DeprecationWarning).
"""
