"""Exceptions the simulator raises; the command line turns each into one message and exit 2.

Exception
 └── SimulatorError        base: the message names the file, device or option at fault
      ├── SiteError        a site file the simulator cannot read
      ├── ScenarioError    an incident that names an unknown device, a wrong kind, overlaps
      └── PublishError     the broker cannot be reached or refused the connection
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Something the simulator cannot do; the message says what and where."""


class SiteError(SimulatorError):
    """A site file that cannot be simulated (path and place in the message)."""


class ScenarioError(SimulatorError):
    """A scenario that cannot be played on this site."""


class PublishError(SimulatorError):
    """The broker could not be reached, or refused the connection."""
