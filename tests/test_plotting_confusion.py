"""`plotting.plot_confusion` reads like a table: first class on the top row, under the package style too."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from solarcnn.plotting import STYLE, plot_confusion  # noqa: E402


def test_first_class_is_the_top_row_under_the_package_style():
    cm = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 3]])
    with plt.style.context(str(STYLE)):
        assert plt.rcParams["image.origin"] == "lower"      # the style's choice for solar images
        ax = plot_confusion(cm, ["a", "b", "c"])
        bottom, top = ax.get_ylim()
        assert top < bottom, "row 0 (the first true class) must be drawn at the top"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
        assert ax.images[0].origin == "upper"
        plt.close(ax.figure)
