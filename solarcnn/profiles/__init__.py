"""Run profiles, declared once.

A *profile* is a named hardware budget. Each notebook's values for every
profile live beside this file in ``<NN_slug>.toml`` (one table per profile),
so adding a notebook is adding a file. A notebook's ``parameters`` cell holds
``PROFILE`` and one variable per setting, defaulting to ``None`` ("take the
profile's value"); papermill or the user overrides any of them::

    cfg = solarcnn.profile("02_slic_feature_classifier", PROFILE, epochs=epochs)
    cfg.epochs

Every value a caller gives is checked against the profile values' type (and, where the
range is obvious, their range: counts are >= 1, fractions lie in [0, 1], rates and
scales are > 0; see `check_value`) before anything uses it.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ..errors import ParameterError

HERE = Path(str(files(__name__)))   # the .toml files ship as package data (in the wheel too)


@dataclass(frozen=True)
class Profile:
    name: str
    hardware: str
    description: str


PROFILES: dict[str, Profile] = {
    "tiny": Profile("tiny", "2-core CPU, no GPU",
                    "minutes per notebook: small inputs, few samples and epochs; what CI and the book run"),
    "full": Profile("full", "one GPU (JAX or TensorFlow backend)",
                    "the papers' input sizes, data volumes and recipes; hours in total"),
}


class Settings(dict):
    """A notebook's resolved settings: a dict whose keys are also attributes."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no setting {key!r}; settings are {sorted(self)}") from None

    def _repr_markdown_(self) -> str:
        src = self.get("_sources", {})
        rows = ["| setting | value | from |", "|---|---|---|"]
        rows += [f"| `{k}` | `{v!r}` | {src.get(k, '')} |" for k, v in self.items() if not k.startswith("_")]
        return "\n".join(rows)


def check_profile(profile: str) -> Profile:
    """Return the `Profile` called `profile` or raise `ParameterError`."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; the profiles are {sorted(PROFILES)}")
    return PROFILES[profile]


def notebook_file(notebook: str) -> Path:
    return HERE / f"{notebook}.toml"


def table(notebook: str) -> dict:
    """The raw per-profile table of a notebook (``{profile: {key: value}}``)."""
    path = notebook_file(notebook)
    if not path.exists():
        known = sorted(p.stem for p in HERE.glob("*.toml"))
        raise ParameterError(f"no profile file for notebook {notebook!r} ({path}); known notebooks: {known}")
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    data.pop(SMOKE, None)          # not a profile: overrides of the full profile (`smoke_overrides`)
    missing = set(PROFILES) - set(data)
    extra = set(data) - set(PROFILES)
    if missing or extra:
        raise ParameterError(f"{path}: profile tables must be exactly {sorted(PROFILES)}; "
                             f"missing {sorted(missing)}, unknown {sorted(extra)}")
    keys = {p: set(v) for p, v in data.items()}
    if len({frozenset(k) for k in keys.values()}) != 1:
        raise ParameterError(f"{path}: every profile must set the same keys; "
                             f"got {({p: sorted(k) for p, k in keys.items()})}")
    return data


SMOKE = "smoke"


def smoke_overrides(notebook: str) -> dict:
    """The ``[smoke]`` table of a notebook's profile file: settings that turn the ``full`` profile into a
    paper-size smoke run (the paper's sizes and models; 1 epoch, a few steps and samples; synthetic data,
    ``data_dir = "synthetic"``), so the full code path runs on a CPU (``solarcnn run NN --profile full --smoke``).

    Raises:
        ParameterError: no ``[smoke]`` table, or a key that is not a setting, or a value of the wrong type.
    """
    path = notebook_file(notebook)
    settings = table(notebook)
    with open(path, "rb") as fh:
        smoke = tomllib.load(fh).get(SMOKE)
    if smoke is None:
        raise ParameterError(f"{path}: no [{SMOKE}] table; the notebook has no paper-size smoke settings")
    return check_overrides(notebook, dict(smoke)) if settings else {}


_TYPE_NAMES = {bool: "bool", int: "int", float: "float (or int)", str: "str", list: "list"}
# Range rules where one is obvious. Settings not named here follow the profile values: an int whose
# profile values are all >= 1 is a count (>= 1), a float whose profile values are all > 0 is a rate or
# scale (> 0); a list's elements follow the same rules. n_jobs is any int but 0 (-1: all cores).
_FRACTION_WORDS = ("fraction", "dropout")       # [0, 1]: val_fraction, dropout, aug_fractions, dropout_range
_ALLOW_ZERO = {"warmup_steps", "patience", "n_startup_trials", "weight_decay", "seed"}   # >= 0
_NONZERO = {"n_jobs"}


def _kind(value) -> type:
    for t in (bool, int, float, str):            # bool before int: True is an int in Python
        if isinstance(value, t):
            return t
    if isinstance(value, (list, tuple)):
        return list
    return type(value)


def _expected(examples: list) -> tuple[set, set]:
    """The kinds the profile values `examples` allow, and (for lists) the kinds of their elements."""
    kinds = {_kind(v) for v in examples}
    if float in kinds:
        kinds.add(int)                           # 1 where 1.0 is meant is fine
    elements = {_kind(e) for v in examples if isinstance(v, (list, tuple)) for e in v}
    if float in elements:
        elements.add(int)
    return kinds, elements


def _describe(kinds: set) -> str:
    """``{float, int}`` -> ``"float (or int)"``; ``{str}`` -> ``"str"``."""
    if float in kinds:
        kinds = kinds - {int}
    return " or ".join(sorted(_TYPE_NAMES.get(k, k.__name__) for k in kinds))


def _range_problem(key: str, value, examples: list) -> str | None:
    """Why the number `value` is out of the obvious range of setting `key`, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if any(w in key for w in _FRACTION_WORDS):
        return None if 0 <= value <= 1 else "must lie in [0, 1]"
    if key in _NONZERO:
        return None if value != 0 else "must not be 0 (a number of workers; -1: all cores)"
    numbers = [e for e in examples if isinstance(e, (int, float)) and not isinstance(e, bool)]
    if not numbers or min(numbers) <= 0:
        return None
    if key in _ALLOW_ZERO:
        return None if value >= 0 else "must be >= 0"
    if all(isinstance(e, int) for e in numbers):
        return None if value >= 1 else "must be >= 1 (a count or size)"
    return None if value > 0 else "must be > 0"


def check_value(notebook: str, key: str, value, examples: list):
    """Check one setting against its profile values and return it (an int for a float setting as float).

    Args:
        notebook: the notebook's name, for the message.
        key: the setting's name.
        value: the value given (by a notebook parameter, ``-p`` on the command line, ...).
        examples: the setting's values in the profiles (their types, and ranges, are the rule).

    Raises:
        ParameterError: naming the notebook, the setting, the received value and the expected type
            (or range).
    """
    kinds, elements = _expected(examples)
    shown = _describe(kinds) + (f" of {_describe(elements)}" if elements else "")
    kind = _kind(value)
    if kind not in kinds:
        raise ParameterError(f"{notebook}: parameter {key!r} must be {shown} (like the profiles' "
                             f"{' / '.join(repr(e) for e in examples)}); received {value!r} ({type(value).__name__})")
    items = list(value) if kind is list else [value]
    if kind is list and elements:
        bad = [e for e in items if _kind(e) not in elements]
        if bad:
            raise ParameterError(f"{notebook}: parameter {key!r} must be {shown}; received {value!r} "
                                 f"(element {bad[0]!r} is {type(bad[0]).__name__})")
    element_examples = [e for v in examples for e in (v if isinstance(v, (list, tuple)) else [v])]
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            problem = _range_problem(key, item, element_examples)
            if problem:
                what = f"element {item!r} " if kind is list else ""
                raise ParameterError(f"{notebook}: parameter {key!r} {what}{problem}; received {value!r}")
    if kind is int and float in kinds and int not in {_kind(v) for v in examples}:
        return float(value)
    if kind is list and float in elements and int not in {_kind(e) for e in element_examples}:
        return [float(e) if _kind(e) is int else e for e in items]
    return value


def check_overrides(notebook: str, overrides: dict) -> dict:
    """Check notebook parameters that override profile settings; return them checked (None stays None).

    Raises:
        ParameterError: a key that is not a setting of the notebook, or a value of the wrong type or range.
    """
    data = table(notebook)
    keys = set(next(iter(data.values())))
    unknown = sorted(set(overrides) - keys)
    if unknown:
        raise ParameterError(f"{notebook}: {unknown} are not settings of this notebook; "
                             f"its settings are {sorted(keys)}")
    return {k: None if v is None else check_value(notebook, k, v, [data[p][k] for p in sorted(data)])
            for k, v in overrides.items()}


REQUIRED = "required:"   # a profile's data_dir "required:TRACK": the user's folder (the data have no public download)
DOWNLOAD = "download:"   # a profile's data_dir "download:NAME[:...]": a public download the notebook fetches


def check_data_dir(notebook: str, profile: str, data_dir=None):
    """The data source a notebook runs on in `profile`: `data_dir` when given, else the profile's own
    ``data_dir`` (``""``: the synthetic generator; ``"download:NAME..."``: a public download that the notebook
    fetches into the cache; ``"required:TRACK"``: a folder the user must give). ``"synthetic"`` selects the
    synthetic generator in any profile (returned as ``""``).

    Args:
        notebook: the notebook's name without extension.
        profile: one of `PROFILES`.
        data_dir: the ``data_dir`` parameter (None or ``""``: the profile's default).

    Raises:
        ParameterError: the profile needs the user's folder (no public download) and `data_dir` is not set;
            the message names ``data_dir`` and says how to set it.
    """
    value = data_dir if data_dir else table(notebook)[profile].get("data_dir", "")
    if value == "synthetic":       # the package's generator, in any profile (the smoke's source)
        return ""
    if isinstance(value, str) and value.startswith(REQUIRED):
        track = value[len(REQUIRED):]
        raise ParameterError(
            f"{notebook}: the '{profile}' profile trains on the paper's real {track} data, which have no public "
            f"download: set data_dir to your folder in the original layout (solarcnn run {notebook[:2]} --profile "
            f"{profile} -p data_dir FOLDER; 'solarcnn archive how {track}' says how to assemble it), or run the "
            f"tiny profile (synthetic data)")
    return value


def load(notebook: str, profile: str, *, verbose: bool = True, **overrides) -> Settings:
    """Resolve a notebook's settings for `profile`, with non-None `overrides` winning.

    Args:
        notebook: the notebook's name without extension, e.g. ``"02_slic_feature_classifier"``.
        profile: one of `PROFILES` (``"tiny"``, ``"full"``).
        verbose: print where each value came from.
        **overrides: the notebook's parameters; ``None`` means "use the profile".

    Raises:
        ParameterError: unknown profile, an override that is not a setting of this notebook, or one of
            the wrong type or range (`check_value`).
    """
    check_profile(profile)
    values = table(notebook)[profile]
    overrides = check_overrides(notebook, overrides)
    out, sources = Settings(), {}
    for key, default in values.items():
        given = overrides.get(key)
        out[key] = default if given is None else given
        sources[key] = f"profile '{profile}'" if given is None else "parameter"
    if verbose:
        width = max(len(k) for k in out) if out else 0
        print(f"Profile '{profile}' ({PROFILES[profile].hardware}) for {notebook}:")
        for k, v in out.items():
            print(f"  {k:<{width}} = {v!r}{'   (overridden)' if sources[k] == 'parameter' else ''}")
    if "data_dir" in out:   # before anything runs: a folder the profile needs, or its default source
        out["data_dir"] = check_data_dir(notebook, profile, out["data_dir"])
    out["_sources"] = sources
    return out
