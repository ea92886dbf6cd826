"""The app's pages, found in ``dashboard/app_pages/``: a page is one file that declares how it is listed.

Each page file starts with ``PAGE = {"title": ..., "icon": ..., "order": ..., "about": ...}`` (``"default": True`` on
the page the app opens on; ``about`` is its line in the About page's list). The declaration is read from the file's syntax tree, so listing the pages runs none of them; a page
file without a valid declaration stops the app with its name rather than being left out of the menu.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
_KEYS = {"title": str, "icon": str, "order": int}


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to the dashboard folder, as st.Page takes it from app.py
    title: str
    icon: str
    order: int
    default: bool = False
    about: str = ""  # one line for the About page's list of pages


class PageDeclarationError(Exception):
    """A page file that does not say how it is listed."""


def _declaration(path: Path) -> dict:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PAGE" for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                break
    raise PageDeclarationError(f"{path.name}: a page file declares PAGE = {{'title': ..., 'icon': ..., 'order': ...}} "
                               "as a plain dict literal at the top level")


def discover_pages(folder: Path | None = None) -> list[PageSpec]:
    """Every page of ``folder`` (default: app_pages/) in menu order; files starting with "_" are helpers."""
    folder = folder or PAGES_DIR
    specs = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        decl = _declaration(path)
        decl = decl if isinstance(decl, dict) else {}
        wrong = [k for k, kind in _KEYS.items() if not isinstance(decl.get(k), kind)]
        if wrong or set(decl) - {*_KEYS, "default", "about"} or not isinstance(decl.get("about", ""), str):
            raise PageDeclarationError(f"{path.name}: PAGE needs a str title, a str icon and an int order (and "
                                       f"optionally default=True, an about text); check {', '.join(wrong) or 'its keys'}")
        specs.append(PageSpec(f"{folder.name}/{path.name}", decl["title"], decl["icon"], decl["order"],
                              decl.get("default") is True, decl.get("about", "")))
    specs.sort(key=lambda p: (p.order, p.title))
    orders = [p.order for p in specs]
    if len(set(orders)) != len(orders):
        raise PageDeclarationError(f"two pages share one order number: {sorted(orders)}")
    if sum(p.default for p in specs) != 1:
        raise PageDeclarationError("exactly one page declares default=True")
    return specs
