"""Open the built documentation site in headless Chromium: screenshots, console errors, rendered math.

Usage (after ``mkdocs build --strict``, which writes ``site/``)::

    python scripts/check_site.py [--site site] [--out runs/site-check]

It serves the site on 127.0.0.1 (a port the system picks), opens three pages in a real browser (the landing
page, the concepts page with its math, and an API page with math in its docstrings), and for each one:

* takes a screenshot (``OUT/NAME.png``) and checks that it is a PNG of the window's size;
* collects the browser console's messages and fails on any error (a script error, a resource that failed to
  load);
* dumps the DOM after scripts ran and counts the ``<math>`` elements (MathML that the browser renders), failing
  when a page that should show math shows none.

It prints one line per page and exits 1 on any problem, 2 when no Chromium binary is found (Debian: ``apt-get
install chromium``). Not run by CI (the CI machines have no browser); run it after changing the site's theme,
hooks or math.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

# (name, path in the site, whether the page must show math)
PAGES = [
    ("landing", "index.html", False),
    ("concepts", "design.html", True),
    ("api", "reference/api/wrl.flows.velocity.html", True),
]
BROWSERS = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome", "headless_shell")
WIDTH, HEIGHT = 1280, 1600


def find_browser() -> str | None:
    """The first Chromium binary on PATH."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, read from its header."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local HTTP server of ``site`` on a free port of 127.0.0.1, running in a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def browse(browser: str, url: str, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``url`` with ``args``, console messages logged to stderr."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--enable-logging=stderr", "--v=0", f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=5000",
           *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


_CONSOLE = re.compile(r'CONSOLE(?:\(\d+\))?\]? "?(.*?)"?, source: (\S*)')


def console_errors(stderr: str) -> list[str]:
    """The console messages of a page that are errors (Chromium logs every console message to stderr)."""
    errors = []
    for line in stderr.splitlines():
        if "CONSOLE" not in line:
            continue
        match = _CONSOLE.search(line)
        text = match.group(1) if match else line
        level_error = ":ERROR:" in line or "Uncaught" in text or "Failed to load resource" in text
        if level_error or "error" in text.lower():
            errors.append(text)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="site", help="the built site (default: site)")
    parser.add_argument("--out", default="runs/site-check", help="where the screenshots go")
    opts = parser.parse_args(argv)
    site, out = Path(opts.site), Path(opts.out)
    browser = find_browser()
    if browser is None:
        print(f"no Chromium binary on PATH (looked for {', '.join(BROWSERS)})")
        return 2
    if not (site / "index.html").is_file():
        print(f"{site}/index.html is missing: build the site first (mkdocs build --strict)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    server, base = serve(site)
    problems = 0
    try:
        for name, path, wants_math in PAGES:
            url = base + path
            shot = out / f"{name}.png"
            shot.unlink(missing_ok=True)
            run = browse(browser, url, f"--screenshot={shot}")
            errors = console_errors(run.stderr)
            dom = browse(browser, url, "--dump-dom")
            errors += [e for e in console_errors(dom.stderr) if e not in errors]
            maths = dom.stdout.count("<math")
            size = png_size(shot) if shot.is_file() else None
            bad = []
            if errors:
                bad.append(f"{len(errors)} console error(s): " + " | ".join(errors[:5]))
            if size != (WIDTH, HEIGHT):
                bad.append(f"screenshot {size}, expected {(WIDTH, HEIGHT)}")
            if wants_math and maths == 0:
                bad.append("no <math> element")
            if "<title>" not in dom.stdout:
                bad.append("no page was rendered")
            kb = shot.stat().st_size // 1024 if shot.is_file() else 0
            print(f"{name:9s} {path}: screenshot {size} {kb} KiB, {maths} <math> elements, "
                  f"{len(errors)} console errors" + ("" if not bad else " -- FAIL: " + "; ".join(bad)))
            problems += bool(bad)
    finally:
        server.shutdown()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
