"""``auditlens serve``: Streamlit's own command line, with the default models loading from the first second.

Run as ``python -m dashboard.serve run dashboard/app.py [streamlit options]``. The warm-up thread lives in
this process, which is the server's: the pages find the models it loaded in ``explainers.models``' cache.
"""

from __future__ import annotations

import os
import sys
import threading


def _announce(state) -> None:
    state.finished.wait()
    from dashboard.resources import freeze_long_lived

    freeze_long_lived()  # the models live as long as the server: no collection walks them again
    failed = f"; not loaded (they load on first use): {state.error}" if state.error else ""
    print(f"auditlens: models ready in {state.elapsed_s:.1f} s ({', '.join(state.done)}){failed}", file=sys.stderr,
          flush=True)


def main() -> None:
    if os.environ.get("AUDITLENS_WARMUP", "1") != "0":  # AUDITLENS_WARMUP=0: models load on the first visit
        from dashboard import warmup

        threading.Thread(target=_announce, args=(warmup.start(),), name="auditlens-warmup-log", daemon=True).start()
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
