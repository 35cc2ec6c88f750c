"""Notebooks narrate, call a chapter builder, display and glue (issue 29 §4); the logic lives in
``kedit_utils``, where it is unit-tested. The budget, checked on every code cell of every page:

* no ``def``, ``class``, ``while``, ``try`` or ``with`` block;
* no conditional: no ``if`` statement, no ``x if c else y``, no filter in a comprehension
  (a plain mapping comprehension is display plumbing and is allowed);
* a ``for`` loop only when it is trivial display: its body is nothing but calls to
  ``display``, ``print``, a ``glue*`` function or a plotting call on a figure or axes
  (``ax.*`` / ``fig.*`` / ``plt.*``), with no nested loop;
* in the chapters with a chapter builder (:data:`BUILT_CHAPTERS`: 5, 6 and 7), no table
  assembly and no verdict logic: no ``pd.concat``, ``pd.merge``, ``pd.DataFrame(...)`` (nor
  ``concat`` / ``merge`` imported by name), ``.merge(``, ``.join(``, ``.query(``, ``.assign(``,
  ``.groupby(``, ``.pivot(`` or ``.pivot_table(``, and no comparison or boolean operator
  (``ba.ci_low > 0``, ``x and y``): their tables and verdicts come from the builder and the
  paper's claims module.
"""
import ast
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
DISPLAY_CALLS = {"display", "print"}
PLOT_OWNERS = {"ax", "axes", "fig", "plt", "g", "grid"}
TABLE_METHODS = {"merge", "join", "query", "assign", "groupby", "pivot", "pivot_table"}
BUILT_CHAPTERS = {"05_deletion_impact", "06_meta_learning_propagation", "07_editing_methods"}


def _call_name(node: ast.AST) -> tuple[str | None, str | None]:
    """(owner, name) of a call's function: ``display(x)`` -> (None, "display"), ``ax.plot`` -> ("ax", "plot")."""
    func = node.func if isinstance(node, ast.Call) else None
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        while isinstance(owner, (ast.Attribute, ast.Subscript)):
            owner = owner.value
        return (owner.id if isinstance(owner, ast.Name) else None), func.attr
    return None, None


def _trivial_display(stmt: ast.stmt) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    owner, name = _call_name(stmt.value)
    return (owner is None and name is not None and (name in DISPLAY_CALLS or name.startswith("glue"))) \
        or (owner in PLOT_OWNERS)


def budget_violations(source: str, tables: bool = True) -> list[str]:
    """What one code cell's source breaks of the budget above (empty: within it); ``tables``:
    check table assembly too."""
    out = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.While, ast.Try, ast.With)):
            out.append(f"line {line}: {type(node).__name__}")
        elif isinstance(node, ast.If):
            out.append(f"line {line}: if statement")
        elif isinstance(node, ast.IfExp):
            out.append(f"line {line}: conditional expression")
        elif isinstance(node, ast.comprehension) and node.ifs:
            out.append(f"line {getattr(node.ifs[0], 'lineno', 0)}: filter in a comprehension")
        elif isinstance(node, ast.For):
            if not all(_trivial_display(s) for s in node.body):
                out.append(f"line {line}: for loop that is not trivial display")
        elif tables and isinstance(node, (ast.Compare, ast.BoolOp)):
            out.append(f"line {line}: verdict logic (a comparison or boolean operator)")
        elif tables and isinstance(node, ast.Call):
            owner, name = _call_name(node)
            if (owner == "pd" and name in {"concat", "merge", "DataFrame"}) \
                    or (owner is None and name in {"concat", "merge"}) \
                    or (owner != "pd" and name in TABLE_METHODS and isinstance(node.func, ast.Attribute)):
                out.append(f"line {line}: table assembly ({name})")
    return out


def code_cells(path: Path) -> list[tuple[int, str]]:
    nb = jupytext.read(path)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and "parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_code_cells_keep_the_budget(path):
    tables = path.stem in BUILT_CHAPTERS
    problems = [f"cell {i}, {v}" for i, src in code_cells(path) for v in budget_violations(src, tables)]
    assert not problems, f"{path.name}: logic belongs in kedit_utils:\n  " + "\n  ".join(problems)


def test_budget_rule_itself():
    assert budget_violations("x = build(cfg)\ndisplay(x.table)\nglue_number('n', x.n)") == []
    assert budget_violations("for k, v in out.items():\n    glue_number(k, v)") == []
    assert budget_violations("for r in rows:\n    ax.plot(r.x, r.y)") == []
    assert budget_violations("names = {n: title(n) for n in card.profiles}") == []
    assert budget_violations("if ok:\n    display(x)")
    assert budget_violations("t = a if ok else b")
    assert budget_violations("xs = [r for r in rows if r.ok]")
    assert budget_violations("for r in rows:\n    total += r")
    assert budget_violations("t = pd.concat([a, b])")
    assert budget_violations("t = frame.groupby('graph').mean()")
    assert budget_violations("def f():\n    pass")
    assert budget_violations("ba_clear = (ba.ci_low > 0).all()")  # the issue's own example
    assert budget_violations("t = frame[frame.graph == 'BA']") and budget_violations("ok = a and b")
    assert budget_violations("t = a.join(b)") and budget_violations("t = df.query('n > 2')")
    assert budget_violations("from pandas import concat\nt = concat([a, b])")
    assert budget_violations("ok = x > 0", tables=False) == []  # the comparison rule is the built chapters' only
