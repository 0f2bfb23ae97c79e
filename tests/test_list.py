"""``condensekit list`` shows each parameter's choices, bounds and default, like a good ``--help``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from condensekit.field_docs import bounds_text, default_text, params_lines, type_text


def test_list_models_shows_the_activations_bounds_and_defaults(cli_run) -> None:
    code, out, _ = cli_run("list", "models")
    assert code == 0
    mlp = out[out.index("  mlp ") : out.index("  resmlp ")]
    assert "activation: relu | leaky_relu | gelu | tanh | sigmoid | silu | identity  (default: relu)" in mlp
    assert "depth: int, >= 2, <= 200  (default: 10)" in mlp
    assert "dropout: float, >= 0, < 1  (default: 0.0)" in mlp
    assert "norm: none | batch | layer  (default: none)" in mlp and "bias: bool  (default: true)" in mlp
    # timm's optional one
    assert (
        "activation: relu | leaky_relu | gelu | tanh | sigmoid | silu | identity | none  (default: none)"
        in out
    )
    assert "name: str  (required)" in out


def test_list_tricks_and_metrics(cli_run) -> None:
    code, out, _ = cli_run("list", "tricks")
    assert (
        "scheme: xavier_normal | xavier_uniform | kaiming_normal "
        "| kaiming_uniform | orthogonal  (default: xavier_normal)"
    ) in out
    assert "beta: float, >= 0, < 1  (default: 0.9)" in out and "scale: float, > 0  (default: 1.0)" in out
    code, out, _ = cli_run("list", "metrics")
    assert (
        "every: schedule" in out and '"log:N"' in out and "layers: list[str] | none  (default: none)" in out
    )


class Example(BaseModel):
    mode: Literal["a", "b"] = Field("a", description="which one")
    count: int = Field(3, gt=0, le=10)
    ratio: float | None = None


def test_field_docs_render_one_field_per_line_with_its_description() -> None:
    fields = Example.model_fields
    assert type_text(fields["mode"].annotation) == "a | b" and default_text(fields["mode"]) == "default: a"
    assert bounds_text(fields["count"]) == "> 0, <= 10" and bounds_text(fields["mode"]) == ""
    assert (
        type_text(fields["ratio"].annotation) == "float | none"
        and default_text(fields["ratio"]) == "default: none"
    )
    assert params_lines(Example, indent=2) == [
        "  mode: a | b  (default: a)",
        "      which one",
        "  count: int, > 0, <= 10  (default: 3)",
        "  ratio: float | none  (default: none)",
    ]
