"""``auditlens serve``: Streamlit's own command line, with the default models loading from the first second.

Run as ``python -m dashboard.serve run dashboard/app.py [streamlit options]``. The warm-up thread lives in
this process, which is the server's: the pages find the models it loaded in ``explainers.models``' cache.
"""

from __future__ import annotations

import gc
import os
import sys
import threading

# Streamlit runs a full garbage collection (gc.collect(2)) after every script run, and the Audit page's progress
# fragment reruns once a second while a job works. With the models loaded that collection walks ~550k objects
# under the GIL: 1-3 s on a 2-core machine (measured), so a background attribution got almost no GIL and a
# 10-s job took over 2 min. Python's own generational collector still runs, and once the models are loaded
# they are frozen out of its sight (_announce).
_DEFAULTS = (("--runner.postScriptGC", "false"),)


def streamlit_argv(args: list[str]) -> list[str]:
    """Streamlit's argv for ``args`` (``run APP [options]``), with our defaults where ``args`` sets none."""
    if args[:1] != ["run"]:
        return ["streamlit", *args]
    given = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    extra = [part for option, value in _DEFAULTS if option not in given for part in (option, value)]
    return ["streamlit", *args[:2], *extra, *args[2:]]


def _announce(state) -> None:
    state.finished.wait()
    # The models and imported pages live as long as the server: move them out of the collector's sight, so no
    # full collection walks them again.
    gc.collect()
    gc.freeze()
    failed = f"; not loaded (they load on first use): {state.error}" if state.error else ""
    print(f"auditlens: models ready in {state.elapsed_s:.1f} s ({', '.join(state.done)}){failed}", file=sys.stderr,
          flush=True)


def main() -> None:
    if os.environ.get("AUDITLENS_WARMUP", "1") != "0":  # AUDITLENS_WARMUP=0: models load on the first visit
        from dashboard import warmup

        threading.Thread(target=_announce, args=(warmup.start(),), name="auditlens-warmup-log", daemon=True).start()
    from streamlit.web.cli import main as streamlit_main

    sys.argv = streamlit_argv(sys.argv[1:])
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
