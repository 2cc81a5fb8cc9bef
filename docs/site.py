"""Write the docs site's sources into a folder: ``python docs/site.py SRC`` (``docs/build.sh`` runs
it, then Sphinx). Everything is taken from the code when the site is built: the registry's
records and docstrings, the formulas of ``loss_math.py``, the lessons and live demos of
``losskit.lessons`` / ``losskit.explain``, plots drawn by ``losskit.plot``, and sections of
README.md, docs/cli.md and benchmarks/RESULTS*.md found by their headings. No number is typed in.
"""

from __future__ import annotations

import importlib.util
import inspect
import pathlib
import re
import shutil
import sys
import unicodedata

import losskit as lk
from losskit.api import signature_doc
from losskit.explain import explain
from losskit.lessons import LESSONS, SECTION_TITLES
from losskit.plot import plot
from losskit.registry import aliases_of, resolve

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
from loss_math import MATH  # noqa: E402
from loss_table import table as loss_table  # noqa: E402

COURSE = ("mean_squared_error", "binary_cross_entropy", "categorical_cross_entropy", "hinge", "kl_divergence", "dice")
COMMON = {"reduction": "'mean'", "sample_weight": "None", "validate": "True"}
PEERS = ("Keras", "PyTorch", "optax", "MONAI", "scikit-learn")


# -- text helpers -------------------------------------------------------------------------------
def _esc(text: str) -> str:
    """Plain text as reST: markup characters escaped."""
    return re.sub(r"([\\*`_|])", r"\\\1", text)


def _inline_md(text: str) -> str:
    """A Markdown table cell or line as reST: `code` -> ``code``, the rest escaped."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            before = out[-1][-1:] if out and out[-1] else " "
            lead = "" if not before.isalnum() else "\\ "
            nxt = parts[i + 1][:1] if i + 1 < len(parts) else " "
            out.append(f"{lead}``{part}``" + ("\\ " if nxt.isalnum() else ""))
        else:
            out.append(_esc(part))
    return "".join(out)


def _prose(text: str) -> str:
    """A lesson's pre-wrapped text as reST: '- ' bullets, indented runs as text blocks."""
    out: list[str] = []
    block: list[str] = []
    in_bullet = False
    for line in text.splitlines() + [""]:
        if line.startswith("  ") and not in_bullet:
            block.append(line)
            continue
        if block:
            out += ["", ".. code-block:: text", ""] + ["   " + b for b in block] + [""]
            block = []
        if line.startswith("- "):
            out += ["", "- " + _esc(line[2:])]
            in_bullet = True
        elif line.startswith("  ") and in_bullet:
            out.append("  " + _esc(line.strip()))
        elif line.strip():
            if in_bullet:
                out.append("")
            in_bullet = False
            out.append(_esc(line))
        else:
            in_bullet = False
            out.append("")
    return "\n".join(out).strip("\n") + "\n"


def _heading(title: str, char: str) -> str:
    # docutils counts East Asian wide characters (Hangul) as two columns
    width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in title)
    return f"{title}\n{char * width}\n\n"


def _fenced_lines(text: str):
    """(line, inside a fenced code block) for each line of Markdown."""
    fence = None
    for line in text.splitlines():
        m = re.match(r"^(```+|~~~+)", line)
        if m and fence is None:
            fence = m.group(1)
            yield line, True
        elif fence is not None:
            if line.startswith(fence):
                fence = None
            yield line, True
        else:
            yield line, False


def md_section(text: str, heading: str) -> str:
    """The Markdown section whose heading starts with ``heading`` (up to the next heading of the
    same or a higher level), heading included."""
    lines = list(_fenced_lines(text))
    start = level = None
    for i, (line, code) in enumerate(lines):
        m = None if code else re.match(r"^(#+) (.*)", line)
        if m and start is None and m.group(2).startswith(heading):
            start, level = i, len(m.group(1))
        elif m and start is not None and level is not None and len(m.group(1)) <= level:
            return "\n".join(line for line, _ in lines[start:i])
    if start is None:
        raise SystemExit(f"docs/site.py: no section {heading!r} found")
    return "\n".join(line for line, _ in lines[start:])


def md_page(text: str, title: str | None = None, top: int = 1) -> str:
    """Markdown with its headings shifted so the highest is at level ``top`` (one below
    ``title`` if given), and links to repository files turned into text (the site does not hold them)."""
    lines = list(_fenced_lines(text))
    levels = [len(m.group(1)) for line, code in lines if not code and (m := re.match(r"^(#+) ", line))]
    shift = (top + 1 if title else top) - min(levels, default=1)
    out = ["#" * top + f" {title}", ""] if title else []
    for line, code in lines:
        if not code:
            m = re.match(r"^(#+) (.*)", line)
            if m:
                line = "#" * (len(m.group(1)) + shift) + " " + m.group(2)
            line = re.sub(r"\[([^\]]+)\]\((?!https?:)[^)]*\)", r"\1", line)
        out.append(line)
    return "\n".join(out) + "\n"


def md_table_rows(text: str):
    """The rows of the Markdown tables in ``text``, as lists of cells (header and rule excluded)."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set("-: ") or cells[0] in ("", "peer") or cells[1] == "losskit":
            continue
        yield cells


def explain_section(name: str, lang: str, key: str) -> list[str]:
    """The body of one section of ``losskit explain NAME`` (computed now), as lines."""
    title = SECTION_TITLES[lang][key]
    lines = explain(name, lang=lang).splitlines()
    for i, line in enumerate(lines[:-1]):
        if line == title and set(lines[i + 1]) == {"-"}:
            body = []
            for j in range(i + 2, len(lines)):
                if j + 1 < len(lines) and lines[j + 1] and set(lines[j + 1]) == {"-"}:
                    break
                body.append(lines[j])
            return [b for b in body if b.strip()]
    raise SystemExit(f"docs/site.py: explain({name!r}, lang={lang!r}) has no section {title!r}")


def demo_rows(name: str, lang: str) -> tuple[str, list[tuple[str, str]]]:
    """The live demo of a course lesson: its description and (call, result) rows."""
    body = explain_section(name, lang, "demo")
    rows = [tuple(part.strip() for part in line.split("  ->  ", 1)) for line in body[1:] if "  ->  " in line]
    return body[0].strip(), rows  # type: ignore[return-value]


# -- pages -------------------------------------------------------------------------------------
def peer_rows(readme: str) -> dict[str, list[tuple[str, str, str]]]:
    """README's "Coming from" rows by the canonical loss names they mention (``lk.NAME``)."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    coming = md_section(readme, "Coming from")
    for peer in PEERS:
        sub = md_section(coming, f"{peer}")
        for cells in md_table_rows(sub):
            for alias in dict.fromkeys(re.findall(r"lk\.(\w+)", cells[1])):
                try:
                    canon = resolve(alias)
                except Exception:  # a name that is not a loss (lk.Accumulator, ...)
                    continue
                found.setdefault(canon, []).append((peer, cells[0], cells[1]))
    return found


def loss_page(name: str, peers: list[tuple[str, str, str]], img: str) -> str:
    rec = lk.get(name).record
    value, grad, when, pitfall = MATH[name]
    lesson = LESSONS.get(name, {}).get("en")
    out = [f".. _loss-{name}:\n\n", _heading(f"``{name}``", "=")]
    out.append(_esc(rec.summary) + "\n\n")
    aliases = ", ".join(f"``{a}``" for a in aliases_of(name)) or "none"
    out.append(f"Aliases: {aliases}. Task: {_esc(rec.task or '-')}. Inputs: {_esc(rec.inputs or '-')}.\n\n")
    if name in COURSE:
        out.append("One of the six course losses: see :doc:`../course` (:doc:`한국어 <../course_ko>`).\n\n")
    out.append(_heading("Formula", "-"))
    out.append(f"Value (per sample):\n\n.. math::\n\n   {value}\n\nGradient:\n\n.. math::\n\n   {grad}\n\n")
    out.append(_heading("Options", "-"))
    out.append(".. list-table::\n   :header-rows: 1\n\n   * - option\n     - default\n")
    opts = {k: repr(v) for k, v in rec.options.items()} | COMMON
    for k, v in opts.items():
        out.append(f"   * - ``{k}``\n     - ``{v}``\n")
    out.append(f"\n.. code-block:: python\n\n   {signature_doc(rec)}\n\n")
    out.append(_heading("When to use it", "-"))
    out.append(_prose(lesson["when"]) if lesson else _esc(when) + "\n")
    out.append("\n" + _heading("Pitfalls", "-"))
    out.append(_prose(lesson["pitfalls"]) if lesson else _esc(pitfall) + "\n")
    out.append("\n" + _heading("Coming from another library", "-"))
    if peers:
        out.append(".. list-table::\n   :header-rows: 1\n\n   * - library\n     - peer\n     - losskit\n")
        for peer, theirs, ours in peers:
            out.append(f"   * - {peer}\n     - {_inline_md(theirs)}\n     - {_inline_md(ours)}\n")
        out.append("\n")
    out.append("The docstring's *Peers* paragraph below gives every convention; see also :doc:`../coming_from`.\n\n")
    out.append(_heading("Value and gradient", "-"))
    out.append(f".. image:: {img}\n   :alt: value and gradient of {name}\n   :width: 100%\n\n")
    doc = inspect.cleandoc(rec.doc or "")
    lines = doc.splitlines()
    cut = next((i for i, line in enumerate(lines) if line.lstrip().startswith(">>>")), len(lines))
    out.append(_heading("Example", "-"))
    out.append("A doctest (``tests/test_docs.py`` runs it):\n\n.. code-block:: pycon\n\n")
    out.append("\n".join("   " + line if line.strip() else "" for line in lines[cut:]) + "\n\n")
    out.append(_heading("Docstring", "-"))
    out.append("\n".join(lines[:cut]) + "\n")
    return "".join(out)


def course_page(lang: str) -> str:
    t = SECTION_TITLES[lang]
    ko = lang == "ko"
    title = "강의의 여섯 손실 함수: 한 줄 NumPy 코드와 losskit" if ko else "The course's six losses: NumPy one-liners and losskit"
    other = ":doc:`English <course>`" if ko else ":doc:`한국어 <course_ko>`"
    out = [f".. _course-{lang}:\n\n", _heading(title, "=")]
    out.append(
        ("강의의 한 줄 공식과 losskit을 같은 입력으로 나란히 계산했습니다. 모든 숫자는 사이트를 만들 때 "
         "``losskit explain NAME --lang ko``\\ 가 계산한 값입니다 (직접 적어 넣은 숫자는 없습니다). "
         if ko else
         "The course's one-line formulas and losskit, side by side on the same inputs. Every number is "
         "computed when the site is built, by ``losskit explain NAME`` (none is typed in). ")
        + f"({other})\n\n")
    head = ("손실", "강의의 한 줄 코드", "깨지는 경우", "단순 공식과 losskit, 지금 계산한 값") if ko else (
        "loss", "the course's one-liner", "where it breaks", "the naive formula and losskit, computed now")
    out.append(".. list-table::\n   :header-rows: 1\n   :widths: 14 26 20 40\n\n")
    out.append("".join(f"   {'*' if i == 0 else ' '} - {h}\n" for i, h in enumerate(head)))
    for name in COURSE:
        course = LESSONS[name][lang]["course"].strip().splitlines()
        what, rows = demo_rows(name, lang)
        out.append(f"   * - :ref:`{name} <loss-{name}>`\n     - ``{course[-1].strip()}``\n     - {_esc(what)}\n")
        out.append("     - " + "\n\n       ".join(f"``{call}`` → ``{result}``" for call, result in rows) + "\n")
    out.append("\n")
    for name in COURSE:
        entry = LESSONS[name][lang]
        out.append(_heading(entry["title"], "-"))
        value, grad = MATH[name][:2]
        out.append(f".. math::\n\n   {value}\n\n.. math::\n\n   {grad}\n\n({t['formula']}: :ref:`loss-{name}`)\n\n")
        for key in ("course", "formula", "gradient", "when", "pitfalls", "losskit"):
            out.append(f"**{t[key]}**\n\n{_prose(entry[key])}\n")
        what, rows = demo_rows(name, lang)
        out.append(f"**{t['demo']}**: {_esc(what)}\n\n.. list-table::\n\n")
        for call, result in rows:
            out.append(f"   * - ``{call}``\n     - ``{result}``\n")
        out.append(f"\n**{t['peers']}**\n\n{_prose(entry['peers'])}\n")
    return "".join(out)


def write(src: pathlib.Path) -> None:
    readme = (ROOT / "README.md").read_text()
    src.mkdir(parents=True, exist_ok=True)
    shutil.copy(DOCS / "conf.py", src / "conf.py")
    spec = importlib.util.find_spec("mathjax")  # the django-static-mathjax wheel (no dependencies)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("docs/site.py: MathJax comes from django-static-mathjax: pip install -e '.[docs]'")
    tex_svg = pathlib.Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5" / "tex-svg.js"
    (src / "_static" / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copy(tex_svg, src / "_static" / "mathjax" / "tex-svg.js")

    intro = readme.split("\n## ", 1)[0]
    (src / "index.md").write_text(
        md_page(intro) + "\n" + md_page(md_section(readme, "Two commands"), top=2)
        + "\n```{toctree}\n:maxdepth: 1\n\ncourse\ncourse_ko\nlosses/index\ncoming_from\ncli\n"
        "training\ngbdt\ndask\nperformance\n```\n")
    (src / "course.rst").write_text(course_page("en"))
    (src / "course_ko.rst").write_text(course_page("ko"))

    peers = peer_rows(readme)
    (src / "losses" / "img").mkdir(parents=True, exist_ok=True)
    names = lk.available(aliases=False)
    index = [_heading("Losses", "="), "Every registered loss, with its options and defaults (the registry's table):\n\n",
             ".. toctree::\n   :maxdepth: 1\n\n"]
    index += [f"   {name}\n" for name in names]
    (src / "losses" / "index.rst").write_text("".join(index) + "\n.. include:: table.md\n   :parser: myst_parser.sphinx_\n")
    (src / "losses" / "table.md").write_text(loss_table() + "\n")
    for name in names:
        plot([name], output=str(src / "losses" / "img" / f"{name}.png"), dpi=72)
        (src / "losses" / f"{name}.rst").write_text(loss_page(name, peers.get(name, []), f"img/{name}.png"))

    coming = md_section(readme, "Coming from")
    first_sub = coming.index("\n### ")
    pages = ["# Coming from Keras, PyTorch, optax, MONAI or scikit-learn", "",
             md_page(coming[coming.index("\n") + 1:first_sub]), "```{toctree}\n:maxdepth: 1\n"]
    for peer in PEERS:
        slug = "coming_from_" + re.sub(r"\W+", "_", peer.lower()).strip("_")
        section = md_section(coming, peer)
        (src / f"{slug}.md").write_text(md_page(section))
        pages.append(slug)
    (src / "coming_from.md").write_text("\n".join(pages) + "\n```\n")

    (src / "cli.md").write_text(md_page((DOCS / "cli.md").read_text()))
    (src / "training.md").write_text(md_page(md_section(readme, "In a training loop")))
    (src / "gbdt.md").write_text(md_page(md_section(readme, "Gradient boosting")))
    (src / "dask.md").write_text(md_page(md_section(readme, "Dask")))
    perf = md_page(md_section(readme, "Performance and memory"))
    for report in ("RESULTS.md", "RESULTS_training.md", "RESULTS_torch_losses.md"):
        text = (ROOT / "benchmarks" / report).read_text()
        perf += "\n" + md_page(text, f"benchmarks/{report}", top=2)
    (src / "performance.md").write_text(perf)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python docs/site.py SRC_FOLDER")
    write(pathlib.Path(sys.argv[1]))
