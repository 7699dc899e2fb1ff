"""The real dr13 apStar files of ``../shared/sdss-data`` that several test modules use."""

#: Field -> 2MASS object of each real dr13 apStar file in the test data.
REAL_APSTAR = {
    "N1333": "2M03290406+3117075",
    "120-45": "2M00452143+1634446",
    "009+09": "2M17334253-1654573",
    "221+84": "2M12241699+2453335",
}

#: The data-model keys the real apStar files share.
DR13 = dict(release="dr13", apred="r6", apstar="stars", telescope="apo25m")
