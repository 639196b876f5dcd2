"""What the lecturer says is computed: the hand-written prose of every deck (slide text, speaker notes,
and the literal parts of alt texts and notes written in cells) carries no numeral that describes a run.
A number about a run is formatted into the text by a cell; what may be typed is a definition, listed in
ALLOWED with its reason."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import deck as D

SLIDES = D.ROOT / "slides"

# Numerals that may be typed, each a definition and not a result: value -> reason.
ALLOWED = {
    "0": "a formula's constant (b_0 = 0, mu = 0, lambda = 0)",
    "1": "a formula's constant (1 - beta, t = 1, a single example)",
    "2": "a formula's constant (the 2 of 2/lambda, x^2) and the valley's curvature 2",
    "0.1": "the valley's curvature 0.1 (its formula 0.1x^2 + 2y^2)",
    "0.9": "the default beta1 / rho and the usual momentum (a setting, not a result)",
    "0.99": "RMSprop's default alpha",
    "0.999": "Adam's default beta2",
    "0.5": "a formula's constant (the half of a squared error; Nadam's 0.5 * 0.96^(t psi))",
    "0.96": "Nadam's momentum schedule constant (Dozat 2016, PyTorch)",
    "0.004": "Nadam's momentum_decay default and Keras' AdamW decay default",
    "4e-3": "Nadam's momentum_decay default (PyTorch NAdam), the same definition as 0.004",
    "2e-3": "PyTorch's default lr of Adamax and NAdam (a library default; no run in the deck uses it)",
    "20": "the valley's condition number (its definition: 2 / 0.1)",
    "10": "a formula's base (10^-6, ten times) and the range test's factor",
    "100": "a formula's constant (Rosenbrock's b = 100)",
}
YEAR = re.compile(r"^(1[6-9]\d\d|20[0-2]\d)[a-z]?$")
# A power of ten written 1e-6 is a tolerance or a default (a definition), read as one token.
POWER_OF_TEN = re.compile(r"^1e[-+]?\d+$")
NUMERAL = re.compile(r"(?<![\w.\\^_{])(\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w])")
CODE_BLOCKS = re.compile(r"(?s)```.*?```")  # code blocks and cells
# Not prose about runs: math indices (x_1, beta_2, m_{t-1}), exponents (10^{-6}), slide ids, file names.
STRIP = [CODE_BLOCKS] + [re.compile(p) for p in [
    r"(?s)<!--.*?-->",                 # HTML comments
    r"\*\(\d+(?:\.\d+)? minutes?\)\*",    # a section's planned minutes: a plan, not a result
    r"\{\{<.*?>\}\}",                  # shortcodes
    r"\{[#.][^}]*\}",                  # attributes {#id .class}
    r"[_^]\{[^}]*\}|[_^]-?\w",        # sub- and superscripts
    r"\]\([^)]*\)",                    # link targets
    r"\\[a-zA-Z]+",                    # TeX commands
]]


def prose_of_markdown(text: str) -> str:
    """The hand-written prose of a qmd file: everything outside code blocks and cells."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter: title and options
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    return text


def literal_strings(node) -> list[str]:
    """The literal text of a string expression: constants, f-string constant parts, concatenations."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return literal_strings(node.left) + literal_strings(node.right)
    return []


def cell_nodes(text: str):
    """Every node of the Python syntax trees of a qmd file's cells (a cell that does not parse has none)."""
    for cell in D.cells(text):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        yield from ast.walk(tree)


def prose_in_cells(text: str) -> str:
    """The typed text of alt texts (``alt=``) and notes (``S.notes(...)``) written inside cells."""
    out = []
    for node in cell_nodes(text):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "alt":
                    out += literal_strings(kw.value)
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "notes" and node.args:
                out += literal_strings(node.args[0])
    return prose_of_markdown("\n".join(out))


def typed_numbers(text: str) -> list[str]:
    found = []
    for m in NUMERAL.finditer(text):
        value = m.group(1).rstrip(",")
        if value in ALLOWED or YEAR.match(value) or POWER_OF_TEN.match(value):
            continue
        found.append(value)
    return found


def files():
    return sorted(SLIDES.rglob("*.qmd"))


def without_references(text: str) -> str:
    """The References slides list volumes and pages of the papers: bibliographic, not about runs."""
    return re.sub(r"^## References.*?(?=^#{1,2} |\Z)", "", text, flags=re.S | re.M)


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(SLIDES)))
def test_no_typed_number_in_the_prose(path):
    text = without_references(path.read_text())
    found = typed_numbers(prose_of_markdown(text)) + typed_numbers(prose_in_cells(text))
    assert found == [], f"{path.name}: typed numbers {found[:12]}: compute them in a cell, or add a definition to ALLOWED"


def test_the_check_catches_a_typed_result_and_passes_definitions():
    clean = """## Momentum {#momentum}

With $\\mu = 0.9$ (the usual choice) and $\\beta_2 = 0.999$ (Kingma and Ba 2015), $x_{t-1}$ and $10^{-6}$.

```{python}
#| label: c
print(S.notes(f"It took {steps} steps."))
print(S.video(anim, "m", alt=f"Momentum reaches the minimum in {n} steps."))
```
"""
    assert typed_numbers(prose_of_markdown(clean)) == [] and typed_numbers(prose_in_cells(clean)) == []
    typed_slide = clean.replace("(the usual choice)", "(it needs 149 steps)")
    assert typed_numbers(prose_of_markdown(typed_slide)) == ["149"]
    typed_alt = clean.replace("in {n} steps", "in 83 steps")
    assert typed_numbers(prose_in_cells(typed_alt)) == ["83"]
    typed_note = clean.replace("{steps} steps", "over a hundred steps, 1,280 gradients")
    assert typed_numbers(prose_in_cells(typed_note)) == ["1,280"]
    assert typed_numbers(prose_of_markdown("::: {.notes}\nthe median is 0.13\n:::")) == ["0.13"]
    # lines of the code beside it are named by what they hold (present.line_ref), not by a typed number
    assert typed_numbers(prose_of_markdown("Below 1e-6 for good; line 5 and lines 8 and 9 of the code.")) == ["5", "8", "9"]
    assert typed_numbers(prose_of_markdown("It reached 2.5e-09 at step 12.")) == ["2.5e-09", "12"]


def e_notation_in_text(text: str) -> list[str]:
    """Numbers in e-notation in a qmd file's text for the audience (outside code, code spans and math): a
    slide writes $10^{-6}$, and a library's setting as code, `lr=2e-3`."""
    return [m.group(0) for m in D.E_NOTATION.finditer(D.without_code_and_math(prose_of_markdown(text)))]


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(SLIDES)))
def test_no_e_notation_in_the_slide_text(path):
    found = e_notation_in_text(path.read_text())
    assert found == [], f"{path.name}: {found}: write powers of ten as $10^{{-6}}$, a library's setting as code"


def test_the_e_notation_check_catches_a_typed_one_and_passes_code_and_math():
    clean = "PyTorch `Adamax` (`lr=2e-3`) stays below $10^{-6}$ and $2 \\times 10^{-3}$.\n\n```{python}\nx = 1e-6\n```\n"
    assert e_notation_in_text(clean) == []
    assert e_notation_in_text(clean.replace("(`lr=2e-3`)", "(lr 2e-3)")) == ["2e-3"]


def spelled_math_in_typed_notes(text: str) -> list[str]:
    """The symbols and formulas spelled out in ASCII in the notes a qmd file types outside its cells (the notes
    that cells print are checked on their output: ``deck.prose_problems``)."""
    return D.spelled_math(CODE_BLOCKS.sub("", text))


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(SLIDES)))
def test_no_spelled_math_in_the_typed_notes(path):
    found = spelled_math_in_typed_notes(path.read_text())
    assert found == [], f"{path.name}: {found}: typeset symbols and formulas in the notes as math ($\\eta$, $\\beta_2^t$)"


def test_the_spelled_math_check_reads_the_notes_and_skips_cells():
    clean = ("## Momentum\n\n::: {.notes}\nWith $\\mu = 0.9$ the buffer $b_t$ sums the gradients.\n:::\n\n"
             "```{python}\nbeta_2 = 0.999  # eta, mu\n```\n")
    assert spelled_math_in_typed_notes(clean) == []
    assert spelled_math_in_typed_notes(clean.replace("$\\mu = 0.9$", "mu = 0.9")) == ["mu"]


def numbers_inside_math(text: str) -> list[str]:
    """``present.number`` calls that a cell's f-strings format inside ``$...$``: ``number`` brings its own math
    for a very small or large value (``$1.2 \\times 10^{-5}$``), which would then open inside the math around it.
    The ``$`` are counted along each f-string; ``tex_number`` is the helper for a value inside math."""
    found = []
    for node in cell_nodes(text):
        if not isinstance(node, ast.JoinedStr):
            continue
        inside = False
        for part in node.values:
            if isinstance(part, ast.Constant):
                inside ^= part.value.count("$") % 2 == 1
            elif inside and any(isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "number"
                                for c in ast.walk(part.value)):
                found.append(ast.unparse(part.value))
    return found


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(SLIDES)))
def test_no_number_formatted_inside_math(path):
    found = numbers_inside_math(path.read_text())
    assert found == [], f"{path.name}: {found} inside $...$: write the number after the math ($\\eta$ = {{S.number(x)}})"


def test_the_math_check_finds_a_number_inside_math_and_passes_one_outside():
    outside = '```{python}\nprint(f"limit $2/\\\\lambda_{{\\\\max}}$ = {S.number(lr)}, $\\\\mu = {mu:g}$; {S.number(x)}")\n```\n'
    assert numbers_inside_math(outside) == []
    inside = outside.replace("$ = {S.number(lr)}", " = {S.number(lr)}$")
    assert numbers_inside_math(inside) == ["S.number(lr)"]
