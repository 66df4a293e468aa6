"""A command group that imports a command's module only when that command is used.

`qmm --help` lists every command from the summary declared with it (cli/main.py), so starting
the program loads none of the areas (SciPy, Ibis, DuckDB, FastAPI, WeasyPrint) a command needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo

if TYPE_CHECKING:
    # Types only: recent Typer ships its own copy of Click, older Typer uses Click itself.
    from typer._click import Command, Context, HelpFormatter
    from typer.core import MarkupMode


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined ("module:attribute", a Typer group or a command function)
    and the line `qmm --help` lists it with (the first paragraph of its own help)."""

    target: str
    summary: str

    def load(self, name: str, *, rich_markup_mode: MarkupMode) -> Command:
        """Import the command's module and build the command as Typer would have."""
        module_name, attribute = self.target.split(":")
        defined = getattr(importlib.import_module(module_name), attribute)
        command: Command
        if isinstance(defined, typer.Typer):
            command = get_group(defined)
        else:
            command = get_command_from_info(
                CommandInfo(name=name, callback=defined),
                pretty_exceptions_short=True,
                rich_markup_mode=rich_markup_mode,
            )
        command.name = name
        return command


class CommandsOnDemand(MutableMapping[str, "Command"]):
    """The group's commands by name, in the order declared; each is built on first use."""

    def __init__(
        self,
        declared: Mapping[str, LazyCommand],
        built: Mapping[str, Command],
        *,
        rich_markup_mode: MarkupMode,
    ) -> None:
        self.declared = declared
        self.built = dict(built)
        self.rich_markup_mode = rich_markup_mode

    def is_built(self, name: str) -> bool:
        """Whether the command's module has been imported already."""
        return name in self.built

    def __getitem__(self, name: str) -> Command:
        if name not in self.built:
            self.built[name] = self.declared[name].load(
                name, rich_markup_mode=self.rich_markup_mode
            )
        return self.built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"command {name!r} cannot be removed")

    def __iter__(self) -> Iterator[str]:
        yield from self.declared
        yield from (name for name in self.built if name not in self.declared)

    def __len__(self) -> int:
        return len(self.declared) + sum(1 for name in self.built if name not in self.declared)

    def __contains__(self, name: object) -> bool:
        return name in self.declared or name in self.built


class LazyGroup(TyperGroup):
    """A Typer group whose subclasses declare their commands in `lazy_commands`."""

    lazy_commands: ClassVar[Mapping[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.on_demand = CommandsOnDemand(
            self.lazy_commands, self.commands, rich_markup_mode=self.rich_markup_mode
        )
        self.commands = self.on_demand
        self.summaries_only = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if (
            self.summaries_only
            and cmd_name in self.lazy_commands
            and not self.on_demand.is_built(cmd_name)
        ):
            return TyperCommand(name=cmd_name, help=self.lazy_commands[cmd_name].summary)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The group's help lists its commands by their summaries, importing none of them."""
        self.summaries_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.summaries_only = False
