"""The real SDSS files (``ASTRA_TEST_SAS``) that several test modules use."""

#: The skip reason when the real files are missing: what to set, and what the tree holds.
MISSING_REAL_SAS = (
    "real SDSS files not available: set ASTRA_TEST_SAS to the root of a local SAS mirror holding "
    "the dr13 apStar files of fields N1333, 120-45, 009+09 and 221+84, three dr13 apVisit files, the "
    "dr16 apVisit r12/visit/apo25m/N188/5095/55844 fiber 128 and the dr13 BOSS spec-3586-55181-0500 (tests/real_files.py)"
)

#: Field -> 2MASS object of each real dr13 apStar file in the test data.
REAL_APSTAR = {
    "N1333": "2M03290406+3117075",
    "120-45": "2M00452143+1634446",
    "009+09": "2M17334253-1654573",
    "221+84": "2M12241699+2453335",
}

#: The data-model keys the real apStar files share.
DR13 = dict(release="dr13", apred="r6", apstar="stars", telescope="apo25m")
