"""arXiv categories offered by the topic picker (a datalist: any valid code is accepted)."""

from __future__ import annotations

ARXIV_CATEGORIES: dict[str, str] = {
    "cs.AI": "Artificial Intelligence", "cs.CL": "Computation and Language",
    "cs.CV": "Computer Vision and Pattern Recognition", "cs.LG": "Machine Learning",
    "cs.IR": "Information Retrieval", "cs.RO": "Robotics",
    "cs.NE": "Neural and Evolutionary Computing",
    "cs.HC": "Human-Computer Interaction", "cs.CR": "Cryptography and Security",
    "cs.DB": "Databases", "cs.DC": "Distributed, Parallel, and Cluster Computing",
    "cs.DS": "Data Structures and Algorithms", "cs.SE": "Software Engineering",
    "cs.PL": "Programming Languages", "cs.CY": "Computers and Society",
    "cs.MA": "Multiagent Systems", "cs.SD": "Sound", "cs.GT": "Computer Science and Game Theory",
    "cs.SI": "Social and Information Networks", "cs.IT": "Information Theory",
    "stat.ML": "Machine Learning (Statistics)", "stat.ME": "Methodology", "stat.AP": "Applications",
    "math.OC": "Optimization and Control", "math.PR": "Probability", "math.ST": "Statistics Theory",
    "math.NA": "Numerical Analysis", "math.CO": "Combinatorics", "math.AP": "Analysis of PDEs",
    "eess.AS": "Audio and Speech Processing", "eess.IV": "Image and Video Processing",
    "eess.SP": "Signal Processing", "eess.SY": "Systems and Control",
    "q-bio.NC": "Neurons and Cognition", "q-bio.QM": "Quantitative Methods",
    "q-bio.BM": "Biomolecules", "q-bio.GN": "Genomics", "q-fin.CP": "Computational Finance",
    "econ.EM": "Econometrics", "physics.comp-ph": "Computational Physics",
    "physics.bio-ph": "Biological Physics", "physics.optics": "Optics",
    "cond-mat.mtrl-sci": "Materials Science", "cond-mat.stat-mech": "Statistical Mechanics",
    "cond-mat.dis-nn": "Disordered Systems and Neural Networks", "quant-ph": "Quantum Physics",
    "hep-th": "High Energy Physics - Theory", "hep-ph": "High Energy Physics - Phenomenology",
    "gr-qc": "General Relativity and Quantum Cosmology", "astro-ph.GA": "Astrophysics of Galaxies",
    "astro-ph.CO": "Cosmology and Nongalactic Astrophysics",
    "astro-ph.HE": "High Energy Astrophysics", "astro-ph.SR": "Solar and Stellar Astrophysics",
    "astro-ph.EP": "Earth and Planetary Astrophysics",
}
