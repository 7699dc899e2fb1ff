"""Tests of the data-model file tasks (astra.tasks.io.base, sdss4, sdss5, local)."""

import logging
import os

import luigi
import pytest

from astra.tasks import BaseTask
from astra.tasks.io import (
    ApStarFile,
    ApVisitFile,
    AspcapStarFile,
    LocalTargetTask,
    MissingKeyError,
    MwmStarFile,
    MwmVisitFile,
    SpecFile,
    SpecFullFile,
    SpecLiteFile,
)
from astra.tasks.io import paths

ALL_CLASSES = [ApVisitFile, ApStarFile, AspcapStarFile, SpecFile, MwmStarFile, MwmVisitFile, SpecLiteFile, SpecFullFile]

DR13_STARS = dict(release="dr13", apred="r6", apstar="stars", telescope="apo25m", prefix="ap")
BATCH = dict(DR13_STARS, field=("120-45", "009+09"), obj=("2M00452143+1634446", "2M17334253-1654573"))


@pytest.fixture
def sas(tmp_path, monkeypatch):
    root = tmp_path / "sas"
    root.mkdir()
    monkeypatch.setenv("SAS_BASE_DIR", str(root))
    return root


@pytest.fixture
def real(real_sas, monkeypatch):
    monkeypatch.setenv("SAS_BASE_DIR", real_sas)
    return real_sas


def _build(tasks):
    return luigi.build(tasks, local_scheduler=True, log_level="WARNING", detailed_summary=True)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_parameters_cover_every_release_of_the_species(cls):
    declared = set(cls.data_model_keys())
    releases = paths.releases_for(cls.sdss_data_model_name)
    assert releases
    for release in releases:
        missing = set(paths.template_keys(release, cls.sdss_data_model_name)) - declared
        assert not missing, f"{cls.__name__} lacks {missing} for {release}"


def test_keys_per_release_and_paths(sas):
    dr13 = ApVisitFile(release="dr13", apred="r6", telescope="apo25m", plate=6561, mjd=56587, fiber=131)
    assert dr13.local_path == str(sas / "dr13/apogee/spectro/redux/r6/apo25m/6561/56587/apVisit-r6-6561-56587-131.fits")
    dr16 = ApVisitFile(release="dr16", apred="r12", telescope="apo25m", field="N188", plate=5095, mjd=55844, fiber=128)
    assert dr16.prefix == "ap"  # derived from the telescope
    assert dr16.local_path.endswith("r12/visit/apo25m/N188/5095/55844/apVisit-r12-5095-55844-128.fits")
    lco = ApStarFile(release="dr17", apred="dr17", apstar="stars", telescope="lco25m", field="f", obj="2M1")
    assert lco.prefix == "as" and os.path.basename(lco.local_path) == "asStar-dr17-2M1.fits"
    sdss5 = ApStarFile(release="dr19", apred="1.3", telescope="apo25m", healpix=12345, obj="2M1")
    assert sdss5.local_path == str(sas / "dr19/spectro/apogee/redux/1.3/stars/apo25m/12/12345/apStar-1.3-apo25m-2M1.fits")
    assert MwmStarFile(release="dr19", v_astra="0.6.0", sdss_id=54392544).local_path.endswith("star/25/44/mwmStar-0.6.0-54392544.fits")
    assert MwmVisitFile(release="sdsswork", v_astra="0.7.0", sdss_id=1).local_path.endswith("visit/00/01/mwmVisit-0.7.0-1.fits")
    lite = SpecLiteFile(release="dr19", run2d="v6_1_3", fieldid=15000, mjd=60000, catalogid=123)
    assert lite.local_path.endswith("v6_1_3/spectra/lite/015000/60000/spec-015000-60000-123.fits")
    full = SpecFullFile(release="dr19", run2d="v6_1_3", fieldid=15000, mjd=60000, catalogid=123)
    assert "/spectra/full/" in full.local_path
    spec = SpecFile(release="dr13", run2d="v5_10_0", plateid=3586, mjd=55181, fiberid=500)
    assert spec.local_path.endswith("dr13/eboss/spectro/redux/v5_10_0/spectra/full/3586/spec-3586-55181-0500.fits")
    aspcap = AspcapStarFile(release="dr16", apred="r12", aspcap="l33", telescope="apo25m", field="N188", obj="2M1")
    assert aspcap.local_path.endswith("dr16/apogee/spectro/aspcap/r12/l33/apo25m/N188/aspcapStar-r12-2M1.fits")


def test_missing_key_error_names_class_key_species_release():
    with pytest.raises(MissingKeyError) as info:
        ApVisitFile(release="dr16", apred="r12", telescope="apo25m", plate=5095, mjd=55844, fiber=128)
    message = str(info.value)
    assert message.startswith("ApVisitFile: release dr16 needs 'field' for apVisit (keys: ")
    assert "fiber" in message and "prefix" in message
    with pytest.raises(MissingKeyError, match="needs 'healpix' for apStar"):
        ApStarFile(release="dr19", apred="1.3", telescope="apo25m", obj="2M1")
    with pytest.raises(MissingKeyError, match="needs 'obj'"):
        ApStarFile(**dict(BATCH, obj=("2M1", None)))


def test_unknown_release_or_species():
    with pytest.raises(ValueError, match="release.*dr99"):
        ApStarFile(release="dr99", apred="x", obj="y")
    with pytest.raises(ValueError, match="ApStarFile: release dr18 has no apStar template"):
        ApStarFile(release="dr18", apred="x", obj="y")


def test_identity_release_spelling_prefix_and_none_keys():
    a = ApStarFile(**dict(DR13_STARS, field="120-45", obj="2M00452143+1634446"))
    b = ApStarFile(release="DR13", apred="r6", apstar="stars", telescope="apo25m", field="120-45", obj="2M00452143+1634446")
    assert a.task_id == b.task_id
    # Keys that do not apply (None) are not part of the identity.
    assert "healpix" not in a.identity_params()
    assert "field" not in ApVisitFile(release="dr13", apred="r6", telescope="apo25m", plate=1, mjd=2, fiber=3).identity_params()
    assert "use_remote" not in a.identity_params()
    assert ApStarFile(**dict(DR13_STARS, field="120-45", obj="2M00452143+1634446", use_remote=True)).task_id == a.task_id
    c = ApStarFile(**dict(DR13_STARS, field="120-45", obj="other"))
    assert c.task_id != a.task_id


def test_str_params_round_trip_single_with_none_keys():
    task = ApVisitFile(release="dr13", apred="r6", telescope="apo25m", plate=6561, mjd=56587, fiber=131)
    again = ApVisitFile.from_str_params(task.to_str_params())
    assert again.task_id == task.task_id and again.field is None and again.plate == 6561


@pytest.mark.realdata
def test_batch_on_real_tree(real):
    batch = ApStarFile(**BATCH)
    assert batch.is_batch_mode and batch.get_batch_size() == 2
    outputs = batch.output()
    assert [o.path for o in outputs] == [
        os.path.join(real, "dr13/apogee/spectro/redux/r6/stars/apo25m/120-45/apStar-r6-2M00452143+1634446.fits"),
        os.path.join(real, "dr13/apogee/spectro/redux/r6/stars/apo25m/009+09/apStar-r6-2M17334253-1654573.fits"),
    ]
    assert batch.complete()
    members = list(batch.get_batch_tasks())
    assert [m.local_path for m in members] == [o.path for o in outputs]
    single = ApStarFile(**dict(DR13_STARS, field="009+09", obj="2M17334253-1654573"))
    assert members[1].task_id == single.task_id
    # Keys that do not apply, even given as a tuple of None, change neither batch nor members.
    mixed = ApStarFile(**dict(BATCH, healpix=(None, None)))
    assert mixed.task_id == batch.task_id
    assert [m.task_id for m in mixed.get_batch_tasks()] == [m.task_id for m in members]
    partly = ApStarFile(**dict(BATCH, apstar=("stars", "stars")))
    assert [m.task_id for m in partly.get_batch_tasks()] == [m.task_id for m in members]
    again = ApStarFile.from_str_params(batch.to_str_params())
    assert again.task_id == batch.task_id
    assert again.field == BATCH["field"] and again.obj == BATCH["obj"]


@pytest.mark.realdata
def test_every_real_file_is_complete(real):
    tasks = [
        ApStarFile(**dict(DR13_STARS, field="N1333", obj="2M03290406+3117075")),
        ApStarFile(**dict(DR13_STARS, field="221+84", obj="2M12241699+2453335")),
        ApVisitFile(release="dr13", apred="r6", telescope="apo25m", plate=6561, mjd=(56587, 56607, 56616), fiber=(131, 125, 131)),
        ApVisitFile(release="dr16", apred="r12", telescope="apo25m", prefix="ap", field="N188", plate=5095, mjd=55844, fiber=128),
        SpecFile(release="dr13", run2d="v5_10_0", plateid=3586, mjd=55181, fiberid=500),
    ]
    assert all(task.complete() for task in tasks)
    assert _build(tasks).status == luigi.LuigiStatusCode.SUCCESS


def test_complete_needs_every_member_and_a_non_empty_file(sas):
    batch = ApStarFile(**BATCH)
    assert not batch.complete()
    first, second = batch.local_paths()
    os.makedirs(os.path.dirname(first))
    with open(first, "wb") as fp:
        fp.write(b"x")
    assert not batch.complete()
    assert batch.missing_paths() == [second]
    os.makedirs(os.path.dirname(second))
    open(second, "wb").close()  # zero bytes: not complete
    assert not batch.complete()
    with open(second, "wb") as fp:
        fp.write(b"x")
    assert batch.complete()


def test_missing_file_is_a_missing_external_dependency(sas, caplog):
    task = ApVisitFile(release="dr16", apred="r12", telescope="apo25m", field="N188", plate=5095, mjd=55844, fiber=128)
    assert task.run is None  # external unless use_remote
    with caplog.at_level(logging.ERROR, logger="astra"):
        result = _build([task])
    assert result.status == luigi.LuigiStatusCode.MISSING_EXT
    messages = "\n".join(r.getMessage() for r in caplog.records if r.name == "astra")
    assert task.local_path in messages
    assert "use_remote" in messages and "SAS_BASE_DIR" in messages


class _CountVisits(BaseTask):
    """A downstream task written for one spectrum; a batch of it requires a batch of files."""

    release = ApVisitFile.release
    apred = ApVisitFile.apred
    telescope = ApVisitFile.telescope
    field = ApVisitFile.field
    plate = ApVisitFile.plate
    mjd = ApVisitFile.mjd
    fiber = ApVisitFile.fiber
    prefix = ApVisitFile.prefix

    def requires(self):
        return ApVisitFile(**self.get_common_param_kwargs(ApVisitFile))

    def output(self):
        return self.local_target("size.txt")

    def process(self, task, context):
        with task.output().open("w") as fp:
            fp.write(str(os.path.getsize(task.input().path)))


@pytest.mark.realdata
def test_downstream_batch_requires_a_batch_of_files(real, tmp_path):
    task = _CountVisits(release="dr13", apred="r6", telescope="apo25m", plate=6561, mjd=(56587, 56607, 56616), fiber=(131, 125, 131))
    requirement = task.requires()
    assert isinstance(requirement, ApVisitFile) and requirement.get_batch_size() == 3
    assert _build([task]).status == luigi.LuigiStatusCode.SUCCESS
    assert all(m.complete() for m in task.get_batch_tasks())


def test_local_target_task(tmp_path):
    path = tmp_path / "model.pkl"
    task = LocalTargetTask(path=str(path))
    assert task.run is None and not task.complete()
    path.write_bytes(b"model")
    assert task.complete() and task.output().path == str(path)
