"""A stand-in task for writing result rows without running Luigi."""


class FakeTask:
    """The little of a task that :meth:`astra.database.BaseResult.row_for_task` reads.

    :param task_id: the task id.
    :param major: Astra major version recorded in the parameters.
    :param minor: Astra minor version recorded in the parameters.
    :param params: further parameters (data-model keys, ...).
    """

    def __init__(self, task_id, major=0, minor=3, **params):
        self.task_id = task_id
        self.param_kwargs = {"astra_version_major": major, "astra_version_minor": minor, **params}

    @staticmethod
    def get_task_family():
        return "test.Fake"

    def identity_params(self):
        return {k: str(v) for k, v in self.param_kwargs.items()}
