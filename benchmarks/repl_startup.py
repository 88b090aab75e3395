"""Time from launching `newsbot chat` to its prompt, and to the first answer, through a real pty.

The question is typed as soon as the prompt shows, so "first answer" includes waiting for the
background warm-up (embedder, lexical index, store, and the LLM when one is configured):
that is what a person who starts typing at once feels.

    .venv/bin/python benchmarks/repl_startup.py                 # corpus/ in a temporary home, extractive
    .venv/bin/python benchmarks/repl_startup.py --llm local     # with the local LLM
    .venv/bin/python benchmarks/repl_startup.py --home DIR      # an existing index
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
NEWSBOT = Path(sys.executable).parent / "newsbot"
CPR_REQUEST = "\x1b[6n"  # prompt_toolkit asks for the cursor position when a prompt starts


def _env(home: Path, llm: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(NEWSBOT_HOME=str(home), NEWSBOT_LLM=llm, TERM="xterm-256color", HF_HUB_OFFLINE="1")
    if os.environ.get("NEWSBOT_LLM_MODEL_DIR"):
        env["NEWSBOT_LLM_MODEL_DIR"] = os.environ["NEWSBOT_LLM_MODEL_DIR"]
    return env


def _wait_prompt(child: "pexpect.spawn", timeout: float) -> None:
    child.expect_exact(CPR_REQUEST, timeout=timeout)
    child.send("\x1b[1;1R")  # answer as a terminal would, so the prompt draws at once
    child.expect_exact("newsbot>", timeout=timeout)


def run_once(home: Path, llm: str, question: str, timeout: float) -> tuple[float, float]:
    """(seconds to the prompt, seconds to the end of the first answer), both from launch."""
    started = time.perf_counter()
    child = pexpect.spawn(
        str(NEWSBOT), ["chat"], env=_env(home, llm), dimensions=(50, 200), encoding="utf-8", timeout=timeout
    )
    try:
        _wait_prompt(child, timeout)
        to_prompt = time.perf_counter() - started
        child.send(question + "\r")
        _wait_prompt(child, timeout)  # the next prompt: the answer and its sources are on screen
        to_answer = time.perf_counter() - started
        child.send("/quit\r")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    return to_prompt, to_answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an existing NEWSBOT_HOME (default: corpus/ ingested into a temp dir)")
    parser.add_argument("--llm", default="extractive", help="NEWSBOT_LLM for the run (default: extractive)")
    parser.add_argument("--question", default="What did Modi and Putin discuss?")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="newsbot-repl-bench-") as tmp:
        home = args.home
        if home is None:
            home = Path(tmp) / "home"
            subprocess.run(
                [str(NEWSBOT), "ingest", str(ROOT / "corpus")], env=_env(home, args.llm), check=True,
                stdout=subprocess.DEVNULL,
            )
        results = [run_once(home, args.llm, args.question, args.timeout) for _ in range(args.runs)]
    prompts = [p for p, _ in results]
    answers = [a for _, a in results]
    print(f"newsbot chat, NEWSBOT_LLM={args.llm}, {args.runs} runs, home {args.home or 'corpus/ (temp)'}")
    for i, (p, a) in enumerate(results, 1):
        print(f"  run {i}: prompt {p:.2f} s, first answer {a:.2f} s")
    print(f"launch → prompt:       median {statistics.median(prompts):.2f} s (max {max(prompts):.2f})")
    print(f"launch → first answer: median {statistics.median(answers):.2f} s (max {max(answers):.2f})")


if __name__ == "__main__":
    main()
