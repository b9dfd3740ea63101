"""moto server, with one fix to ECS's wire format.

The ECS API types a task's `containers[].cpu` and `containers[].memory` as strings
(API_Container in the Amazon ECS API Reference). moto 5.1 copies the container
definition's integers into them, which boto3 tolerates but aws-sdk-rust rejects as a
type mismatch, failing every RunTask and DescribeTasks. This shim converts the two
values to strings when moto builds a container, then runs the stock server with the
arguments it was given.
"""

import sys

from moto.ecs import models

_original_init = models.Container.__init__


def _init_with_api_types(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    for attribute in ("cpu", "memory"):
        value = getattr(self, attribute, None)
        if value is not None:
            setattr(self, attribute, str(value))


models.Container.__init__ = _init_with_api_types

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
