"""The book: every chapter executes headless in fast mode (its closing asserts included), and
the built site holds up in a real browser: every page loads without a console error, every
image has a size, every local link (fragments included) lands on something.

The whole site is built once (fast mode, each chapter under the 60 s limit the builder
enforces) into a temporary folder and shared by the tests below. The browser is Debian's
Chromium driven by selenium; in CI (``CI`` set) a missing browser fails, locally it skips.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from book import build as book_build
from book import reading
from book.build import BuildError, Links, chapters

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book") / "_build"
    seconds = book_build.build(out, fast=True, limit=60.0, log=lambda *a: None)
    return out, seconds


def test_every_chapter_executes_and_renders(site):
    out, seconds = site
    names = [p.stem for p in chapters()]
    assert names == ["ch00_engine", "ch01_classifier_vs_segmenter", "ch02_size_trace",
                     "ch03_bottleneck_blur", "ch04_skip_connections", "ch05_training",
                     "ch06_upsampling", "ch07_imbalance", "ch08_diffusion", "ch09_variants"]
    assert list(seconds) == names  # all ran, in the lesson's order
    for name in names:
        page = (out / f"{name}.html").read_text()
        n = name[2:4].lstrip("0") or "0"
        assert f"chapter {n}: all asserts hold" in page  # the closing asserts ran
        assert 'class="figure"' in page and "<strong>Takeaway:</strong>" in page
        assert "code/tinyunet/" in page  # it links into the reading view
        assert 'class="out error"' not in page
    index = (out / "index.html").read_text()
    assert [index.index(f'href="{n}.html"') for n in names] == \
        sorted(index.index(f'href="{n}.html"') for n in names)


def test_the_variants_chapter_links_each_variant_and_its_code_links_back(site):
    """Chapter 9 reads the family off the code: each variant's file gets a reading page that
    names the chapter; chapter 5 closes with its touching-nuclei appendix."""
    out, _ = site
    page = (out / "ch09_variants.html").read_text()
    for rel in ("tinyunet/models/attention_unet.py", "tinyunet/models/residual_unet.py",
                "tinyunet/models/unetpp.py", "tinyunet/models/unet3d.py",
                "tinyunet/models/size_plan.py"):
        assert f'href="code/{rel}.html' in page, rel
        code = (out / "code" / f"{rel}.html").read_text()
        assert "Used in:" in code and "../../../ch09_variants.html" in code, rel
    assert page.count('class="figure"') >= 2  # the slider's strip and the main figure
    training = (out / "ch05_training.html").read_text()
    assert "chapter 5, touching nuclei: all asserts hold" in training
    assert "code/tinyunet/data/weights.py.html#L" in training


def test_reading_pages_link_back_to_the_chapters(site):
    out, _ = site
    for rel in book_build.READING:
        page = (out / "code" / f"{rel}.html").read_text()
        assert "Used in:" in page, rel  # every file the book shows is discussed by a chapter
    conv = (out / "code/tinyunet/ops/conv.py.html").read_text()
    assert "Used in:" in conv and "../../../ch00_engine.html" in conv
    first, last = reading.resolve((book_build.ROOT / "tinyunet/ops/conv.py").read_text(),
                                  "Conv2d.backward")
    assert f'id="L{first}-L{last}"' in conv  # the exact range a chapter points at


def test_reading_view_puts_a_docstring_beside_its_code():
    source = ('"""Module: the formula y = a x."""\n\nimport math\n\n\n'
              'def f(x):\n    """y = 2 x::\n\n        y = 2 * x\n\n    Doubles.\n    """\n'
              '    return 2 * x\n\n\n'
              '# ----- helpers -----\n# why this exists\ndef g():\n    return math.pi\n')
    parts = reading.sections(source)
    assert [s.lines for s in parts] == [[2, 3, 4, 5], [6, 13, 14, 15], [18, 19]]
    assert "    y = 2 * x" in parts[1].prose  # the :: block became markdown code
    assert parts[2].prose.startswith("### helpers")
    assert reading.resolve(source, "f") == (6, 13)


def test_a_link_to_a_missing_name_fails_the_build():
    rewrite = Links().rewriter("chXX", "a chapter")
    assert "code/tinyunet/ops/conv.py.html#L" in rewrite("[x](../tinyunet/ops/conv.py#Conv2d)")
    with pytest.raises(BuildError, match="no class or function 'NoSuchThing'"):
        rewrite("[x](../tinyunet/ops/conv.py#NoSuchThing)")
    with pytest.raises(BuildError, match="does not exist"):
        rewrite("[x](../tinyunet/no_such_file.py)")


def _browser():
    if not (CHROMIUM and CHROMEDRIVER):
        message = ("Chromium and chromedriver are needed for the browser check "
                   "(make test installs them: apt-get install -y chromium chromium-driver)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--allow-file-access-from-files", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def test_the_site_in_a_headless_browser(site):
    out, _ = site
    pages = sorted(out.rglob("*.html"))
    driver = _browser()
    ids, links, problems = {}, [], []
    try:
        for page in pages:
            driver.get(page.as_uri())
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            problems += [f"{page.name}: console error {m}" for m in errors]
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth,"
                " i.naturalHeight])")
            problems += [f"{page.name}: image {src} did not load"
                         for src, complete, w, h in images if not (complete and w > 0 and h > 0)]
            ids[page.resolve()] = set(driver.execute_script(
                "return Array.from(document.querySelectorAll('[id]')).map(e => e.id)"))
            links += [(page, href) for href in driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")]
        assert any(len(v) > 100 for v in ids.values())  # reading pages: an id per line
    finally:
        driver.quit()
    for page, href in links:
        url = urlparse(href)
        if url.scheme != "file":
            problems.append(f"{page.name}: a link leaves the site: {href}")
            continue
        target = Path(unquote(url.path)).resolve()
        if not target.is_file():
            problems.append(f"{page.name}: broken link {href}")
        elif url.fragment and target.suffix == ".html" and url.fragment not in ids[target]:
            problems.append(f"{page.name}: {href} has no element #{url.fragment}")
    assert not problems, "\n".join(problems[:20])
    assert len(links) > 200


def test_interact_gives_live_sliders_in_jupyter(monkeypatch):
    import sys

    import ipywidgets

    sys.path.insert(0, str(book_build.TUTORIALS))
    import bookkit

    calls, shown = [], []
    monkeypatch.setattr(bookkit, "static", lambda: False)  # as in a live Jupyter kernel
    monkeypatch.setattr(bookkit, "_display", shown.append)
    monkeypatch.setattr(ipywidgets, "interact", lambda fn, **c: calls.append((fn, c)))
    drawn = []
    bookkit.interact(lambda ax, depth, scale: drawn.append((depth, scale)),
                     depth=[1, 2, 3], scale=(0.5, 2.0))
    (redraw, controls), = calls
    assert isinstance(controls["depth"], ipywidgets.SelectionSlider)
    assert controls["depth"].options == (1, 2, 3)
    assert isinstance(controls["scale"], ipywidgets.FloatSlider)
    redraw(depth=2, scale=1.5)  # what moving a slider does: draw that setting, show it
    assert drawn == [(2, 1.5)] and len(shown) == 1
    monkeypatch.setattr(bookkit, "static", lambda: True)  # headless: a strip of presets
    bookkit.interact(lambda ax, depth, scale: drawn.append((depth, scale)),
                     depth=[1, 2, 3], scale=(0.5, 2.0))
    assert drawn[1:] == [(1, 0.5), (2, 0.5), (3, 0.5)] and len(shown) == 2


def test_the_builder_never_wipes_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(BuildError, match="not a book build"):
        book_build.build(tmp_path, fast=True, only=["ch00_engine"], log=lambda *a: None)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
