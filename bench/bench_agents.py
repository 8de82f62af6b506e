"""Cost of the agent stage per scene: model calls, tokens and seconds.

Two configurations on the same hand-built storyboard (synthetic keyframes, no video decode):

* offline: the embedded deterministic stand-in (``agents.backend=offline``);
* openai: ``LLMAgents`` against the in-process fake OpenAI-compatible server answering every
  request after a fixed latency (default 200 ms), so the figure is the agents' own overhead plus
  the number of round-trips times that latency — the shape of the cost against a real endpoint.

Run:  .venv/bin/python bench/bench_agents.py [--shots 12] [--latency-ms 200] [--write]
``--write`` replaces the "## Agents" section of bench/RESULTS.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lvas.agents import drain_calls  # noqa: E402
from lvas.agents.design import design_refine  # noqa: E402
from lvas.agents.llm_agents import LLMAgents  # noqa: E402
from lvas.agents.offline import OfflineAgents, content_stems  # noqa: E402
from lvas.agents.script import write_script  # noqa: E402
from lvas.settings import AgentSettings  # noqa: E402
from tests.agent_helpers import GRASS, INDOOR, NIGHT, SAND, SEA, SKY, make_storyboard  # noqa: E402
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply, role_of, user_texts  # noqa: E402

LABELS = {
    "event": ["Dog bark", "Footsteps", "Car engine", "Bicycle chain", "Birds chirping", "Hoofbeats"],
    "ambience": [
        "Wind through trees",
        "Park ambience",
        "Ocean waves",
        "Room tone",
        "Outdoor air",
        "Light wind",
    ],
}
LOOKS = [(SKY, GRASS), (SKY, GRASS), (INDOOR, NIGHT), (SEA, SAND), (SEA, SAND), (NIGHT, NIGHT)]


def retrieve(texts: list[str], layer: str) -> dict[str, list[str]]:
    return {
        t: sorted(LABELS[layer], key=lambda lab: -len(content_stems(t) & content_stems(lab)))[:5]
        for t in texts
    }


def responder(latency_s: float):
    """Valid answers for every role; the first review of a scene asks for one revision."""
    reviews = iter(range(1_000_000))

    def answer(body: dict) -> Reply:
        role = role_of(body)
        text = " ".join(user_texts(body))
        if role == "global":
            obj = {"description": "a park, a room, a beach, a night", "timeline": []}
        elif role == "caption":
            obj = {
                "background": "a park",
                "entity": "a dog",
                "action": "runs",
                "summary": "a dog runs in a park",
            }
        elif role == "merge":
            shot = int(re.search(r"New shot (\d+):", text).group(1))  # odd shots merge: two per scene
            obj = {"merge": shot % 2 == 1, "reason": "same place", "caption": {"summary": "a dog runs"}}
        elif role == "design":
            obj = {
                "reasoning": "1. dog 2. park 3. dog primary 4. loud",
                "audio": [{"description": "dog barking"}, {"description": "footsteps", "primary": False}],
                "background": [{"description": "park ambience"}],
                "volume": 0.8,
            }
        elif role == "map":
            obj = {
                "mapping": [
                    {"description": "dog barking", "label": "Dog bark"},
                    {"description": "footsteps", "label": "Footsteps"},
                    {"description": "park ambience", "label": "Park ambience"},
                ]
            }
        else:
            # Scenes run one after another: every other review (the first of each scene) asks to revise.
            obj = {
                "verdict": "revise" if next(reviews) % 2 == 0 else "final",
                "feedback": "tighten the ambience",
            }
        prompt_tokens = max(1, len(str(body)) // 4)  # roughly what a tokenizer would count
        return as_reply(
            obj, delay_s=latency_s, prompt_tokens=prompt_tokens, completion_tokens=len(str(obj)) // 4
        )

    return answer


def run(agents, shots: int, workdir: Path) -> dict[str, float]:
    looks = [LOOKS[i % len(LOOKS)] for i in range(shots)]
    sb = make_storyboard(workdir, looks, video_id="bench-0000000000")
    t0 = time.perf_counter()
    script = write_script(sb, workdir, agents)
    t_script = time.perf_counter() - t0
    script_calls = drain_calls(agents)
    t0 = time.perf_counter()
    for scene in script.scenes:
        design_refine(scene, script, agents, retrieve, max_rounds=3)
    t_design = time.perf_counter() - t0
    design_calls = drain_calls(agents)
    calls = script_calls + design_calls
    n = len(script.scenes)
    return {
        "shots": shots,
        "scenes": n,
        "calls_per_scene": len(calls) / n,
        "tokens_per_scene": sum(c.prompt_tokens + c.completion_tokens for c in calls) / n,
        "script_s_per_scene": t_script / n,
        "design_s_per_scene": t_design / n,
        "total_s_per_scene": (t_script + t_design) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=12)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--write", action="store_true", help="update the Agents section of bench/RESULTS.md")
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("offline", run(OfflineAgents(), args.shots, Path(tmp) / "offline")))
        os.environ.setdefault("LVAS_BENCH_KEY", "bench")
        with FakeLLMServer(responder=responder(args.latency_ms / 1000)) as srv:
            settings = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_BENCH_KEY")
            rows.append(
                (
                    f"openai (fake server, {args.latency_ms:.0f} ms/answer)",
                    run(LLMAgents(settings), args.shots, Path(tmp) / "llm"),
                )
            )

    cols = ["backend", "shots", "scenes", "calls/scene", "tokens/scene", "script s/scene", "design s/scene"]
    cols.append("total s/scene")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['shots']} | {r['scenes']} | {r['calls_per_scene']:.1f} | "
            f"{r['tokens_per_scene']:.0f} | "
            f"{r['script_s_per_scene']:.3f} | {r['design_s_per_scene']:.3f} | {r['total_s_per_scene']:.3f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section(table, args)


def write_section(table: str, args: argparse.Namespace) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    cmd = f".venv/bin/python bench/bench_agents.py --shots {args.shots} --latency-ms {args.latency_ms:.0f}"
    section = (
        "## Agents\n\n"
        f"Command: `{cmd}` (2-core machine, shared CPU; {time.strftime('%Y-%m-%d')}).\n\n"
        "Cost of the script stage (global description, shot captions, merge decisions) and the design-refine "
        "loop (max 3 rounds) per resulting scene, on a hand-built storyboard with synthetic keyframes. The "
        "fake server answers every request after a fixed latency and the scripted reviewer asks for one "
        "revision per scene, so the LLM row is about (calls/scene x latency) plus client overhead; tokens "
        "there are estimated as request characters / 4. Offline calls are recorded with 0 tokens.\n\n"
        f"{table}\n"
    )
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Agents\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    text = (
        pattern.sub(lambda _: section + "\n", text)
        if pattern.search(text)
        else text.rstrip("\n") + "\n\n" + section
    )
    path.write_text(text)


if __name__ == "__main__":
    main()
