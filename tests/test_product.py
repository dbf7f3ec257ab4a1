"""What a new user meets first: the command's help, version, messages, progress bars and the files each command
writes, checked through the command line on tiny real data."""

from __future__ import annotations

import argparse

import pytest

from ethogram import __version__
from ethogram.cli import build_parser, main


def subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(actions[0].choices)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ethogram {__version__}"


@pytest.mark.parametrize("command", subcommands())
def test_every_command_help_ends_with_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "\nexamples:\n" in out, command
    examples = out.split("\nexamples:\n", 1)[1].splitlines()
    assert any(line.strip().startswith(f"ethogram {command}") for line in examples), command


def test_the_commands_with_examples_are_all_there():
    assert {"collect", "train", "eval", "search", "repair", "summarize", "demo", "reproduce"} <= set(subcommands())
