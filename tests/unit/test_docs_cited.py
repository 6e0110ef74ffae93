"""Every ``docs/*.md`` page the code, the tests or the README cite exists in the repo.

A reader of the project has no access to the team's shared folder, so a convention
the code points to must live in ``docs/``.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)")


def _cited_pages() -> dict[str, set[str]]:
    pages: dict[str, set[str]] = {}
    sources = [*ROOT.glob("poc/**/*.py"), *ROOT.glob("tests/**/*.py"), ROOT / "README.md"]
    for path in sources:
        for name in CITED.findall(path.read_text(encoding="utf-8")):
            pages.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return pages


def test_the_code_cites_docs_pages():
    assert "conventions.md" in _cited_pages()


def test_every_cited_docs_page_exists():
    missing = {
        name: sorted(where)
        for name, where in _cited_pages().items()
        if not (ROOT / "docs" / name).is_file()
    }
    assert missing == {}, f"cited but not in docs/: {missing}"


def test_no_reference_to_the_shared_design_file():
    offenders = [
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("poc/**/*.py"), ROOT / "README.md"]
        if "DESIGN.md" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []
