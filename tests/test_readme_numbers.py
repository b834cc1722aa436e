"""The README's numbers are the committed reports' numbers.

In the README sections that cite results ("What the main job shows", "Results at a glance",
"Benchmarks"), every decimal number (23.14, 9.61x, 0.005, .435) of a table row or paragraph must
appear verbatim in the text of a report that row or paragraph names (a link or path under
reports/; a unit that names none falls back to the reports its section names), and in the
Benchmarks tables every integer too (the ms/step figures). The paper's own figures, which no report
of ours need print, are accepted from ``PAPER_FIGURES`` only where the README quotes the paper: the
first column of a "Results at a glance" row ("the paper's effect"), or a paragraph that says "paper".
Every "Results at a glance" row must name its report. The README also stays a manual: at most
``MAX_LINES`` lines and no issue numbers. Code blocks and `code spans` are not read for numbers.
"""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
MAX_LINES = 260

# What a README unit may name, and the committed text its numbers are checked against.
REPORTS = {
    "reports/ladder/regime_search": "reports/ladder/regime_search.md",
    "reports/ladder/ladder": "reports/ladder/ladder.md",
    "reports/fig9a": "reports/fig9a/fig9a.md",
    "reports/main": "reports/main/results.md",
    "reports/bench": "reports/bench/reference_cpu.log",
}
NOT_A_SOURCE = ()  # reports linked for what they record, never cited for numbers
CHECKED = ("What the main job shows", "Results at a glance", "Benchmarks")
ROWS_NAME_THEIR_REPORT = ("Results at a glance",)
INTEGERS_CHECKED = ("Benchmarks",)  # measured integers (ms/step) in these sections' tables

# The paper's figures the README quotes beside ours. Fig. 6 (medians over 4 tasks) as
# configs/ladder.py's PAPER_FIG6 and PAPER_FIG6_CLEAN hold them: LAPO 22.09, + multi-step 9.54,
# + latent 8192 3.89, + latent FDM 5.22, LAOM 2.74; without distractors LAPO 2.55, LAOM 1.93.
# Normalised returns at 128 labels (cheetah-run): LAOM+sup .435, BC .259, IDM .195, LAOM .185, LAPO .102.
PAPER_FIGURES = {"22.09", "9.54", "3.89", "5.22", "2.74", "2.55", "1.93",
                 ".435", ".259", ".195", ".185", ".102"}

DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+x?(?![\w]|\.\d)")
INTEGER = re.compile(r"(?<![\w.,])\d+(?![\w.,]\d|[\w])")


def sections(text: str) -> dict[str, list[str]]:
    """'## ' heading -> its lines (subsections included), code blocks left out."""
    out, name, in_code = {}, None, False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        if line.startswith("## "):
            name = line[3:].strip()
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return out


def units(lines: list[str]) -> list[str]:
    """Table rows one by one (separator rows dropped), other text by paragraph."""
    out, paragraph = [], []
    for line in lines + [""]:
        if line.startswith("|") or not line.strip() or line.startswith("#"):
            if paragraph:
                out.append(" ".join(paragraph))
                paragraph = []
            if line.startswith("|") and not re.fullmatch(r"[|\-: ]+", line):
                out.append(line)
        else:
            paragraph.append(line.strip())
    return out


def named_reports(unit: str) -> set[str]:
    for path in NOT_A_SOURCE:
        unit = unit.replace(path, "")
    return {report for key, report in REPORTS.items() if key in unit}


def _plain(text: str) -> str:
    """Without code spans and link targets (paths, flags, versions)."""
    return re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "", text))


def _in(number: str, text: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(number)}(?!\d)", text) is not None


def check(readme: str, reports: dict[str, str]) -> tuple[list[str], int]:
    """Problems found, and how many numbers were checked."""
    problems, checked = [], 0
    by_section = sections(readme)
    for name in CHECKED:
        if name not in by_section:
            problems.append(f"no section '## {name}'")
            continue
        parts = units(by_section[name])
        fallback = set().union(*(named_reports(u) for u in parts))
        for unit in parts:
            named = named_reports(unit)
            is_row = unit.startswith("|")
            cells = unit.strip().strip("|").split("|") if is_row else [unit]
            if is_row and name in ROWS_NAME_THEIR_REPORT and DECIMAL.search(_plain(unit)) and not named:
                problems.append(f"[{name}] row names no report: {unit[:90]}")
            sources = named or fallback
            for i, cell in enumerate(cells):
                plain = _plain(cell)
                numbers = DECIMAL.findall(plain)
                if is_row and name in INTEGERS_CHECKED:
                    numbers += INTEGER.findall(plain)
                quotes_paper = (is_row and i == 0 and name in ROWS_NAME_THEIR_REPORT) or (
                    not is_row and "paper" in unit)
                for number in numbers:
                    checked += 1
                    if any(_in(number, reports[s]) for s in sources):
                        continue
                    if quotes_paper and number in PAPER_FIGURES:
                        continue
                    where = ", ".join(sorted(sources)) or "no report named"
                    problems.append(f"[{name}] {number} is not in {where}: {cell.strip()[:90]}")
    return problems, checked


def issue_mentions(text: str) -> list[str]:
    return re.findall(r"\bissues?\s*(?:#\s*)?\d+", text, re.I)


def _read(path: str) -> str:
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def _reports() -> dict[str, str]:
    return {path: _read(path) for path in REPORTS.values()}


def test_readme_numbers_are_the_reports():
    problems, checked = check(_read("README.md"), _reports())
    assert not problems, "\n".join(problems)
    assert checked >= 60, f"only {checked} numbers checked: are the results sections still there?"


def test_readme_is_a_manual():
    text = _read("README.md")
    assert len(text.splitlines()) <= MAX_LINES, f"README has {len(text.splitlines())} lines (at most {MAX_LINES})"
    assert not issue_mentions(text), issue_mentions(text)


def test_the_check_can_fail():
    readme, reports = _read("README.md"), _reports()
    for old, new, number in [("9.61x [7.34, 12.58]", "9.62x [7.34, 12.58]", "9.62x"),  # a ratio, in a glance row
                             ("23.14 ± 7.07", "23.15 ± 7.07", "23.15"),  # a mean
                             ("| 26.66 ± 7.27 with", "| 26.67 ± 7.27 with", "26.67"),  # the main job's table
                             ("| LAOM | 3337 |", "| LAOM | 3338 |", "3338"),  # a benchmark integer
                             ("2.40 ± 0.32 ->", "9.54 ± 0.32 ->", "9.54")]:  # a paper figure where ours belongs
        assert old in readme, old
        problems, _ = check(readme.replace(old, new, 1), reports)
        assert any(p.split("] ", 1)[1].startswith(number + " ") for p in problems), (old, new, problems)
    # A glance row that stops naming its report.
    row = next(line for line in readme.splitlines() if line.startswith("| distractors break LAPO"))
    problems, _ = check(readme.replace(row, row.replace("[ladder](reports/ladder/ladder.md)", "ladder")), reports)
    assert any("names no report" in p for p in problems)
    # A number from the wrong report: fig9a's chance in a ladder row.
    problems, _ = check(readme.replace(row, row.replace("2.40 ± 0.32", "212.46 ± 0.32")), reports)
    assert any("212.46" in p for p in problems)
    assert issue_mentions("after issue 17's fixes") and issue_mentions("Issue #3") and not issue_mentions("issues")
