"""`lvas show DIR VIDEO_ID`: one video's scenes with their captions and chosen sound labels."""

from __future__ import annotations

import textwrap
from typing import Any

from lvas.errors import InputError
from lvas.storage.layout import Layout
from lvas.text import printable


def scene_table(out: str, video_id: str) -> tuple[list[dict[str, Any]], str]:
    """Rows per scene (times, shots, caption, foreground/background labels, rounds, verdict) and a text table.

    Raises:
        InputError: ``out`` has no such video, or the video has no script yet.
    """
    from lvas.agents.artifacts import load_designs, load_script

    layout = Layout(out)
    if not layout.video_dir(video_id).exists() and not layout.status_dir(video_id).exists():
        raise InputError(f"no video {video_id} in {out} (`lvas show {out}` lists its videos)")
    if not layout.script(video_id).exists():
        raise InputError(f"{out}: video {video_id!r} has no script yet (see `lvas status {out}`)")
    script = load_script(layout.script(video_id))
    designs = {d.scene_index: d for d in load_designs(layout.design(video_id))} if layout.design(
        video_id).exists() else {}
    rows = []
    for sc in script.scenes:
        d = designs.get(sc.index)
        final = d.final if d else None
        rows.append({
            "scene": sc.index, "start_s": round(sc.start_s, 3), "end_s": round(sc.end_s, 3),
            "shots": sc.shot_indices, "summary": sc.caption.summary, "background": sc.caption.background,
            "entity": sc.caption.entity, "action": sc.caption.action,
            "foreground_labels": [i.label or i.description for i in final.audio] if final else [],
            "background_labels": [i.label or i.description for i in final.background] if final else [],
            "rounds": len(d.rounds) if d else 0, "verdict": str(d.rounds[-1].verdict) if d else "",
        })
    lines = [f"{video_id}: {len(rows)} scenes", textwrap.fill(script.global_description, 100), ""]
    for r in rows:
        lines.append(f"scene {r['scene']:3d}  {r['start_s']:7.2f}-{r['end_s']:7.2f} s  shots {r['shots']}")
        lines.append(textwrap.indent(textwrap.fill(r["summary"] or "(no caption)", 96), "    "))
        lines.append(f"    foreground: {', '.join(r['foreground_labels']) or '-'}")
        lines.append(f"    background: {', '.join(r['background_labels']) or '-'}   "
                     f"({r['rounds']} round(s), {r['verdict'] or 'not designed'})")
    return rows, printable("\n".join(lines))  # model text: escapes shown, never obeyed
