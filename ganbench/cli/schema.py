"""``ganbench schema``: the JSON Schema of grid files, for editors (docs/grid-format.md)."""

from __future__ import annotations

import json

import typer

from ganbench.cli.app import app
from ganbench.config.json_schema import grid_schema
from ganbench.registry import get_registry


@app.command()
def schema() -> None:
    """Print the JSON Schema of grid files, with the installed components: `ganbench schema >
    grid.schema.json`, then `#:schema ./grid.schema.json` at the top of a grid (Taplo, Even
    Better TOML)."""
    typer.echo(json.dumps(grid_schema(get_registry()), indent=2))
