"""moto server, with three fixes to ECS's behaviour, each as AWS documents it.

The ECS API types a task's `containers[].cpu` and `containers[].memory` as strings
(API_Container in the Amazon ECS API Reference). moto 5.1 copies the container
definition's integers into them, which boto3 tolerates but aws-sdk-rust rejects as a
type mismatch, failing every RunTask and DescribeTasks. This shim converts the two
values to strings when moto builds a container, then runs the stock server with the
arguments it was given.

A task's `version` (API_Task: "the version counter for the task. Every time a task
experiences a change that starts a CloudWatch event, the version counter is
incremented") is absent from moto's tasks: the shim gives every task version 1 and
adds one whenever its `lastStatus` changes. And DescribeTasks answers an ARN it does not
know with a `failures[]` entry of reason `MISSING`, as ECS does, where moto leaves it
out.
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

_original_task_init = models.Task.__init__
_original_advance = models.Task.advance


def _task_init_with_version(self, *args, **kwargs):
    _original_task_init(self, *args, **kwargs)
    self.version = 1


def _advance_counting_versions(self, *args, **kwargs):
    before = self.status
    result = _original_advance(self, *args, **kwargs)
    if self.status != before:
        self.version = getattr(self, "version", 0) + 1
    return result


models.Task.__init__ = _task_init_with_version
models.Task.advance = _advance_counting_versions

from moto.ecs import responses  # noqa: E402  (after the model patches it uses)

_original_describe_tasks = responses.EC2ContainerServiceResponse.describe_tasks


def _describe_tasks_with_missing(self):
    result = _original_describe_tasks(self)
    asked = self._get_param("tasks", [])
    found = {task.task_arn for task in result.result["tasks"]}
    found_ids = {arn.split("/")[-1] for arn in found}
    result.result["failures"] = [
        {"arn": arn, "reason": "MISSING"}
        for arn in asked
        if arn not in found and arn.split("/")[-1] not in found_ids
    ]
    return result


responses.EC2ContainerServiceResponse.describe_tasks = _describe_tasks_with_missing

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
