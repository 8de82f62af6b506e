"""What a run tells the Prefect UI and the status table when it ends."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from prefect import runtime
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lvas.models import VideoRef
from lvas.storage.layout import Layout
from lvas.storage.status import collect, rollup, top_errors, write_table


@dataclass
class Summary:
    total: int
    completed: int
    failed: int
    top_errors: list[tuple[str, int]]

    @property
    def unfinished(self) -> int:
        """Videos neither done nor failed: their work was lost with the cluster (or the run was
        stopped) before it finished or failed; `lvas rerun --failed` finishes them."""
        return self.total - self.completed - self.failed

    def as_dict(self) -> dict:
        return {**asdict(self), "unfinished": self.unfinished}


def run_summary(layout: Layout, videos: list[VideoRef], final_stage: str = "mix") -> Summary:
    """Roll the unit records of this run's videos up, and snapshot them as Parquet."""
    records = collect(layout, [v.video_id for v in videos])
    states = rollup(records, final_stage)
    run = str(runtime.flow_run.id or "adhoc")
    write_table(layout.run_dir(run) / "status.parquet", records)
    write_table(layout.root / "status.parquet", collect(layout))
    done = sum(1 for v in videos if states.get(v.video_id) and states[v.video_id].state == "completed")
    failed = sum(1 for v in videos if states.get(v.video_id) and states[v.video_id].state == "failed")
    return Summary(len(videos), done, failed, top_errors(records))


def publish_video_artifacts(layout: Layout, videos: list[VideoRef], final_stage: str = "mix") -> None:
    """One table artifact for the run: video, state, stage, error, links to outputs."""
    states = rollup(collect(layout, [v.video_id for v in videos]), final_stage)
    rows = []
    for v in videos:
        st = states.get(v.video_id)
        rows.append({
            "video": v.video_id, "source": v.source, "state": st.state if st else "pending",
            "stage": st.stage if st else "", "error": (st.error if st else "")[:200],
            **{k: f"file://{p}" for k, p in (st.outputs if st else {}).items()},
        })
    create_table_artifact(rows, key="dub-videos", description=f"videos in {layout.root}")
    failed = [r for r in rows if r["state"] == "failed"]
    if failed:
        lines = "\n".join(f"- `{r['video']}` ({r['stage']}): {r['error']}" for r in failed[:50])
        create_markdown_artifact(f"## Failed videos\n\n{lines}\n\nRerun with `lvas rerun {layout.root} --failed`",
                                 key="dub-failures")
