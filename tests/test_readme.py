"""README is the front door: its loss table matches the registry, and its commands exist."""

import pathlib
import re
import runpy

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_loss_table_matches_the_registry():
    gen = runpy.run_path(str(ROOT / "docs" / "loss_table.py"), run_name="loss_table")
    block = README.split(gen["BEGIN"], 1)[1].split(gen["END"], 1)[0].strip()
    assert block == gen["table"](), "README's loss table is stale: run python docs/loss_table.py --write"


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    test_command = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command.strip() in ci
