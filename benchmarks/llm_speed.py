"""How fast llama.cpp reads a prompt and writes an answer, for one or more GGUF files side by side.

    .venv/bin/python benchmarks/llm_speed.py                      # the bundled Q4_K_M, and its Q8_0 on AMX
    .venv/bin/python benchmarks/llm_speed.py --models a.gguf,b.gguf --rounds 3

An answer's first token waits for the prompt: ~600 tokens of fixed start (system prompt, worked
examples) that llama.cpp keeps from the last question, then ~400 of passages and question that
it reads anew. So the figures are: a fresh 600-token prompt, 400 more after those 600 are cached,
and 40 generated tokens. The models take turns within each round, in one process, so the machine's
noise falls on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def default_models() -> list[Path]:
    """The bundled model, and its Q8_0 copy where the patched AMX build would answer with it."""
    from retrieval.answer.llm import check_llama_build
    from retrieval.answer.model_files import amx_model, bundled_model
    from retrieval.settings import Settings

    bundled = bundled_model(Settings.from_env().model_dir)
    return [bundled, amx_model(bundled)] if check_llama_build() else [bundled]


def measure(llama, tokens: list[int]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Seconds for a fresh 600-token prompt, 400 more on top of it, and 40 greedy tokens after."""
    llama.reset()
    t0 = time.perf_counter()
    llama.eval(tokens[:600])
    t1 = time.perf_counter()
    llama.eval(tokens[600:1000])
    t2 = time.perf_counter()
    for _ in range(40):
        llama.eval([llama.sample(temp=0.0)])
    t3 = time.perf_counter()
    return {"prompt_600": t1 - t0, "prompt_400_cached_600": t2 - t1, "generate_40": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", help="comma-separated GGUF files (default: the bundled model, and its Q8_0 on AMX)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import llama_cpp

    print(f"llama-cpp-python {llama_cpp.__version__}: {llama_cpp.llama_print_system_info().decode().strip()}")
    paths = [Path(m) for m in args.models.split(",")] if args.models else default_models()
    llamas = {
        p: llama_cpp.Llama(model_path=str(p), n_ctx=2048, n_threads=args.threads, use_mmap=False, verbose=False)
        for p in paths
    }
    text = " ".join((ROOT / "README.md").read_text().split())  # ordinary English prose, plenty of it
    times: dict[Path, list[dict[str, float]]] = {p: [] for p in paths}
    for r in range(args.rounds):
        for p, llama in llamas.items():
            tokens = llama.tokenize(text.encode())[:1000]
            t = measure(llama, tokens)
            times[p].append(t)
            print(f"round {r + 1} {p.name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()), flush=True)
    print("\n| model | prompt tokens/s, fresh 600 | 400 after 600 cached | generated tokens/s |\n|---|---:|---:|---:|")
    for p, rows in times.items():
        fresh = statistics.median(600 / t["prompt_600"] for t in rows)
        cached = statistics.median(400 / t["prompt_400_cached_600"] for t in rows)
        gen = statistics.median(40 / t["generate_40"] for t in rows)
        print(f"| {p.name} | {fresh:.1f} | {cached:.1f} | {gen:.1f} |")


if __name__ == "__main__":
    main()
