"""Core of the fine-tuning dashboard: everything except the Streamlit pages.

Nothing under core/ imports streamlit, so every piece here can be used from the
command line (`python -m core.train`) and tested without a browser.
"""
