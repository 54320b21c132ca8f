"""The cost-curves benchmark's options, verdicts and figure on made-up curves (the
measuring itself is `make bench-scale`; this keeps its plotting and judging from rotting)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import cost_curves
from benchmarks.cost_plot import BookingPoint, Curves, SearchPoint, TokenPoint, plot
from benchmarks.service_report import ServiceReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_curves(
    *, one_stop_p95_at_largest: float = 20.0, booking_at_largest: float = 95.0
) -> Curves:
    token = [
        TokenPoint(
            n,
            calls=10_000,
            redis_commands=40 + 10 * n,
            idle_commands_per_s=2.0 * n,
            seconds=10.0,
            upstream_per_lifetime=1.0 - 0.01 * n,
            tokens_issued=12,
            commands={"evalsha": 20, "get": 10},
            idle_commands={"set": 0.5},
        )
        for n in (1, 3)
    ]
    return Curves(
        search=[
            SearchPoint(1_000, "non-stop", 10.0, 5.0, 500.0),
            SearchPoint(5_000, "non-stop", 11.0, 5.5, 480.0),
            SearchPoint(1_000, "one-stop", 10.0, 6.0, 300.0),
            SearchPoint(5_000, "one-stop", one_stop_p95_at_largest, 9.0, 200.0),
        ],
        booking=[
            BookingPoint(0, "service", 100.0, 80.0),
            BookingPoint(1_000, "service", booking_at_largest, 85.0),
            BookingPoint(0, "SQL ceiling", 400.0, 20.0),
            BookingPoint(1_000, "SQL ceiling", 390.0, 21.0),
        ],
        token=token,
    )


def verdicts(curves: Curves) -> list[str]:
    report = ServiceReport("x", "x", "x", [])
    cost_curves.aims(curves, report)
    assert len(report.extra_tables) == 3
    return report.aims


def test_aims_judge_each_curve_against_its_aim() -> None:
    aims = verdicts(tiny_curves())
    assert [a.split("**")[1] for a in aims] == ["met", "not met", "met", "met", "met"]
    assert "cold non-stop" in aims[0] and "1.10 x" in aims[0]
    assert "cold one-stop" in aims[1] and "2.00 x" in aims[1]
    assert "0.95 x" in aims[2]
    aims = verdicts(tiny_curves(one_stop_p95_at_largest=14.0, booking_at_largest=80.0))
    assert [a.split("**")[1] for a in aims][:3] == ["met", "met", "not met"]


def test_replot_draws_a_png_from_saved_curves(tmp_path: Path) -> None:
    data = tmp_path / "curves.json"
    data.write_text(tiny_curves().to_json())
    png = tmp_path / "figure.png"
    assert cost_curves.main(["--replot", str(data), "--plot", str(png)]) == 0
    content = png.read_bytes()
    assert content.startswith(PNG_SIGNATURE) and len(content) > 20_000
    assert Curves.from_json(data.read_text()) == tiny_curves()


def test_partial_curves_still_plot(tmp_path: Path) -> None:
    curves = tiny_curves()
    curves.booking = []
    png = plot(curves, tmp_path / "partial.png")
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_quick_runs_small_sizes_and_leaves_the_docs_alone() -> None:
    quick = cost_curves.parse_args(["--quick"])
    assert quick.search_scale == "small" and quick.copies == [1, 2, 4]
    assert quick.stored_levels == [0, 20_000, 100_000] and quick.token_levels == [1, 3]
    assert quick.no_doc
    assert not cost_curves.parse_args(["--quick", "--plot", "x.png"]).no_doc
    full = cost_curves.parse_args([])
    assert full.search_scale == "default" and full.copies == [1, 5, 10]
    assert full.stored_levels == [0, 1_000_000, 5_000_000]
    assert full.token_levels == [1, 3, 6, 12] and not full.no_doc
