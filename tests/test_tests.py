"""The tests themselves: a test module imports helpers only from the shared modules
(tests/community.py, mail.py, console.py, processes.py, conftest.py, fakes/), never from
another test module, so moving or deleting one test file breaks no other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _test_modules(source: str, package: tuple[str, ...]) -> list[tuple[int, str]]:
    """The test modules (a `test_` module under tests/) that `source`, a module of the
    dotted `package`, imports: (line, dotted name), relative imports made absolute."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            if _is_test_module(module):
                found.append((node.lineno, module))
            else:  # `from tests import test_x` names the module after `import`
                names = (f"{module}.{alias.name}" for alias in node.names)
                found += [(node.lineno, name) for name in names if _is_test_module(name)]
    return found


def _is_test_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and any(part.startswith("test_") for part in parts[1:])


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_rsvp import answer",
        "import tests.test_rsvp",
        "from tests import test_rsvp",
        "from .test_rsvp import answer",
        "from . import test_rsvp",
        "from ..test_rsvp import answer",
        "def helper():\n    from tests.browser.test_rsvp_browser import x",
    ],
)
def test_tests_an_import_of_a_test_module_is_found(source: str) -> None:
    assert _test_modules(source, ("tests", "browser")) != []


def test_tests_shared_helpers_and_fakes_are_allowed() -> None:
    source = (
        "from tests.community import invited\nfrom tests.fakes.smtp import SmtpSink\n"
        "from tests.browser.conftest import Live\nfrom .conftest import Api\n"
        "import tests.bench.outbox\nfrom service import test_support\n"
    )
    assert _test_modules(source, ("tests",)) == []


def test_tests_import_no_other_test_module() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in _test_modules(
            path.read_text(encoding="utf-8"),
            ("tests", *path.parent.relative_to(TESTS).parts),
        )
    ]

    assert offenders == [], "move shared helpers to tests/community.py:\n" + "\n".join(offenders)
