"""Print README's table of losses and options from the registry.

    python docs/loss_table.py            # print the table
    python docs/loss_table.py --write    # replace the table between the README markers

tests/test_readme.py checks that README.md holds exactly this output.
"""

import pathlib
import sys

import losskit as lk
from losskit.registry import aliases_of

BEGIN, END = "<!-- loss-table:begin -->", "<!-- loss-table:end -->"
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _fmt(value):
    return "None" if value is None else repr(value)


def table() -> str:
    rows = [
        "| loss | aliases | task | sample | options (defaults) |",
        "|---|---|---|---|---|",
    ]
    for name in lk.available(aliases=False):
        rec = lk.get(name).record
        opts = ", ".join(f"`{k}={_fmt(v)}`" for k, v in rec.options.items()) or "-"
        aliases = ", ".join(f"`{a}`" for a in aliases_of(name)) or "-"
        rows.append(f"| `{name}` | {aliases} | {rec.task} | {rec.structure} | {opts} |")
    return "\n".join(rows)


def write(readme: pathlib.Path = README) -> None:
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    write() if "--write" in sys.argv else print(table())
