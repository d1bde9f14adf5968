"""Where each stage of a job lies in its progress: a job's events report fractions of the whole job, and each stage
reports within its span of it."""

from dataclasses import dataclass
from typing import NamedTuple

# The share of an upload (Transcribe, Separate) done once its audio is in.
RECEIVED = 0.05


class Span(NamedTuple):
    """A stage's part of a job, as fractions of the whole job."""

    start: float
    end: float

    def at(self, done: float, total: float = 1.0) -> float:
        """The job's fraction when `done` of the stage's `total` is done."""
        return self.start + (self.end - self.start) * done / total

    def split(self, done: float) -> tuple["Span", "Span"]:
        """The span up to `done` of it, and the rest."""
        middle = self.at(done)
        return Span(self.start, middle), Span(middle, self.end)

    def part(self, index: int, count: int) -> "Span":
        """The index-th of `count` equal parts."""
        return Span(self.at(index, count), self.at(index + 1, count))


WHOLE = Span(0.0, 1.0)


@dataclass(frozen=True)
class RenderPlan:
    """A Render job: rendering, then streaming the mix and stems."""

    rendering: float
    streaming: Span


RENDER_PLAN = RenderPlan(rendering=0.0, streaming=Span(0.5, 1.0))


@dataclass(frozen=True)
class ComposePlan:
    """A Compose job: composing, rendering, streaming the song, then each extra asked for (by name)."""

    extras: dict[str, Span]
    streaming: Span
    composing: float = 0.0
    rendering: float = 0.1


def compose_plan(extras: list[str]) -> ComposePlan:
    """The song streams from 0.5 to 0.7, and the extras share the rest equally; without extras it streams to the
    end."""
    share = 0.3 / max(len(extras), 1)
    return ComposePlan(
        extras={name: Span(0.7 + share * index, 0.7 + share * (index + 1)) for index, name in enumerate(extras)},
        streaming=Span(0.5, 0.7 if extras else 1.0),
    )
