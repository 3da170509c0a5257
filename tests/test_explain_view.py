"""`cogaze explain` reads a DICOM's view the way `cogaze predict` does."""

from __future__ import annotations

import logging


def test_explain_takes_a_dicoms_view_like_predict(serve_runs, tmp_path, caplog):
    """`cogaze explain` on a DICOM without --view uses its ViewPosition (as `predict` does), not UNKNOWN;
    --view still wins; an unknown header value falls back to UNKNOWN with a warning."""
    import numpy as np

    from cogaze.api import explain_image
    from test_images import write_dicom

    run = serve_runs["run"]
    pixels = (np.add.outer(np.arange(64), np.arange(64)) * 30).astype(np.uint16)
    ap = write_dicom(tmp_path / "ap.dcm", pixels, ViewPosition="AP")
    assert explain_image(run, ap, tmp_path / "a", report="Small left effusion.")["view"] == "AP"
    assert explain_image(run, ap, tmp_path / "b", view="PA")["view"] == "PA"
    odd = write_dicom(tmp_path / "odd.dcm", pixels, ViewPosition="XTABLE")
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        assert explain_image(run, odd, tmp_path / "c")["view"] == "UNKNOWN"
    assert "XTABLE" in caplog.text
