"""Phrase tables of the rule labeler (:mod:`cogaze.metrics.labeler`): mentions per class, "normal"
descriptions, masked pseudo-negations, negation / uncertainty cues and clause terminators.

Written for this project from the structure of chest X-ray reports (no labelled corpus was used to
tune them); tests/data/labeler_dev.csv holds the development sentences, grouped by pattern class.
"""

from __future__ import annotations

_W = r"(?:\s+[a-z-]+)"  # one more word

MENTIONS: dict[str, list[str]] = {
    "Enlarged Cardiomediastinum": [
        r"enlarged (?:cardio)?mediastin\w*",
        r"(?:cardio)?mediastin\w*(?: silhouettes?| contours?)? (?:is|are|appears?|remains?|has become)"
        + _W + r"{0,2} ?(?:enlarged|widened|wide|prominent)",
        r"widen(?:ed|ing) (?:of )?(?:the )?(?:superior )?(?:cardio)?mediastin\w*",
        r"(?:cardio)?mediastinal (?:enlargement|widening)",
    ],
    "Cardiomegaly": [
        r"cardiomegaly",
        r"cardiac enlargement",
        r"enlarge(?:d|ment of the) (?:heart|cardiac silhouette|cardiac contour|cardiac size)",
        r"(?:heart|cardiac silhouette|cardiac contour|heart size|cardiac size)"
        r"(?: is| are| appears?| remains?| has)?" + _W + r"{0,3} (?:enlarged|increased|large|enlargement)",
        r"borderline (?:heart size|cardiac size|enlarged heart)",
    ],
    "Lung Opacity": [
        r"opaci\w+",
        r"infiltrat\w*",
        r"(?:airspace|air space|parenchymal|interstitial) (?:disease|process|markings|abnormalit\w+)",
        r"ground[- ]glass",
        r"hazy|haziness",
        r"densit(?:y|ies)",
        r"reticula\w+",
        r"scarring|(?:pulmonary|lung|linear|apical) scar\b",
        r"increased (?:interstitial |lung )?markings",
    ],
    "Lung Lesion": [
        r"nodul\w*",
        r"\bmass(?:es)?\b",
        r"\blesions?\b",
        r"tumou?rs?",
        r"neoplas\w+",
        r"carcinoma",
        r"metasta\w+",
        r"cavitary|cavitation|cavitating",
    ],
    "Edema": [
        r"o?edema\w*",
        r"(?:vascular|pulmonary|venous|interstitial) (?:congestion|engorgement)",
        r"congestive heart failure|\bchf\b",
        r"fluid overload",
        r"cephalization",
        r"kerley",
    ],
    "Consolidation": [r"consolidat\w*"],
    "Pneumonia": [r"pneumoni(?:a|as|c)\b", r"\binfect\w*", r"aspiration", r"pneumonitis"],
    "Atelectasis": [
        r"atelecta\w+",
        r"(?:lobar|lobe|segmental|lung) collapse",
        r"collapse of the" + _W + r"{0,3} (?:lobe|lung)",
        r"volume loss",
        r"(?<!vertebral )(?<!body )collapse(?!d? (?:of )?(?:the )?(?:\w+ )?vertebra)",
    ],
    "Pneumothorax": [r"pneumothora\w*", r"\bptx\b"],
    "Pleural Effusion": [
        r"(?<!pericardial )effusions?",
        r"hydrothorax",
        r"pleural fluid",
        r"fluid (?:in|within) the" + _W + r"{0,2} (?:pleural|fissure)",
        r"blunt\w* of the" + _W + r"{0,2} (?:costophrenic|cp) angles?",
        r"(?:costophrenic|cp) angles? (?:is |are )?blunt\w*",
        r"layering fluid",
    ],
    "Pleural Other": [
        r"pleural (?:thickening|plaques?|scar\w*|calcifications?|reaction)",
        r"fibrothorax",
        r"apical (?:pleural )?(?:cap|thickening)",
    ],
    "Fracture": [r"fractur\w*", r"\bfx\b"],
    "Support Devices": [
        r"\b(?:endotracheal|et|tracheostomy|trach|nasogastric|ng|orogastric|og|enteric|feeding|chest|"
        r"mediastinal|gastrostomy|dobhoff|dobbhoff|esophageal|pigtail)(?: \w+)? tubes?",
        r"\btubes?\b",
        r"\bett\b",
        r"\b(?:picc|ij|central venous|central|subclavian|jugular|midline|swan[- ]ganz|arterial|dialysis|"
        r"hemodialysis)(?: \w+)? (?:lines?|catheters?)",
        r"\bpicc\b",
        r"catheters?",
        r"pace ?makers?|\bpacers?\b|\ba?icds?\b|defibrillators?",
        r"(?:pacing|pacemaker|pacer|cardiac|monitoring|ecg|ekg|epicardial) (?:leads?|wires?)",
        r"sternotomy wires?",
        r"(?:support|monitoring|cardiac|implanted|prosthetic cardiac)(?: \w+)? devices?",
        r"\bstents?\b",
        r"\bdrains?\b",
        r"port-?a-?cath|\bport\b",
        r"(?:valve|valvular) (?:replacement|prosthes\w+)|prosthetic(?: \w+)? valves?",
        r"intra-?aortic balloon pump|\biabp\b",
        r"\blines? and tubes\b",
    ],
}

NORMAL: dict[str, list[str]] = {  # phrases that state a class is absent without a negation word
    "Enlarged Cardiomediastinum": [
        r"(?:normal|unremarkable) (?:cardio)?mediastinal (?:silhouettes?|contours?)",
        r"(?:cardio)?mediastin\w*(?: and hil\w*)?(?: silhouettes?| contours?)(?: and hil\w*(?: contours)?)?"
        r"(?: is| are| appears?| remains?)? (?:normal|unremarkable|within normal limits)",
        r"(?:heart|cardiac) size and (?:cardio)?mediastin\w*(?: silhouettes?| contours?) (?:is|are) "
        r"(?:normal|unremarkable|within normal limits)",
        r"normal (?:heart|cardiac) (?:size|silhouette) and (?:cardio)?mediastin\w*(?: silhouettes?| contours?)",
        r"(?:heart|cardiac silhouette) and (?:the )?mediastinum (?:is|are) (?:normal|unremarkable|within normal limits)",
        r"(?:cardio)?mediastin\w*(?: silhouettes?| contours?)? (?:is|are) not (?:enlarged|widened)",
    ],
    "Cardiomegaly": [
        r"normal (?:heart|cardiac) (?:size|silhouette|contour)",
        r"(?:heart|cardiac) (?:size|silhouette)(?: and" + _W + r"{1,4})?(?: is| are| appears?| remains?)? "
        r"(?:normal|unremarkable|within normal limits|top[- ]normal|(?:at )?the upper limits? of normal|"
        r"upper limits? of normal|normal in size)",
        r"(?:heart|cardiac size) (?:is )?(?:normal in size|of normal size|normal size)",
        r"normal size of the (?:heart|cardiac silhouette)",
        r"(?:heart|cardiac silhouette) and (?:the )?mediastinum (?:is|are) (?:normal|unremarkable|within normal limits)",
    ],
    "Edema": [
        r"(?:pulmonary |venous )?vascular (?:congestion|engorgement)(?: is| are)? (?:within normal limits|normal)",
    ],
    "Pleural Effusion": [r"(?:costophrenic|cp) angles? (?:is|are) (?:sharp|clear|preserved)",
                         r"sharp (?:costophrenic|cp) angles?"],
}

MASK = [  # look negated but are not
    r"\bno (?:significant |interval |substantial |appreciable |definite )?(?:change|changes|increase|"
    r"decrease|worsening|improvement)\b",
    r"\bwithout (?:significant |interval )?change\b",
    r"\bnot (?:significantly )?changed\b",
    r"\bnot only\b",
    r"\bgram[- ]negative\b",
    r"\b(?:nearly|almost|partially|incompletely|not completely|not entirely|not fully) resolved\b",
    r"\b(?:near(?:ly)?[- ]complete|partial|incomplete) resolution\b",
]
UNCERTAIN_PRE = [
    r"\bcan ?not (?:be )?(?:entirely |completely )?(?:excluded?|ruled? out)\b",
    r"\bcould not (?:be )?(?:excluded?|ruled? out)\b",
    r"\bdifficult to (?:exclude|rule out)\b",
    r"\bmay\b", r"\bmight\b", r"\bcould\b", r"\bpossibl[ey]\b", r"\bpossibility\b", r"\bprobabl[ey]\b",
    r"\blikely\b", r"\bquestionabl[ey]\b", r"\bquestion of\b", r"(?<!no )\bsuspicious\b", r"\bsuspect\w*\b",
    r"\bsuggest\w*\b", r"\bconcern\w*\b", r"\bworrisome\b", r"\bconsider\w*\b", r"\bdifferential\b", r"\bversus\b",
    r"\bvs\b", r"\bequivocal\b", r"\bindeterminate\b", r"\buncertain\b", r"\bborderline\b",
    r"\bpotential(?:ly)?\b", r"\bpresumed\b", r"\bpresumabl[ey]\b", r"\bperhaps\b",
    r"\bto (?:suggest|indicate)\b",
]
# Uncertainty cues that link a finding to a diagnosis ("opacity suggesting pneumonia"); after a negated
# finding they carry its negation ("no focal opacity to suggest pneumonia" -> pneumonia negative).
LINK_CUES = r"(?:to )?(?:suggest\w*|indicat\w*)|concern\w*(?: for)?|worrisome(?: for)?|suspicious(?: for)?"
UNCERTAIN_POST = [
    r"\b(?:is|are) (?:possible|suspected|questioned|not excluded|likely|a possibility)\b",
    r"\b(?:is|are) difficult to (?:exclude|rule out)\b",
    r"\b(?:can ?not|could not|not) be (?:entirely |completely )?(?:excluded|ruled out)\b",
    r"\bnot (?:entirely |completely )?(?:excluded|ruled out)\b",
    r"\b(?:may|might|could) be (?:present|seen|developing)\b",
    r"\bversus\b", r"\bvs\b",
]
NEGATION_POST = [
    r"\b(?:is |are |was |were )?not (?:seen|identified|present|visualized|visible|evident|appreciated|"
    r"detected|demonstrated|noted|apparent|enlarged|depicted)\b",
    r"\babsent\b", r"\b(?:has |have )?(?:since )?resolved\b", r"\b(?:has |have )?(?:been )?removed\b",
    r"\bno longer (?:seen|present|visualized|visible|evident)\b", r"\bunlikely\b", r"\bruled out\b",
    r"\bexcluded\b", r"\b(?:removal|withdrawal)\b", r"\b(?:has |have )?cleared\b",
]
NEGATION_PRE = [
    r"\bno\b", r"\bnot\b", r"\bwithout\b", r"\bnegative for\b", r"\bfree of\b", r"\bclear of\b",
    r"\babsence of\b", r"\bresolution of\b", r"\bresolved\b", r"\bremoval of\b", r"\bremoved\b",
    r"\bno longer\b", r"\bneither\b", r"\bnor\b", r"\bnone\b", r"\brather than\b", r"\bnegative\b",
    r"\bnothing\b", r"\bclearing of\b",
]
MODIFIERS = (
    "mild|mildly|moderate|moderately|severe|severely|small|large|minimal|trace|tiny|stable|persistent|new|"
    "increased|increasing|decreased|decreasing|improved|improving|worsening|worsened|unchanged|bilateral|"
    "left|right|bibasilar|there|the|a|an|likely|possibl\\w+|probabl\\w+|may|perhaps|however|but|which"
)
TERMINATORS = [
    r"\bbut\b", r"\bhowever\b", r"\balthough\b", r"\bthough\b", r"\bwhereas\b", r"\bwhile\b",
    r"\bexcept\b", r"\baside from\b", r"\bapart from\b", r"\bother than\b", r"\bwhich\b",
    r"\bthere (?:is|are)\b", r"[;:]", r",\s*(?=(?:" + MODIFIERS + r")\b)",
]
