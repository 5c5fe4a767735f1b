"""The manual (README.md, docs/*.md) stays a manual: links resolve, the CLI page matches --help,
the README stays short, and no page carries dates, timestamps, commit hashes or load averages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 260
#: the README's first two code blocks: the quick start, as users copy it
QUICK_START = (
    'python -c "import torch" 2>/dev/null || pip install torch==2.13.0; pip install -e . && '
    "python -m eventpipe synth --out data/raw --scale small && python -m eventpipe summary --raw "
    "data/raw && python -m eventpipe build --profile lascas2024 && python -m eventpipe inspect "
    "data/cache.h5",
    'python -c "import torch" 2>/dev/null || pip install torch==2.13.0; pip install -e ".[dev]" '
    '&& python -m pytest -n auto -m "not slow and not gpu and not distributed" -q',
)

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
UTC_TIME = re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s*UTC\b|\bT\d{2}:\d{2}:\d{2}")
HEX = re.compile(r"\b[0-9a-f]{7,40}\b")
LOAD_AVERAGE = re.compile(r"load average", re.IGNORECASE)


def _prose_and_code(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Lines outside and inside fenced code blocks, with 1-based line numbers."""
    prose, code, in_code = [], [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.strip()):
            in_code = not in_code
            continue
        (code if in_code else prose).append((number, line))
    return prose, code


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"`|\*\*|__", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    prose, _ = _prose_and_code(path.read_text())
    for _, line in prose:
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def test_slug_follows_github_rules():
    assert slug("Outputs (`--out`)") == "outputs---out"
    assert slug("How long the full protocol takes") == "how-long-the-full-protocol-takes"
    assert slug("`python -m eventpipe build`") == "python--m-eventpipe-build"
    assert slug("Differences, plainly") == "differences-plainly"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_internal_links_resolve(page: Path):
    prose, _ = _prose_and_code(page.read_text())
    broken = []
    for number, line in prose:
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append(f"{page.name}:{number}: {target} (no file {file_part})")
                continue
            if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.name}:{number}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


def test_cli_reference_matches_help():
    sys.path.insert(0, str(DOCS))
    try:
        import gen_cli
    finally:
        sys.path.remove(str(DOCS))
    assert (DOCS / "cli.md").read_text() == gen_cli.render(), (
        "docs/cli.md is out of date: run python docs/gen_cli.py"
    )


def test_benchmarks_page_matches_results():
    sys.path.insert(0, str(ROOT))
    from benchmarks import report

    assert (DOCS / "benchmarks.md").read_text() == report.render(), (
        "docs/benchmarks.md is out of date: run python benchmarks/report.py"
    )


def test_readme_is_short_and_starts_with_the_quick_start():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    blocks, current = [], None
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current).strip())
                current = None
        elif current is not None:
            current.append(line)
    assert tuple(blocks[:2]) == QUICK_START


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_diary_in_the_manual(page: Path):
    bad = []
    for number, line in enumerate(page.read_text().splitlines(), 1):
        hashes = [h for h in HEX.findall(line) if re.search(r"\d", h) and re.search("[a-f]", h)]
        for what, found in (
            ("date", DATE.search(line)),
            ("UTC time", UTC_TIME.search(line)),
            ("commit hash", hashes),
            ("load average", LOAD_AVERAGE.search(line)),
        ):
            if found:
                bad.append(f"{page.name}:{number}: {what}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)
