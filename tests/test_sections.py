"""The report section parser on hand-written report texts covering the real header variants."""

import pytest

from cogaze.data.sections import parse_report
from fixture_trees import REPORTS

# (report text, expected sections; keys not given must be "")
CASES = [
    (  # 1. canonical MIMIC layout: FINAL REPORT title, headers with colons, content on the next lines
        REPORTS["50414267"],  # the fixture tree's report: one text, two uses
        dict(indication="___F with new onset ascites // eval for infection", technique="Chest PA and lateral",
             comparison="None.",
             findings="There is no focal consolidation, pleural effusion or pneumothorax. Bilateral nodular "
                      "opacities that most likely represent nipple shadows.",
             impression="No acute cardiopulmonary process."),
    ),
    (  # 2. mixed case, no colons, headers on their own lines
        "Findings\nThe lungs are clear.\nImpression\nNormal chest.",
        dict(findings="The lungs are clear.", impression="Normal chest."),
    ),
    (  # 3. combined FINDINGS AND IMPRESSION fills both
        "FINDINGS AND IMPRESSION: Heart size is normal. No effusion.",
        dict(findings="Heart size is normal. No effusion.", impression="Heart size is normal. No effusion."),
    ),
    (  # 4. CONCLUSION is the impression; CLINICAL INDICATION is the indication
        "CLINICAL INDICATION: Shortness of breath.\nFINDINGS: Mild edema.\nCONCLUSION: Mild pulmonary edema.",
        dict(indication="Shortness of breath.", findings="Mild edema.", impression="Mild pulmonary edema."),
    ),
    (  # 5. CLINICAL HISTORY and COMPARISONS
        "CLINICAL HISTORY: 65M with cough.\nCOMPARISONS: ___.\nFINDINGS: Right lower lobe opacity.",
        dict(history="65M with cough.", comparison="___.", findings="Right lower lobe opacity."),
    ),
    (  # 6. REASON FOR EXAMINATION is an indication
        "REASON FOR EXAMINATION: Evaluate for pneumothorax.\n\nIMPRESSION: No pneumothorax.",
        dict(indication="Evaluate for pneumothorax.", impression="No pneumothorax."),
    ),
    (  # 7. REASON FOR EXAM (short form), header alone on its line
        "REASON FOR EXAM\nfever\nFINDINGS\nclear lungs",
        dict(indication="fever", findings="clear lungs"),
    ),
    (  # 8. missing findings: impression only
        "FINAL REPORT\nIMPRESSION: Stable cardiomegaly.",
        dict(impression="Stable cardiomegaly."),
    ),
    (  # 9. WET READ block is discarded, not glued to a section
        "WET READ: ___ ___ 3:12 PM\n  Mild edema, no PTX.\nFINAL REPORT\nHISTORY: CHF.\nFINDINGS: Mild edema.",
        dict(history="CHF.", findings="Mild edema."),
    ),
    (  # 10. extra whitespace, wrapped lines and space before the colon
        "FINDINGS :   The   heart\n   is   normal\n\n   in size.   \n\nIMPRESSION   :  Normal.",
        dict(findings="The heart is normal in size.", impression="Normal."),
    ),
    (  # 11. all-caps header inline without a colon
        "HISTORY Dyspnea.\nFINDINGS Bibasilar atelectasis.\nIMPRESSION Atelectasis.",
        dict(history="Dyspnea.", findings="Bibasilar atelectasis.", impression="Atelectasis."),
    ),
    (  # 12. lower-case sentence starting with a header word is NOT a header
        "FINDINGS: Comparison is made to the prior study. History of smoking is noted.\nIMPRESSION: No change.",
        dict(findings="Comparison is made to the prior study. History of smoking is noted.",
             impression="No change."),
    ),
    (  # 13. no headers at all: whole text is findings
        "Heart size normal.  Lungs clear.\nNo effusion.",
        dict(findings="Heart size normal. Lungs clear. No effusion."),
    ),
    (  # 14. INDICATIONS plural and IMPRESSIONS plural, TECHNIQUE
        "INDICATIONS: Chest pain.\nTECHNIQUE: Single portable view.\nIMPRESSIONS: No acute process.",
        dict(indication="Chest pain.", technique="Single portable view.", impression="No acute process."),
    ),
    (  # 15. repeated section is concatenated; EXAMINATION header content dropped
        "EXAMINATION: CHEST PORTABLE\nFINDINGS: Line tip in SVC.\nFINDINGS: No pneumothorax.",
        dict(findings="Line tip in SVC. No pneumothorax."),
    ),
    (  # 16. Windows line endings and an ADDENDUM after the impression
        "FINDINGS:\r\nClear lungs.\r\nIMPRESSION:\r\nNormal.\r\nADDENDUM: Called to Dr. ___.",
        dict(findings="Clear lungs.", impression="Normal."),
    ),
    (  # 17. empty section body
        "INDICATION:\nFINDINGS: Mild cardiomegaly.",
        dict(findings="Mild cardiomegaly."),
    ),
    (  # 18. header preceded by indentation and a header-like word inside a word ("FINDINGSX" is not one)
        "   FINDINGS:   Opacity at the FINDINGSX marker.\n   Impression: pneumonia.",
        dict(findings="Opacity at the FINDINGSX marker.", impression="pneumonia."),
    ),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[f"report{i + 1}" for i in range(len(CASES))])
def test_parse_report(text, expected):
    got = parse_report(text).as_dict()
    want = {k: "" for k in got} | expected
    assert got == want


def test_case_count():
    assert len(CASES) >= 15
