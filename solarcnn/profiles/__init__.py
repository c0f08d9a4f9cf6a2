"""Run profiles, declared once.

A *profile* is a named hardware budget. Each notebook's values for every
profile live beside this file in ``<NN_slug>.toml`` (one table per profile),
so adding a notebook is adding a file. A notebook's ``parameters`` cell holds
``PROFILE`` and one variable per setting, defaulting to ``None`` ("take the
profile's value"); papermill or the user overrides any of them::

    cfg = solarcnn.profile("02_slic_feature_classifier", PROFILE, epochs=epochs)
    cfg.epochs
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError

HERE = Path(__file__).parent


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
    missing = set(PROFILES) - set(data)
    extra = set(data) - set(PROFILES)
    if missing or extra:
        raise ParameterError(f"{path}: profile tables must be exactly {sorted(PROFILES)}; "
                             f"missing {sorted(missing)}, unknown {sorted(extra)}")
    keys = {p: set(v) for p, v in data.items()}
    if len({frozenset(k) for k in keys.values()}) != 1:
        raise ParameterError(f"{path}: every profile must set the same keys; got {({p: sorted(k) for p, k in keys.items()})}")
    return data


def load(notebook: str, profile: str, *, verbose: bool = True, **overrides) -> Settings:
    """Resolve a notebook's settings for `profile`, with non-None `overrides` winning.

    Args:
        notebook: the notebook's name without extension, e.g. ``"02_slic_feature_classifier"``.
        profile: one of `PROFILES` (``"tiny"``, ``"full"``).
        verbose: print where each value came from.
        **overrides: the notebook's parameters; ``None`` means "use the profile".

    Raises:
        ParameterError: unknown profile, or an override that is not a setting of this notebook.
    """
    check_profile(profile)
    values = table(notebook)[profile]
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise ParameterError(f"{notebook}: {unknown} are not settings of this notebook; "
                             f"its settings are {sorted(values)}")
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
    out["_sources"] = sources
    return out
