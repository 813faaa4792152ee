"""Display benchmark of the live window (the code lives in ``pcviz.gui.bench_display``;
``pcviz bench`` runs it with the rest).

    QT_QPA_PLATFORM=offscreen python -m benchmarks.bench_display [--preset digits-pc] [--seconds 6]
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pcviz.gui.bench_display import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
