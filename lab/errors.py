"""The one exception the lab raises."""


class LabError(RuntimeError):
    """The lab network could not be built or torn down; the message says why."""
