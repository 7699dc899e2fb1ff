"""Helpers shared by the catalogue tests (tests/test_models_*.py, test_commands_migrate.py)."""

import os
import shutil

from astra.datamodels.paths import full_path


def copy_real(real_sas, root, release, species, **keys):
    """Copy one real file into the SAS tree ``root`` (a temporary directory) at its path.

    :returns: the path of the copy.
    """
    source = full_path(release, species, sas_base_dir=real_sas, **keys)
    target = full_path(release, species, sas_base_dir=str(root), **keys)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
    return target


def touch_later(path, seconds=10):
    """Move a file's modification time forward (a changed file with the same size)."""
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + seconds))
