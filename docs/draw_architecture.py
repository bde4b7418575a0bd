"""Draw the two pictures of docs/architecture.md: the layers and one message's path.

    .venv/bin/python docs/draw_architecture.py

The layer picture is drawn from the source: its arrows are the imports between the
project's packages as they are now (read with ``ast``, like ``tests/test_layers.py``), so
it cannot show a direction the code does not have; ``tests/test_architecture_doc.py``
fails when the committed picture and the code disagree. The message path names the
modules each step runs in; the same test checks that they exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LAYERS_SVG = DOCS / "architecture-layers.svg"
PATH_SVG = DOCS / "message-path.svg"

#: the packages, where each is drawn (x, y of the box centre) and what it is for
PACKAGES: dict[str, tuple[float, float, str]] = {
    "bot": (4.0, 8.6, "WeChat callback, dispatcher, handlers,\nconsole, FastAPI app, CLI"),
    "nlu": (1.5, 5.6, "text in, parse out"),
    "policies": (6.5, 5.6, "pure decisions and rules, no I/O"),
    "integrations": (4.0, 2.6, "WeChat API, dispatch, database,\nstate store, stores"),
    "privacy": (10.8, 5.1, "personal data:\nfind, mask,\nredact, seal\n\n(every layer)"),
}
BOX_W, BOX_H = 3.4, 1.1
#: privacy is a tall box on the right, reached sideways by every layer
PRIVACY_W, PRIVACY_H = 1.4, 8.4
#: the height of the lane below integrations/ that nlu/ takes to privacy/
LANE_Y = 1.25

#: one complaint from the callback to the ticket to the push: (what happens, where)
MESSAGE_PATH: tuple[tuple[str, str], ...] = (
    ("WeChat posts the resident's message (body <= 64 KiB)", "bot/app.py"),
    ("signature, timestamp and AES checked; XML -> typed message", "bot/channel.py"),
    (
        "log (masked) -> dedup -> resident lock -> dialogue state -> error guard -> NLU parse",
        "bot/middlewares/, nlu/parser.py",
    ),
    ("routers in priority order: handoff -> dialogue -> basic", "bot/handlers/"),
    ("decide(): ask for place and phone, confirm (the words: messages)", "policies/dialogue.py"),
    (
        "the resident confirms: the CreateTicket action is performed",
        "bot/handlers/dialogue.py, bot/dialogue/desks.py",
    ),
    ("ticket, timeline, outbox job in one transaction, once per message", "integrations/tickets/"),
    (
        "passive reply with the ticket number within 4 s (later: pushed)",
        "bot/channel.py, bot/delivery.py",
    ),
    ("the outbox worker claims the job and submits it", "integrations/dispatch/worker.py"),
    ("the embedded desk or an Open311 server takes it", "integrations/dispatch/"),
    ("delivered: status dispatched and a push job, one transaction", "integrations/tickets/"),
    ("push wording and channel (48 h window and quota, else template)", "policies/tickets.py"),
    ("customer-service text or template message through WeChat's API", "integrations/notify/"),
    ("WeChat shows the resident the progress", "integrations/wechat/client.py"),
)

STYLE = {"svg.fonttype": "none", "svg.hashsalt": "intake", "font.family": "DejaVu Sans"}


def import_edges(root: Path = ROOT) -> set[tuple[str, str]]:
    """(importer, imported) pairs of packages: some module of one imports the other."""
    edges: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            found: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
            for imported in found:
                if imported in PACKAGES and imported != package:
                    edges.add((package, imported))
    return edges


def edge_label(importer: str, imported: str) -> str:
    """The text drawn on an arrow (and read back by the test)."""
    return f"{importer} -> {imported}"


def _box(ax: plt.Axes, x: float, y: float, w: float, h: float, **style: object) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.08,rounding_size=0.2", **style
        )
    )


def _route(importer: str, imported: str) -> tuple[tuple[float, float], tuple[float, float], str]:
    """Where an arrow starts and ends, and its Matplotlib connection style."""
    x1, y1, _ = PACKAGES[importer]
    x2, y2, _ = PACKAGES[imported]
    if imported == "privacy":
        left = x2 - PRIVACY_W / 2
        if x1 + BOX_W / 2 < PACKAGES["policies"][0] - BOX_W / 2 and y1 == PACKAGES["nlu"][1]:
            # nlu/ is left of policies/: down below integrations/, then right
            return (x1, y1 - BOX_H / 2), (left, LANE_Y), "angle,angleA=-90,angleB=180,rad=0"
        return (x1 + BOX_W / 2, y1), (left, y1), "arc3,rad=0"
    down = y1 > y2
    start = (x1, y1 - BOX_H / 2 if down else y1 + BOX_H / 2)
    end = (x2, y2 + BOX_H / 2 if down else y2 - BOX_H / 2)
    return start, end, "arc3,rad=0.06"


def draw_layers(path: Path = LAYERS_SVG) -> Path:
    """Boxes for the packages, an arrow for every import direction that exists."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(11.0, 8.4))
        ax.set_xlim(-0.5, 11.8)
        ax.set_ylim(0.4, 10.2)
        ax.axis("off")
        ax.set_title("Layers: an arrow is an import (read from the source)", fontsize=12)
        for name, (x, y, job) in PACKAGES.items():
            w, h = (PRIVACY_W, PRIVACY_H) if name == "privacy" else (BOX_W, BOX_H)
            _box(ax, x, y, w, h, facecolor="#eef3fb", edgecolor="#34569b", linewidth=1.4)
            top = y + h / 2 - 0.35 if name == "privacy" else y + 0.2
            ax.text(x, top, f"{name}/", ha="center", va="center", fontsize=12, weight="bold")
            ax.text(
                x,
                y if name == "privacy" else y - 0.22,
                job,
                ha="center",
                va="center",
                fontsize=7.5,
                color="#333",
            )
        for importer, imported in sorted(import_edges()):
            start, end, style = _route(importer, imported)
            ax.add_patch(
                FancyArrowPatch(
                    start,
                    end,
                    arrowstyle="-|>",
                    mutation_scale=14,
                    color="#555",
                    linewidth=1.1,
                    connectionstyle=style,
                    shrinkA=2,
                    shrinkB=2,
                )
            )
            if style.startswith("angle"):
                at = ((start[0] + end[0]) / 2 + 1.0, end[1] + 0.22)
            elif imported == "privacy":
                at = ((start[0] + end[0]) / 2, start[1] + 0.22)
            else:
                at = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
            ax.text(
                *at,
                edge_label(importer, imported),
                ha="center",
                va="center",
                fontsize=7,
                color="#222",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
        ax.text(
            5.6,
            9.8,
            "testing/ (fakes, loopback servers): tests and benchmarks only, never imported here",
            ha="center",
            fontsize=8,
            style="italic",
            color="#666",
        )
        fig.tight_layout()
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
    return path


def draw_message_path(path: Path = PATH_SVG) -> Path:
    """The numbered steps of one complaint, each with the module it runs in."""
    rows = len(MESSAGE_PATH)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 0.62 * rows + 1.0))
        ax.set_xlim(0, 10.5)
        ax.set_ylim(-0.6, rows + 0.1)
        ax.axis("off")
        ax.set_title("One complaint: from the callback to the ticket to the push", fontsize=12)
        ax.text(
            5.25,
            rows - 0.35,
            "colour: the layer that runs the step (bot, policies, integrations)",
            ha="center",
            fontsize=8,
            style="italic",
            color="#666",
        )
        for n, (what, where) in enumerate(MESSAGE_PATH):
            y = rows - 1 - n
            layer = where.split("/", 1)[0]
            colour = {"bot": "#eef3fb", "policies": "#eef8ee", "nlu": "#fbf3e6"}.get(
                layer, "#f4eefb"
            )
            _box(ax, 5.25, y, 10.0, 0.62, facecolor=colour, edgecolor="#888", linewidth=0.8)
            ax.text(0.45, y, f"{n + 1}", ha="center", va="center", fontsize=10, weight="bold")
            ax.text(0.8, y, what, ha="left", va="center", fontsize=8.5)
            ax.text(10.1, y, where, ha="right", va="center", fontsize=8, family="DejaVu Sans Mono")
            if n:
                ax.annotate(
                    "",
                    xy=(0.45, y + 0.31),
                    xytext=(0.45, y + 0.69),
                    arrowprops={"arrowstyle": "-|>", "color": "#555"},
                )
        fig.tight_layout()
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
    return path


def main() -> None:
    for written in (draw_layers(), draw_message_path()):
        print(written.relative_to(ROOT))


if __name__ == "__main__":
    main()
