"""Pieces the pages share: form fields built from the config, the data and model inputs, estimates, run actions,
Live run extras and the selected run. Only widgets and session state; the work is done by core/."""
