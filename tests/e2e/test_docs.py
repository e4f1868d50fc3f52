"""The README, the man page and --help describe the same options."""
import pathlib
import re

from conftest import ROOT, pyspect

COMMANDS = re.findall(r"^  (\w+) ", pyspect("--help").out, re.M)


def options_of(command):
    text = pyspect(command, "--help").out
    return sorted(set(re.findall(r"(--[a-z][a-z-]+)", text)))


def test_every_command_and_option_is_documented():
    man = (ROOT / "docs" / "pyspect.1").read_text()
    man = man.replace("\\-", "-")
    readme = (ROOT / "README.md").read_text()
    assert COMMANDS, "pyspect --help lists no commands"
    for command in COMMANDS:
        assert ("pyspect %s" % command) in man, command
        assert ("pyspect %s" % command) in readme, command
        for opt in options_of(command):
            if opt == "--help":
                continue
            assert opt in man, "%s %s missing from docs/pyspect.1" % (
                command, opt)
            assert opt in readme, "%s %s missing from README.md" % (
                command, opt)
