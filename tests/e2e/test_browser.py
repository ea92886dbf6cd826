"""End to end in a real browser: Playwright drives Debian's Chromium against a live `auditlens serve`.

Runs the demo audit, sees the heatmap and the flagged sentence, saves a verdict, downloads the HTML report,
restarts the server, finds the verdict in the Review queue and downloads JSON, HTML and PDF from Reports.
Chromium is installed by the test set-up (`make browser`) when missing; outside CI the test is skipped then.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability", "--no-first-run",
                "--no-pings", "--disable-breakpad", "--disable-client-side-phishing-detection",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                "--disable-dev-shm-usage"]

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("Debian chromium is not installed: `make browser` installs it (apt-get install chromium)")
    pytest.skip("chromium is not installed (make browser)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, log: Path):
        self.port, self.data_dir, self.log = _free_port(), data_dir, log
        self.proc = None

    def __enter__(self):
        env = {**os.environ, "AUDITLENS_DATA_DIR": str(self.data_dir), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1"}
        env.pop("AUDITLENS_DATABASE_URL", None)
        env.pop("AUDITLENS_GC_FREEZE", None)  # the server as shipped (the suite turns freezing off for itself)
        self.proc = subprocess.Popen([sys.executable, "-m", "explainers.cli", "serve", "--address", "127.0.0.1",
                                      "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2) as r:  # noqa: S310 - loopback
                    if r.read() == b"ok":
                        return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.proc.terminate()  # `auditlens serve` execs Streamlit, so this reaches the server itself
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _download(page, button: str, target: Path, name_has: str | None = None) -> Path:
    """Click a download button and save what it gives. With ``name_has``, click again (for up to 60 s) until the
    file is named so: the run that follows a verdict shows 'Verdict saved' before it replaces the export buttons,
    and a click in between gets the export built before the verdict."""
    deadline = time.monotonic() + 60
    while True:
        with page.expect_download(timeout=120_000) as info:
            page.get_by_role("button", name=button).click()
        if name_has is None or name_has in info.value.suggested_filename or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    info.value.save_as(target)
    return target


def test_demo_audit_verdict_restart_and_exports(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    data, log = tmp_path / "data", tmp_path / "server.log"
    outside, dialogs = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})

            def guard(route):
                host = route.request.url.split("/")[2] if "://" in route.request.url else ""
                if host.split(":")[0] in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            with Server(data, log) as server:
                page.goto(server.url, timeout=60_000)
                # the Audit page opens on the demo and computes it
                expect(page.get_by_text("Answer support probability")).to_be_visible(timeout=240_000)
                expect(page.get_by_text("1 of 3", exact=True)).to_be_visible()  # one sentence flagged
                # the answer with its flag, the flagged words and the reason are in the first viewport (1400x900)
                flagged = page.locator("strong", has_text="Leonardo").first
                expect(flagged).to_be_visible()
                reason = page.get_by_text("names in no source", exact=False).first
                for element in (flagged, reason):
                    box = element.bounding_box()
                    assert box is not None and box["y"] + box["height"] <= 900, box
                if os.environ.get("AUDITLENS_SCREENSHOTS"):
                    page.screenshot(path=os.path.join(os.environ["AUDITLENS_SCREENSHOTS"], "audit-first-viewport.png"))
                page.get_by_role("tab", name="Why: attributions").click()
                expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=120_000)
                # a long attribution runs beside the page: another control answers within 2 s meanwhile
                page.get_by_test_id("stSelectbox").filter(has_text="Method").click()
                page.get_by_role("option", name="integrated_gradients").click()
                steps = page.get_by_role("spinbutton", name="IG steps")  # the cost the time-limit message names is a control
                steps.fill("24")  # one chunk of steps: the Stop below acts at its first progress report
                steps.press("Enter")
                expect(page.get_by_role("button", name="Compute integrated_gradients")).to_be_visible(timeout=30_000)
                page.wait_for_timeout(1_000)
                page.get_by_role("button", name="Compute integrated_gradients").click()
                expect(page.get_by_text("The rest of the page stays usable")
                       .filter(has_text="integrated_gradients")).to_be_visible(timeout=60_000)
                page.get_by_text("Audit another answer").click()
                page.get_by_text("retrieved from a saved index").click()
                expect(page.get_by_text("No saved index yet")).to_be_visible(timeout=2_000)
                # Stop ends it at its next progress report; the page says so and offers a retry
                page.get_by_test_id("stButton").filter(has_text="Stop").click()
                expect(page.get_by_text("was stopped").first).to_be_visible(timeout=300_000)
                expect(page.get_by_role("button", name="Run again")).to_be_visible()
                page.get_by_text("pasted or uploaded").click()
                page.get_by_role("tab", name="Verdict & export").click()
                page.get_by_label("Reviewer name").fill("<img src=x onerror=alert(1)>")
                page.get_by_text("reject", exact=True).click()
                page.get_by_label("Note").fill("Leonardo da Vinci did not design it <script>alert(2)</script>")
                page.get_by_role("button", name="Save verdict").click()
                expect(page.get_by_text("Verdict saved on audit 1")).to_be_visible(timeout=60_000)
                html_report = _download(page, "Download HTML", tmp_path / "audit.html",
                                        name_has="audit-1").read_text(encoding="utf-8")
                assert "Leonardo da Vinci" in html_report and "Content-Security-Policy" in html_report
                assert "<script>alert(2)" not in html_report and "&lt;script&gt;alert(2)" in html_report
                # another answer from the form (below the results): the page says where the result is
                run_button = page.get_by_role("button", name="Run audit")
                if not run_button.is_visible():
                    page.get_by_text("Audit another answer").click()
                page.get_by_label("Answer to audit", exact=False).fill(
                    "The Eiffel Tower is 330 metres tall. It is painted bright green.")
                run_button.click()
                expect(page.get_by_text("Audit ready: 1 of 2 sentences flagged")).to_be_visible(timeout=120_000)
                expect(page.locator("strong", has_text="green").first).to_be_attached()
            # restart: the verdict is still there
            with Server(data, log) as server:
                page.goto(server.url + "/review", timeout=60_000)
                expect(page.get_by_role("heading", name="Audit 1 · version 1")).to_be_visible(timeout=120_000)
                expect(page.get_by_text("by <img src=x onerror=alert(1)>")).to_be_visible()  # shown as text
                page.goto(server.url + "/reports", timeout=60_000)
                expect(page.get_by_role("button", name="Download PDF")).to_be_visible(timeout=60_000)
                doc = json.loads(_download(page, "Download JSON", tmp_path / "r.json").read_text(encoding="utf-8"))
                assert doc["audits"][0]["verdicts"][0]["verdict"] == "reject"
                assert "Leonardo" in doc["audits"][0]["report"]["result"]["answer"]
                assert "Leonardo" in _download(page, "Download HTML", tmp_path / "r.html").read_text(encoding="utf-8")
                assert _download(page, "Download PDF", tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
        finally:
            browser.close()
    leftover = subprocess.run(["pgrep", "-f", "--", f"server.port {server.port}"], capture_output=True, text=True)
    assert leftover.returncode == 1, f"the server outlived its stop: {leftover.stdout}{leftover.stderr}"
    assert not dialogs, f"a script ran in the page: {dialogs}"
    assert not outside, f"the page tried to reach the network: {outside}"


def test_dataset_page_open_the_riskiest_answer_and_leave_a_verdict(tmp_path):
    """A batch run in the browser: the Dataset page, its riskiest answer opened in the Review queue, a verdict."""
    from playwright.sync_api import expect, sync_playwright

    from explainers.batch.runs import RunStore
    from explainers.store import Store

    data, log = tmp_path / "data", tmp_path / "server.log"
    data.mkdir()
    rows = tmp_path / "rows.jsonl"
    with open(rows, "w", encoding="utf-8") as fh:
        for k, (city, country) in enumerate([("Paris", "France"), ("Berlin", "Germany"), ("Rome", "Italy")] * 3):
            answer = (f"{city} is the capital of {country}." if k % 3 else
                      f"{city} became the capital of {country} in {1200 + k} under King Olaf.")
            fh.write(json.dumps({"id": f"r{k}", "question": f"What is the capital of {country}?", "answer": answer,
                                 "knowledge": f"{city} is the capital of {country}. It is a large city."}) + "\n")
    url = f"sqlite:///{data / 'audits.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "explainers.cli", "audit-batch", str(rows), "--run", "nightly", "--verifier",
                    "none", "--database", url, "--quiet"], cwd=ROOT, env=env, check=True, capture_output=True)
    runs = RunStore(Store(url))
    riskiest = runs.items(runs.get_run("nightly"))[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_context().new_page()
            with Server(data, log) as server:
                page.goto(server.url + "/dataset", timeout=60_000)
                expect(page.get_by_role("heading", name="Dataset")).to_be_visible(timeout=120_000)
                expect(page.get_by_text("Answer support")).to_be_visible(timeout=60_000)
                page.get_by_role("button", name="Open in the Review queue").click()  # the riskiest is picked first
                expect(page.get_by_role("heading", name=f"Audit {riskiest.audit_id} · version 1")).to_be_visible(
                    timeout=120_000)
                page.get_by_label("Reviewer name").fill("ana")
                page.get_by_text("reject", exact=True).click()
                page.get_by_role("button", name="Save verdict").click()
                expect(page.get_by_text("Verdict saved.")).to_be_visible(timeout=60_000)
        finally:
            browser.close()
    assert [h["verdict"] for h in Store(url).history(riskiest.audit_id)] == ["reject"]
