"""`python -m mutation [NAME...] [--list]`: break each rule in mutation/mutants.py, one at a time, in a
copy of the work tree, and run the tests that guard it. A break the tests still pass survived.

The work tree itself is never touched (others may be working in it): every break is made in a
temporary copy of the files git knows (tracked and untracked, as they are now, ignored ones left
out), imported from there (PYTHONPATH, also for any subprocess a test starts). The named tests must
pass on the unbroken copy first, or nothing is judged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mutation.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 900  # one break's tests; longer counts as caught (a hang is noticed too)


@dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    outcome: str  # killed, survived, timeout
    seconds: float
    failed: str  # the first failing test, for a killed one


def copy_tree(target: Path) -> None:
    """The files git knows, as they are in the work tree now (uncommitted changes included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree, not yet in git
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH", "")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, str, float]:
    """(pytest's exit code, its last lines, seconds); -1 when it ran out of time."""
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            command, cwd=tree, env=environment(tree), capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return -1, "", time.monotonic() - started
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ", 1)[0]
    return ""


def apply(tree: Path, mutant: Mutant) -> str:
    """Make the break in the copy; returns the file's original text, to put back afterwards."""
    path = tree / mutant.path
    original = path.read_text(encoding="utf-8")
    found = original.count(mutant.old)
    if found != 1:
        raise SystemExit(f"{mutant.name}: its text occurs {found} times in {mutant.path}, not once: update the mutant")
    path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    return original


def check_imports_from(tree: Path) -> None:
    """The copy, not the work tree (the project is installed editable from it), is what tests import."""
    probe = subprocess.run(
        [sys.executable, "-c", "import handlers, bot; print(handlers.__file__); print(bot.__file__)"],
        cwd=tree,
        env=environment(tree),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not all(Path(found).resolve().is_relative_to(tree.resolve()) for found in probe):
        raise SystemExit(f"the copy's tests would import the work tree: {probe}")


def judge(tree: Path, mutants: list[Mutant]) -> list[Verdict]:
    verdicts = []
    for number, mutant in enumerate(mutants, 1):
        original = apply(tree, mutant)
        try:
            code, output, seconds = run_tests(tree, mutant.tests)
        finally:
            (tree / mutant.path).write_text(original, encoding="utf-8")
        if code == -1:
            verdict = Verdict(mutant, "timeout", seconds, "")
        elif code == 0:
            verdict = Verdict(mutant, "survived", seconds, "")
        elif code == 1:
            verdict = Verdict(mutant, "killed", seconds, first_failure(output))
        else:
            # pytest could not run them (usage, collection): the break made the code unimportable.
            verdict = Verdict(mutant, "killed", seconds, f"pytest exit {code}: {output.strip()[-200:]}")
        print(
            f"[{number}/{len(mutants)}] {verdict.outcome:8} {seconds:5.0f}s  {mutant.name}  {verdict.failed}",
            flush=True,
        )
        verdicts.append(verdict)
    return verdicts


def report(verdicts: list[Verdict]) -> None:
    caught = [v for v in verdicts if v.outcome != "survived"]
    print()
    print(f"{'outcome':9} {'break':80} caught by")
    for verdict in verdicts:
        print(f"{verdict.outcome:9} {verdict.mutant.name:80} {verdict.failed}")
    score = 100 * len(caught) / len(verdicts) if verdicts else 0.0
    print(f"\nmutation score: {len(caught)}/{len(verdicts)} caught ({score:.0f}%)")
    for verdict in verdicts:
        if verdict.outcome == "survived":
            print(f"  survived: {verdict.mutant.name} ({verdict.mutant.path}; tests: {' '.join(verdict.mutant.tests)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only the breaks whose name contains one of these")
    parser.add_argument("--list", action="store_true", help="list the breaks and their tests, run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or any(name in m.name for name in args.names)]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}\n    {mutant.path}; {' '.join(mutant.tests)}")
        return 0
    if not chosen:
        parser.error("no break matches")
    tree = Path(tempfile.mkdtemp(prefix="houqin-mutation-"))
    try:
        copy_tree(tree)
        check_imports_from(tree)
        for mutant in chosen:  # every break must still fit the code before anything runs
            (tree / mutant.path).write_text(apply(tree, mutant), encoding="utf-8")
        tests = tuple(dict.fromkeys(test for mutant in chosen for test in mutant.tests))
        print(f"{len(chosen)} breaks, {len(tests)} test files; the unbroken copy first ({tree})", flush=True)
        code, output, seconds = run_tests(tree, tests)
        if code != 0:
            print(output[-3000:])
            print(f"the tests fail without any break (exit {code}, {seconds:.0f}s): nothing can be judged")
            return 2
        print(f"unbroken: pass ({seconds:.0f}s)", flush=True)
        verdicts = judge(tree, chosen)
    finally:
        if args.keep:
            print(f"kept {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)
    report(verdicts)
    return 0 if all(v.outcome != "survived" for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
