"""The course tooling (layer 5, the top floor): what runs, builds and checks the course, not what students import.

- `runner`     executes the numbered notebooks with papermill into a run folder and collects their results
- `book`       builds the Jupyter Book from a run folder (`book.env`, `book.staging`, `book.check`)
- `cli`        the ``solarcnn`` command; `book_cli` and `bench_cli` are two of its sub-commands
- `exercises`  the notebooks' self-checking exercises (``solarcnn.exercises.check("02.1", ...)``: the one
               module here that notebooks call, through the package's lazy ``solarcnn.exercises``)
- `editions`   student (solutions as stubs) and instructor (solutions folded) editions; ``solarcnn notebooks``
- `doctor`     ``solarcnn doctor``: Python, Keras backend, the course kernel, the data sets, with fixes
- `launch`     the notebooks' Colab cells and the repository URL (``book/_config.yml``) Binder and Colab use

Nothing below this layer imports from it. The old module names ``solarcnn.runner``, ``solarcnn.book``,
``solarcnn.cli``, ``solarcnn.book_cli`` and ``solarcnn.bench_cli`` still work (with a DeprecationWarning).
"""
