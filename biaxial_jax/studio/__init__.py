"""The studio: harmonize, compose and regenerate regions in the browser over a warm model (`experiments/studio.py`).

`service` holds the model and the versions, `jobs` runs one job at a time off the request threads, `app` is the HTTP
API and page, `engrave` the score as SVG.
"""
