"""Renders every published speed figure from benchmarks/results/*.json (what the bench scripts write).

    python -m benchmarks.summary            # rewrite the pages (run last by `make bench`; each bench too)
    python -m benchmarks.summary --check    # exit 1, naming the pages, if a page differs from the results

- BENCHMARKS.md: the whole file, one section per results file, its header from the result's stamp;
- README.md: the speed table between `<!-- bench:speed-table -->` and `<!-- /bench:speed-table -->`,
  one row per headline figure, each naming its BENCHMARKS.md section;
- README.md and docs/*.md: every `<!-- fig:NAME -->...<!-- /fig -->` holds the figure NAME (FIGURES:
  benchmarks/figures.py and figures_compare.py).

Nothing here imports torch or the benchmarks, so the test that pages match the results is quick.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from benchmarks import figures_compare
from benchmarks.figures import FIGURES as OTHER_FIGURES
from benchmarks.figures import NOT_MEASURED, README_ROWS

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
README = ROOT / "README.md"
FIGURES = {**OTHER_FIGURES, **figures_compare.FIGURES}  # section -> name -> how its figure reads
ORDER = ("envs", "data", "model", "bridge", "threads")  # BENCHMARKS.md order; others follow by name
HEADER = (
    "# Benchmarks\n\n"
    "Generated from `benchmarks/results/*.json` by `python -m benchmarks.summary`; each section's results "
    "file is written by the script and command its header names. Do not edit by hand: `make bench` "
    "re-measures every section.\n"
)
TABLE = re.compile(r"(<!-- bench:speed-table -->\n).*?(<!-- /bench:speed-table -->)", re.S)
FIGURE = re.compile(r"(<!-- fig:([\w.]+) -->)(.*?)(<!-- /fig -->)")


def load(results_dir: Path = RESULTS_DIR) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))}


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def stamp(result: dict) -> str:
    """'<when>, commit <sha>' plus the measured folders that differed from that commit."""
    commit = f"commit {result['commit']}" if result.get("commit") else "commit unknown"
    changed = result.get("uncommitted") or []
    return f"{result['when']}, {commit}" + (
        f" (uncommitted changes in {', '.join(changed)})" if changed else ""
    )


def render_section(result: dict) -> str:
    name = result["name"]
    lines = [
        f"<!-- section:{name} -->",
        f"## {result['title']}",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}  ",
        f"When: {stamp(result)}" + ("  " if result.get("converted") else ""),
    ]
    if result.get("converted"):  # figures carried over from before results files, not measured since
        lines.append(f"Not re-measured: {result['converted']}")
    return "\n".join([*lines, "", result["body"].strip(), f"<!-- /section:{name} -->", ""])


def render_benchmarks(results: dict[str, dict]) -> str:
    names = [n for n in ORDER if n in results] + sorted(set(results) - set(ORDER))
    return HEADER + "".join("\n" + render_section(results[n]) for n in names)


def render_table(results: dict[str, dict]) -> str:
    """The README's speed table: one row per headline figure, each linking its BENCHMARKS.md section."""
    lines = ["| what | figure | goal | section |", "|---|---|---|---|"]
    for name, what, value, goal in README_ROWS:
        if name not in results:
            continue  # never measured: no row rather than a typed one
        figures = results[name]["figures"]
        if (text := value(figures)) == NOT_MEASURED:
            continue
        link = f"[{name}](BENCHMARKS.md#{anchor(results[name]['title'])})"
        lines.append(f"| {what(figures)} | {text} | {goal(figures)} | {link} |")
    return "\n".join(lines) + "\n"


def figure(results: dict[str, dict], name: str) -> str:
    section, _, key = name.partition(".")
    if key not in FIGURES.get(section, {}):
        raise KeyError(f"unknown figure {name!r}: benchmarks/figures.py and figures_compare.py name them")
    return FIGURES[section][key](results[section]["figures"]) if section in results else NOT_MEASURED


def render_page(text: str, results: dict[str, dict]) -> str:
    """`text` with its speed table and its inline figures as the results give them."""
    text = TABLE.sub(lambda m: m.group(1) + render_table(results) + m.group(2), text)
    return FIGURE.sub(lambda m: m.group(1) + figure(results, m.group(2)) + m.group(4), text)


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def rendered(results: dict[str, dict] | None = None) -> dict[Path, str]:
    """Every generated page as the results give it: BENCHMARKS.md whole, other pages where marked."""
    results = load() if results is None else results
    out = {BENCHMARKS_MD: render_benchmarks(results)}
    for page in pages():
        out[page] = render_page(page.read_text(), results)
    return out


def stale() -> list[Path]:
    """Pages whose text differs from what the committed results render."""
    return [p for p, text in rendered().items() if not p.exists() or p.read_text() != text]


def write_all() -> None:
    for page, text in rendered().items():
        if not page.exists() or page.read_text() != text:
            page.write_text(text)
            print(f"summary: rewrote {page.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        if out := stale():
            sys.exit(f"stale (run python -m benchmarks.summary): {[str(p.relative_to(ROOT)) for p in out]}")
        return
    write_all()


if __name__ == "__main__":
    main()
