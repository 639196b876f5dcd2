"""Read the decks the way Quarto does, and execute their cells the way Quarto's Jupyter engine does.

Quarto (1.8) renders a `.qmd` with Python cells like this, and so does `execute_deck` here:
1. `{{< include file >}}` shortcodes are replaced by the included file's text (paths relative to the
   file that includes them) before anything runs;
2. every ```` ```{python} ```` block becomes a code cell of a notebook, its `#|` lines the cell options;
   cells with `eval: false` are not run;
3. a kernel (`jupyter: python3`) starts in the deck's directory; a first setup cell sets matplotlib's
   figure size, dpi and format from the deck's options and changes to the execute directory (the
   project root when `_quarto.yml` says `execute-dir: project`); QUARTO_FIG_* environment variables
   are set for the kernel;
4. the cells run in order, in one kernel; with `error: false` (the default) the first exception stops
   the render.
"""
from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^\{\{<\s*include\s+(\S+)\s*>\}\}\s*$", re.M)
CELL = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass
class Cell:
    source: str  # code without the option lines
    options: dict
    outputs: list = field(default_factory=list)
    seconds: float | None = None  # how long the kernel took to run it (``execute_deck``)

    @property
    def label(self) -> str:
        return str(self.options.get("label", ""))


def project_config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def profile_config(profile: str) -> dict:
    """``_quarto-<profile>.yml``: what one variant of the lecture renders, and where."""
    return yaml.safe_load((ROOT / f"_quarto-{profile}.yml").read_text())


def variants() -> dict[str, list[Path]]:
    """Every variant (Quarto profile of the group in `_quarto.yml`) and the decks it renders, the
    default profile first. Render entries may be globs, as Quarto allows."""
    profiles = project_config()["profile"]
    names = [profiles["default"]] + [p for group in profiles["group"] for p in group if p != profiles["default"]]
    out = {}
    for name in names:
        found = []
        for entry in profile_config(name)["project"]["render"]:
            found += sorted(ROOT.glob(entry)) if any(c in entry for c in "*?[") else [ROOT / entry]
        out[name] = found
    return out


def output_dir(profile: str) -> Path:
    return ROOT / profile_config(profile)["project"]["output-dir"]


def decks() -> list[Path]:
    """The decks plain `quarto render` renders: the default profile's render list."""
    return next(iter(variants().values()))


def expand_includes(path: Path, _seen=()) -> str:
    """The deck's text with every include shortcode replaced, recursively."""
    if path in _seen:
        raise ValueError(f"include cycle through {path}")
    text = path.read_text()

    def replace(m):
        return expand_includes((path.parent / m.group(1)).resolve(), _seen + (path,))

    return INCLUDE.sub(replace, text)


def cells(text: str) -> list[Cell]:
    out = []
    for m in CELL.finditer(text):
        lines = m.group(1).splitlines()
        opts = [l[3:] for l in lines if l.startswith("#| ")]
        body = [l for l in lines if not l.startswith("#| ")]
        out.append(Cell("\n".join(body), yaml.safe_load("\n".join(opts)) or {}))
    return out


def slides(text: str) -> list[str]:
    """Split a deck's (expanded) text into slides at level-1 and level-2 headings outside code blocks.
    The first chunk, the front matter and setup cell before any heading, is the title slide."""
    chunks, current, fenced = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced if line.strip() == "```" or not fenced else fenced
        if not fenced and re.match(r"^#{1,2} ", line):
            chunks.append("\n".join(current))
            current = []
        current.append(line)
    chunks.append("\n".join(current))
    return chunks


def deck_metadata(deck: Path) -> dict:
    """The revealjs options the deck runs with: `_metadata.yml` of its folder, then its own front matter."""
    meta = {}
    directory = deck.parent / "_metadata.yml"
    if directory.exists():
        meta.update(yaml.safe_load(directory.read_text()) or {})
    front = re.match(r"^---\n(.*?)\n---\n", deck.read_text(), re.S)
    if front:
        meta.update(yaml.safe_load(front.group(1)) or {})
    return meta


def execute_dir(deck: Path) -> Path:
    project = project_config().get("project", {})
    return ROOT if project.get("execute-dir") == "project" else deck.parent


def figure_options(deck: Path) -> dict:
    fmt = deck_metadata(deck).get("format", {})  # `format: revealjs`, or a mapping of formats to options
    fmt = fmt.get("revealjs") if isinstance(fmt, dict) else None
    fmt = fmt if isinstance(fmt, dict) else {}
    # Quarto's revealjs defaults: 10 x 5 inches, dpi 96, png
    return {"fig-width": fmt.get("fig-width", 10), "fig-height": fmt.get("fig-height", 5),
            "fig-dpi": fmt.get("fig-dpi", 96), "fig-format": fmt.get("fig-format", "png")}


def setup_source(deck: Path, run_dir: Path) -> str:
    fig = figure_options(deck)
    return "\n".join([
        "import os",
        "import matplotlib.pyplot as plt",
        f"plt.rcParams['figure.figsize'] = ({fig['fig-width']}, {fig['fig-height']})",
        f"plt.rcParams['figure.dpi'] = {fig['fig-dpi']}",
        "plt.rcParams['savefig.dpi'] = 'figure'",
        "from matplotlib_inline.backend_inline import set_matplotlib_formats",
        f"set_matplotlib_formats({fig['fig-format']!r})",
        f"os.chdir({str(run_dir)!r})",
    ])


def execute_deck(deck: Path, run_dir: Path | None = None, timeout: int = 900) -> list[Cell]:
    """Run every cell of ``deck`` in order in a fresh python3 Jupyter kernel, from ``run_dir`` (default:
    the execute directory `_quarto.yml` gives); return the cells with their outputs.
    Each cell's ``seconds`` is the time the kernel took to run it. Raises
    ``nbclient.exceptions.CellExecutionError`` at the first failing cell."""
    import nbformat
    from nbclient import NotebookClient

    parsed = cells(expand_includes(deck))
    run = [c for c in parsed if c.options.get("eval", True) is not False]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": deck_metadata(deck).get("jupyter", "python3"),
                                 "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(setup_source(deck, run_dir or execute_dir(deck)))] + [
        nbformat.v4.new_code_cell(c.source, metadata={"label": c.label}) for c in run]
    fig = figure_options(deck)
    env = {"QUARTO_FIG_WIDTH": str(fig["fig-width"]), "QUARTO_FIG_HEIGHT": str(fig["fig-height"]),
           "QUARTO_FIG_DPI": str(fig["fig-dpi"]), "QUARTO_FIG_FORMAT": fig["fig-format"]}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name=nb.metadata["kernelspec"]["name"],
                                allow_errors=False, resources={"metadata": {"path": str(deck.parent)}})
        client.execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    for c, nbcell in zip(run, nb.cells[1:]):
        c.outputs = nbcell.outputs
        c.seconds = _seconds(nbcell.metadata.get("execution", {}))
    return run


def output_text(cell: Cell) -> str:
    """Everything a cell printed or returned, as text: its streams and the plain-text form of its results."""
    parts = []
    for o in cell.outputs:
        if o.get("output_type") == "stream":
            parts.append(o["text"])
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
    return "".join(parts)


NAN_OR_INF = re.compile(r"(?<![\w.])(nan|inf)(?![\w])", re.I)  # a diverged number on a slide: never shown


def shows_nan_or_inf(text: str) -> bool:
    """Whether ``text`` (what a cell printed, ``output_text``) shows a NaN or an infinity."""
    return NAN_OR_INF.search(text) is not None


def _seconds(execution: dict) -> float | None:
    """A cell's run time from nbclient's record of when the kernel started it and when it replied."""
    start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
    if not (start and end):
        return None
    stamp = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (stamp(end) - stamp(start)).total_seconds()


# ------------------------------------------------------------------------------------------------
# What an `output: asis` cell prints is Markdown for the audience: checks of that prose, for every deck
# and every section run on its own (tests/run_section.py)
# ------------------------------------------------------------------------------------------------

# Inside a list item, a line that begins with a number and "." or ")" starts a numbered sub-list (Pandoc,
# as Quarto reads Markdown): a computed value that a line break put first ("(PyTorch's is\n  0) and ...")
# turns the rest of the item into a list numbered from that value. Outside list items it only continues
# its paragraph.
LIST_ITEM = re.compile(r"^( *)(?:[-+*]|\d{1,9}[.)])(?:\s|$)")
NUMBERED_ITEM = re.compile(r"^( *)\d{1,9}[.)](?:\s|$)")


def numbered_by_accident(markdown: str) -> list[str]:
    """The lines of ``markdown`` that Pandoc reads as a numbered sub-list inside a list item, in the same
    paragraph as the item's text: where a line break, not the author, put a number first (after a blank
    line it is the author's). Fenced blocks (raw HTML, code) are skipped."""
    found, fenced, paragraph = [], False, []
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fenced, paragraph = not fenced, []
        elif fenced:
            continue
        elif not line.strip():
            paragraph = []
        else:
            m = NUMBERED_ITEM.match(line)
            items = [LIST_ITEM.match(prev) for prev in paragraph]
            if m and any(i and len(i.group(1)) < len(m.group(1)) for i in items):
                found.append(line.strip())
            paragraph.append(line)
    return found


# A number in a note or a text alternative is written as the slides write it (present.number: "0.0052",
# "7.5 × 10^-172"), not as Python prints it ("5.2e-03", "3.1e+00"); code spans keep Python's spelling.
E_NOTATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?e[-+]?\d+(?![\w.])", re.I)


def notes_of(markdown: str) -> list[str]:
    """The speaker notes in ``markdown`` (as ``present.notes`` writes them), one Markdown text each."""
    return re.findall(r"^::: \{\.notes\}\n(.*?)^:::$", markdown, re.M | re.S)


def alt_texts(markdown: str) -> list[str]:
    """The text alternatives in ``markdown``'s raw HTML (``alt`` and ``aria-label``)."""
    return re.findall(r'(?:alt|aria-label)="([^"]*)"', markdown)


def printed_numbers(markdown: str) -> list[str]:
    """The numbers in e-notation in the speaker notes and the text alternatives of ``markdown``, outside code spans."""
    prose = notes_of(markdown) + alt_texts(markdown)
    return [m.group(0) for text in prose for m in E_NOTATION.finditer(re.sub(r"`[^`]*`", "", text))]


# A negative number in text for the audience takes the minus sign (present.number writes it, as matplotlib does in
# the figures), not a hyphen: "x = -1.11" reads as a dash and sets apart from "−1.11" in the figure beside it.
HYPHEN_MINUS = re.compile(r"(?<![\w\-)\]/^{}])-\d+(?:[.,]\d+)*")


def without_code_and_math(text: str) -> str:
    """``text`` with its code spans and ``$...$`` math blanked out: what is left is read as prose."""
    return re.sub(r"`[^`]*`|\$[^$]*\$", " ", text)


def hyphen_minus(markdown: str) -> list[str]:
    """The numbers of ``markdown``'s text for the audience (slide text, notes, and text alternatives in raw HTML)
    written with a hyphen for their minus sign; code, code spans and ``$...$`` math are skipped."""
    texts = []
    for i, part in enumerate(re.split(r"^```.*$", markdown, flags=re.M)):
        if i % 2:  # inside a fence: only the text alternatives of raw HTML
            texts += re.findall(r'(?:alt|aria-label|title)="([^"]*)"', part)
        else:
            texts.append(part)
    found = []
    for text in texts:
        text = without_code_and_math(text)
        found += [text[max(0, m.start() - 12):m.end()].strip() for m in HYPHEN_MINUS.finditer(text)]
    return found


# A symbol or a formula in the speaker notes is typeset, as on the slides ($\eta$, $\beta_2^t$, $\sqrt{\hat v_t}$):
# the reading mode and the notes PDF show the notes to a student, and there "eta", "beta_2^t" and "root(v-hat)"
# read as code. Found: a Greek letter spelled out, a name with an index or a power, a root written as a call, a
# hat written "-hat". A Python name (`weight_decay`) goes in a code span.
GREEK = "alpha|beta|gamma|delta|epsilon|eta|theta|kappa|lambda|mu|nu|rho|sigma|tau|phi|psi|omega"
SPELLED_MATH = re.compile(rf"\b(?:{GREEK})(?:[_^]\w+)*\b|\b[A-Za-z]\w*_\w+|\w\^[\w(]|\b(?:root|sqrt)\(|\b\w+-hat\b")
# A character no text for the audience holds: what a TeX command becomes in a Python string that is not raw
# ("\beta" holds a backspace, "\frac" a form feed, "\times" a tab).
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def spelled_math(markdown: str) -> list[str]:
    """The symbols and formulas the speaker notes of ``markdown`` spell out in ASCII, outside math and code spans."""
    return [m.group(0) for note in notes_of(markdown) for m in SPELLED_MATH.finditer(without_code_and_math(note))]


def symbols_in_alt_text(markdown: str) -> list[str]:
    """Indices and powers written as code in the text alternatives of ``markdown`` ("mu_t", "beta_1", "x^2"): a
    screen reader says "underscore"; a text alternative names a symbol as it is spoken ("beta 1", "x squared")."""
    return [m.group(0) for alt in alt_texts(markdown) for m in re.finditer(r"\w+_\w+|\w*\^\S*", alt)]


def prose_problems(markdown: str) -> list[str]:
    """What is wrong with the Markdown an ``output: asis`` cell printed: a Python repr, an open code fence, a
    number that starts a numbered list by accident, a number in e-notation in a note or a text alternative, a
    hyphen for a minus sign, a symbol or formula spelled out in a note, an index or a power in a text
    alternative, a control character."""
    found = []
    control = CONTROL.search(markdown)
    if control:
        found.append(f"holds the control character {control.group(0)!r}: a TeX command in a string "
                     "that is not raw? write it rf\"...\" or double the backslash")
    if "np.float64(" in markdown or "array(" in markdown:
        found.append("prints a Python repr")
    if markdown.count("```") % 2:
        found.append("leaves a code fence open")
    found += [f"Markdown reads {line[:60]!r} as a numbered list inside a list item; keep the number off the start "
              "of the line" for line in numbered_by_accident(markdown)]
    found += [f"{n} in a note or alt text: format it with present.number" for n in printed_numbers(markdown)]
    found += [f"{s!r}: a hyphen for a minus sign; format the number with present.number" for s in hyphen_minus(markdown)]
    found += [f"{s!r} in a note: typeset it as math ($...$), or a Python name as code" for s in spelled_math(markdown)]
    found += [f"{s!r} in a text alternative: write the symbol as it is spoken" for s in symbols_in_alt_text(markdown)]
    return found
