"""Notebook 07's Optuna pieces: search space, pruning callback, objective, study, plots."""
import numpy as np
import optuna
import pytest

from solarcnn.cirrus import search

optuna.logging.set_verbosity(optuna.logging.WARNING)


class FakeTrial:
    """Records reports; prunes from epoch `prune_at` on (None: never)."""

    def __init__(self, prune_at=None):
        self.number = 7
        self.reports = []
        self.prune_at = prune_at

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.prune_at is not None and self.reports[-1][0] >= self.prune_at


def _tiny_data(n_seq=6, per_seq=3, shape=(16, 24), seed=0):
    """Frames with a warm 'cloud' blob whose mask is the blob: learnable, 3 sequences per side at least."""
    rng = np.random.default_rng(seed)
    n = n_seq * per_seq
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    x = np.empty((n,) + shape, np.float32)
    y = np.empty((n,) + shape, np.int8)
    for i in range(n):
        cy, cx, r = rng.uniform(4, shape[0] - 4), rng.uniform(4, shape[1] - 4), rng.uniform(3, 7)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        x[i] = 0.3 + 0.4 * m + rng.normal(0, 0.02, shape)
        y[i] = m
    seqs = np.repeat(np.arange(n_seq), per_seq)
    return x, y, seqs


# ------------------------------------------------------------------------------------------ search space
def test_default_search_space_definition():
    space = search.unet_search_space()
    assert space.names == ["learning_rate", "dropout", "base_filters", "aug_fraction"]
    lr = space["learning_rate"]
    assert (lr.kind, lr.low, lr.high) == ("log_float", 1e-4, 1e-2)
    assert space["dropout"].kind == "float" and (space["dropout"].low, space["dropout"].high) == (0.0, 0.5)
    assert space["base_filters"].choices == (8, 16, 32)
    assert space["aug_fraction"].choices == (0.0, 0.5, 1.0)
    text = space.describe()
    assert "log-uniform in [0.0001, 0.01]" in text and "one of [8, 16, 32]" in text
    assert search.unet_channels(16) == (16, 32, 64)
    with pytest.raises(KeyError, match="no parameter 'momentum'"):
        space["momentum"]


def test_search_space_samples_inside_its_ranges():
    space = search.unet_search_space(learning_rate=(1e-4, 1e-2), dropout=(0.1, 0.3), base_filters=[8, 16])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        config = space.check(space.suggest(trial))
        study.tell(trial, 0.0)
        assert 1e-4 <= config["learning_rate"] <= 1e-2 and 0.1 <= config["dropout"] <= 0.3
        assert config["base_filters"] in (8, 16)
    lrs = np.log10([t.params["learning_rate"] for t in study.trials])
    assert lrs.min() < -3 < lrs.max()        # log-uniform: both decades are visited
    with pytest.raises(ValueError, match=r"dropout=0\.9 is outside the search space"):
        space.check({"learning_rate": 1e-3, "dropout": 0.9, "base_filters": 8, "aug_fraction": 0.0})
    with pytest.raises(ValueError, match="configuration lacks 'aug_fraction'"):
        space.check({"learning_rate": 1e-3, "dropout": 0.2, "base_filters": 8})


@pytest.mark.parametrize("kwargs, message", [
    (dict(learning_rate=(0.0, 1e-2)), r"learning_rate needs 0 < low < high .*Received: learning_rate=\(0\.0, 0\.01\)"),
    (dict(learning_rate=(1e-2, 1e-4)), r"learning_rate needs 0 < low < high"),
    (dict(learning_rate=1e-3), r"learning_rate must be a \(low, high\) pair; Received: learning_rate=0\.001"),
    (dict(dropout=(0.2, 1.0)), r"dropout needs 0 <= low < high < 1; Received: dropout=\(0\.2, 1\.0\)"),
    (dict(dropout=(-0.1, 0.3)), r"dropout needs 0 <= low < high < 1"),
    (dict(base_filters=[]), r"base_filters must be a non-empty list of positive integers; Received: base_filters=\[\]"),
    (dict(base_filters=[8, 0]), r"base_filters must be a non-empty list"),
    (dict(base_filters=[8.5]), r"base_filters must be a non-empty list"),
    (dict(aug_fraction=[-1.0]), r"aug_fraction must be a non-empty list of numbers >= 0"),
])
def test_search_space_bad_ranges(kwargs, message):
    with pytest.raises(ValueError, match=message):
        search.unet_search_space(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="lr", kind="log_float", low=0, high=1), r"log-uniform range needs 0 < low < high"),
    (dict(name="lr", kind="float", low=1, high=1), r"need finite low < high; Received: low=1, high=1"),
    (dict(name="lr", kind="float", low=1), r"needs low and high"),
    (dict(name="n", kind="int", low=1, high=2.5), r"int parameter needs integer ends"),
    (dict(name="c", kind="categorical", choices=()), r"needs at least one choice"),
    (dict(name="c", kind="categorical", choices=(1, 1)), r"choices must be distinct"),
    (dict(name="c", kind="normal", low=0, high=1), r"kind must be one of"),
    (dict(name="not a name", kind="float", low=0, high=1), r"name must be an identifier"),
])
def test_param_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        search.Param(**kwargs)


def test_search_space_container_errors():
    p = search.Param("a", "float", 0, 1)
    with pytest.raises(ValueError, match="at least one Param"):
        search.SearchSpace([])
    with pytest.raises(ValueError, match="names must be distinct"):
        search.SearchSpace([p, p])
    with pytest.raises(ValueError, match="entries must be Param objects"):
        search.SearchSpace([p, ("b", 0, 1)])


# ------------------------------------------------------------------------------------------ data
def test_prepare_segmentation_split_and_reduction():
    x, y, seqs = _tiny_data(n_seq=10, per_seq=2, shape=(16, 24))
    valid = np.ones((16, 24), bool)
    valid[:, :4] = False
    data = search.prepare_segmentation(x, y, seqs, downsample=2, input_norm="frame", valid=valid, seed=3)
    assert data.input_shape == (8, 12, 1) and data.valid.shape == (8, 12) and not data.valid[:, :2].any()
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 20
    np.testing.assert_allclose(data.x_train.mean(axis=(1, 2)), 0, atol=1e-5)       # per-frame standardised
    assert set(np.unique(data.y_train)) <= {0, 1} and data.y_train.dtype == np.int8
    xr, yr = search.reduce_pair(x[:1], y[:1], 2)
    assert xr[0, 0, 0] == pytest.approx(x[0, :2, :2].mean())
    assert yr[0, 0, 0] == int(y[0, :2, :2].mean() >= 0.5)
    assert "train:" in data.describe() and "sequences" in data.describe()
    small = search.prepare_segmentation(x, y, seqs, max_train=3)
    assert len(small.x_train) == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(downsample=5), r"must be divisible by the factor; Received: factor=5"),
    (dict(downsample=0), r"factor must be a positive integer; Received: factor=0"),
    (dict(input_norm="minmax"), r"input_norm must be one of \('frame', 'bitdepth'\); Received: input_norm='minmax'"),
    (dict(max_train=0), r"max_train must be >= 1 or None; Received: max_train=0"),
    (dict(valid=np.ones((4, 4), bool)), r"valid must be \(H, W\)"),
])
def test_prepare_segmentation_errors(kwargs, message):
    x, y, seqs = _tiny_data()
    with pytest.raises(ValueError, match=message):
        search.prepare_segmentation(x, y, seqs, **kwargs)


def test_normalize_modes():
    x = np.random.default_rng(0).uniform(0, 1, (2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(search.normalize(x, "bitdepth"), x)
    np.testing.assert_allclose(search.normalize(x, "frame").std(axis=(1, 2)), 1, atol=1e-4)
    with pytest.raises(ValueError, match="Received: mode='zscore'"):
        search.normalize(x, "zscore")


# ------------------------------------------------------------------------------------------ callbacks
def test_pruning_callback_prunes_on_fake_trial():
    trial = FakeTrial(prune_at=1)
    cb = search.PruningCallback(trial, monitor="val_iou")
    cb.on_epoch_end(0, {"val_iou": 0.4, "loss": 0.7})
    assert trial.reports == [(0, 0.4)]
    with pytest.raises(optuna.TrialPruned, match=r"trial 7 pruned after epoch 2: val_iou = 0\.4500"):
        cb.on_epoch_end(1, {"val_iou": 0.45})
    assert trial.reports == [(0, 0.4), (1, 0.45)]


def test_pruning_callback_keeps_good_trial_and_checks_logs():
    trial = FakeTrial(prune_at=None)
    cb = search.PruningCallback(trial)
    for epoch in range(3):
        cb.on_epoch_end(epoch, {"val_iou": 0.5 + 0.1 * epoch})
    assert [s for s, _ in trial.reports] == [0, 1, 2]
    with pytest.raises(KeyError, match=r"no 'val_iou'; they have \['loss'\].*ValidationIoU before this callback"):
        cb.on_epoch_end(3, {"loss": 0.3})
    with pytest.raises(optuna.TrialPruned, match=r"val_iou = nan at epoch 5 \(diverged\)"):
        cb.on_epoch_end(4, {"val_iou": float("nan")})
    with pytest.raises(ValueError, match="Received: monitor=''"):
        search.PruningCallback(trial, monitor="")


def test_pruning_callback_stops_fit_with_real_median_pruner():
    """In a real study, a trial whose curve falls below the median of earlier ones is pruned inside fit."""
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    for level in (0.8, 0.7):                                   # two finished trials with good curves
        t = study.ask()
        for step in range(3):
            t.report(level, step)
        study.tell(t, level)
    trial = study.ask()
    cb = search.PruningCallback(trial)
    with pytest.raises(optuna.TrialPruned):
        cb.on_epoch_end(0, {"val_iou": 0.1})


# ------------------------------------------------------------------------------------------ objective and study
def test_objective_runs_one_tiny_trial_and_records_it(tmp_path):
    x, y, seqs = _tiny_data(n_seq=6, per_seq=3, shape=(16, 24))
    data = search.prepare_segmentation(x, y, seqs, input_norm="bitdepth", seed=0)
    space = search.unet_search_space(base_filters=[4], aug_fraction=[0.5])
    objective = search.make_objective(space, data, epochs=2, batch_size=4, seed=0)
    study = search.make_study(seed=0, storage=tmp_path / "study.db", n_startup_trials=1)
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state.name == "COMPLETE" and 0.0 <= t.value <= 1.0
    assert sorted(t.intermediate_values) == [0, 1] and t.value == t.intermediate_values[1]   # score="last"
    assert t.user_attrs["epochs_run"] == 2 and t.user_attrs["n_params"] > 0
    assert (tmp_path / "study.db").exists()
    table = search.trials_table(study)
    assert "complete" in table and "base_filters=4" in table
    with pytest.raises(ValueError, match="need at least 2 completed trials; the study has 1"):
        search.param_importances(study)


def test_objective_score_option():
    x, y, seqs = _tiny_data()
    data = search.prepare_segmentation(x, y, seqs)
    space = search.unet_search_space(base_filters=[4], aug_fraction=[0.0])
    study = search.make_study(seed=0, pruner="none")
    study.optimize(search.make_objective(space, data, epochs=2, batch_size=4, score="max"), n_trials=1)
    t = study.trials[0]
    assert t.value == max(t.intermediate_values.values())
    with pytest.raises(ValueError, match="score must be 'last' or 'max'; Received: score='mean'"):
        search.make_objective(space, data, epochs=1, batch_size=4, score="mean")
    with pytest.raises(ValueError, match="epochs must be >= 1; Received: epochs=0"):
        search.make_objective(space, data, epochs=0, batch_size=4)


def test_train_unet_errors():
    x, y, seqs = _tiny_data()
    data = search.prepare_segmentation(x, y, seqs)
    with pytest.raises(ValueError, match=r"config lacks \['aug_fraction'\]"):
        search.train_unet({"learning_rate": 1e-3, "dropout": 0.0, "base_filters": 4}, data, epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="epochs and batch_size must be >= 1; Received: epochs=0"):
        search.train_unet({"learning_rate": 1e-3, "dropout": 0.0, "base_filters": 4, "aug_fraction": 0},
                          data, epochs=0, batch_size=4)


def test_make_study_options_and_errors(tmp_path):
    s = search.make_study(seed=1, sampler="random", pruner="hyperband", max_epochs=4)
    assert isinstance(s.sampler, optuna.samplers.RandomSampler)
    assert isinstance(s.pruner, optuna.pruners.HyperbandPruner)
    s = search.make_study(seed=1, pruner="none")
    assert isinstance(s.pruner, optuna.pruners.NopPruner)
    s = search.make_study(seed=1, pruner=optuna.pruners.PercentilePruner(25.0))
    assert isinstance(s.pruner, optuna.pruners.PercentilePruner)
    assert isinstance(search.make_study(seed=1).sampler, optuna.samplers.TPESampler)
    with pytest.raises(ValueError, match="Received: pruner='mean'"):
        search.make_study(pruner="mean")
    with pytest.raises(ValueError, match="Received: sampler='grid'"):
        search.make_study(sampler="grid")
    # fresh=True starts a new study in an existing file
    db = tmp_path / "s.db"
    a = search.make_study(storage=db)
    a.optimize(lambda t: t.suggest_float("u", 0, 1), n_trials=2)
    assert len(search.make_study(storage=db, fresh=False).trials) == 2
    assert len(search.make_study(storage=db).trials) == 0


def test_tpe_sampler_is_reproducible_with_seed():
    space = search.unet_search_space()

    def run(seed):
        study = search.make_study(seed=seed, pruner="none", n_startup_trials=2)
        study.optimize(lambda t: -abs(np.log10(space.suggest(t)["learning_rate"]) + 3), n_trials=5)
        return [t.params for t in study.trials]

    assert run(3) == run(3)
    assert run(3) != run(4)


# ------------------------------------------------------------------------------------------ importances, plots
def _synthetic_study():
    """A study whose value depends on learning_rate only, with one pruned trial."""
    space = search.unet_search_space()
    study = search.make_study(seed=0, pruner="none", n_startup_trials=20)
    for i in range(12):
        t = study.ask()
        c = space.suggest(t)
        value = 1 - abs(np.log10(c["learning_rate"]) + 3) / 2
        for step in range(3):
            t.report(value * (step + 1) / 3, step)
        if i == 5:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, value)
    return study


def test_importances_find_the_parameter_that_matters():
    imp = search.param_importances(_synthetic_study(), seed=0)
    assert set(imp) == {"learning_rate", "dropout", "base_filters", "aug_fraction"}
    assert max(imp, key=imp.get) == "learning_rate" and imp["learning_rate"] > 0.5
    assert sum(imp.values()) == pytest.approx(1.0)


def test_plots_draw_completed_and_pruned_trials():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = _synthetic_study()
    fig, axes = plt.subplots(1, 3)
    search.plot_optimization_history(study, ax=axes[0])
    search.plot_param_importances(search.param_importances(study), ax=axes[1])
    search.plot_intermediate_values(study, ax=axes[2])
    labels = axes[0].get_legend_handles_labels()[1]
    assert labels == ["completed trial", "pruned (last reported value)", "best so far"]
    assert len(axes[1].patches) == 4
    assert len(axes[2].lines) == 12 and sum(line.get_linestyle() == "--" for line in axes[2].lines) == 1
    assert axes[2].get_xlabel() == "epoch" and "IoU" in axes[2].get_ylabel()
    with pytest.raises(ValueError, match="no importances to plot"):
        search.plot_param_importances({})
    plt.close(fig)


# ------------------------------------------------------------------------------------------ issue 15 additions
def test_prepare_segmentation_keeps_test_sequences_for_a_cluster_bootstrap():
    x, y, seqs = _tiny_data(n_seq=10, per_seq=2, shape=(16, 24))
    seqs = seqs + 100                                            # ids, not positions
    data = search.prepare_segmentation(x, y, seqs, seed=3)
    assert len(data.groups_test) == len(data.x_test)
    assert set(data.groups_test.tolist()) <= set(seqs.tolist())
    # each test frame carries the id of the sequence it came from
    for img, g in zip(data.x_test, data.groups_test):
        match = [i for i in range(len(x)) if np.allclose(x[i], img)]
        assert len(match) == 1 and seqs[match[0]] == g


def test_one_cycle_lr_schedule_equals_the_torch_port():
    from solarcnn.training import schedules

    for total, peak in ((2, 1e-3), (10, 5e-3), (48, 7.5e-3)):
        sched = schedules.OneCycleLR(total, peak)
        ours = np.array([float(sched(s)) for s in range(total)])
        want = np.array([schedules.one_cycle(s, total, peak)[0] for s in range(total)])
        np.testing.assert_allclose(ours, want, rtol=2e-5)
        assert float(sched(total + 3)) == pytest.approx(ours[-1])          # past the end: the last rate
    assert schedules.OneCycleLR(10, 1e-3, pct_start=0.4).get_config()["pct_start"] == 0.4
    for kwargs, message in ((dict(total_steps=1, max_lr=1e-3), "total_steps must be an integer >= 2; received 1"),
                            (dict(total_steps=10, max_lr=0.0), "max_lr must be > 0; received 0.0"),
                            (dict(total_steps=10, max_lr=1e-3, pct_start=1.0), "pct_start must be in")):
        with pytest.raises(ValueError, match=message):
            schedules.OneCycleLR(**kwargs)


def test_train_unet_with_a_schedule_uses_it_every_step():
    from solarcnn.training import schedules

    x, y, seqs = _tiny_data()
    data = search.prepare_segmentation(x, y, seqs)
    config = {"learning_rate": 1e-3, "dropout": 0.0, "base_filters": 4, "aug_fraction": 0.0}
    steps = 2 * int(np.ceil(len(data.x_train) / 4))
    model, hist = search.train_unet(config, data, epochs=2, batch_size=4,
                                    learning_rate=schedules.OneCycleLR(steps, 1e-2))
    assert int(model.optimizer.iterations) == steps and len(hist["val_iou"]) == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(schedules.one_cycle(steps - 1, steps, 1e-2)[0],
                                                                 rel=1e-3)
    p = search.heldout_predictions(model, data)
    assert p.shape == data.y_test.shape and np.all((p >= 0) & (p <= 1))
    with pytest.raises(ValueError, match="learning_rate must be None or a keras LearningRateSchedule; "
                                         "Received: learning_rate=0.01"):
        search.train_unet(config, data, epochs=1, batch_size=4, learning_rate=0.01)


def test_hyperband_settings_and_trials_table_footnote():
    s = search.make_study(pruner="hyperband", max_epochs=4, min_resource=2, reduction_factor=2)
    assert s.pruner._min_resource == 2 and s.pruner._reduction_factor == 2
    with pytest.raises(ValueError, match="reduction_factor >= 2; Received: min_resource=1, reduction_factor=1"):
        search.make_study(pruner="hyperband", max_epochs=4, reduction_factor=1)
    study = optuna.create_study(direction="maximize")
    t = study.ask()
    t.report(0.9, 0)
    study.tell(t, 0.9)
    assert "*" not in search.trials_table(study)                # no pruned trial: no marker, no footnote
    t = study.ask()
    t.report(0.2, 0)
    study.tell(t, state=optuna.trial.TrialState.PRUNED)
    table = search.trials_table(study)
    assert "0.200*" in table and table.splitlines()[-1].startswith("(* the last value a pruned trial reported")
