"""Sphinx configuration of the docs site. ``docs/build.sh`` copies it into the generated source
folder (``docs/site.py`` writes the pages there), so paths here are relative to that folder."""

project = "losskit"
author = "losskit contributors"
extensions = ["myst_parser", "sphinx.ext.mathjax"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "losskit"
html_theme_options = {"page_width": "1180px", "sidebar_width": "230px"}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
# MathJax 3 served from the site itself: site.py copies its single-file SVG build (fonts
# included) from the django-static-mathjax wheel, so nothing is fetched at build or reading time.
mathjax_path = "mathjax/tex-svg.js"
# an unknown macro is an error (MathJax's default draws its name in red), which the browser test reads
mathjax3_config = {"tex": {"packages": {"[-]": ["noundefined"]}}}
myst_heading_anchors = 3
