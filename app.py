"""Fine-tuning dashboard: `streamlit run app.py`.

This file only sets up the page and the navigation; each page lives in pages/.
"""

import streamlit as st

st.set_page_config(page_title="Fine-tune a text classifier", page_icon=":material/model_training:", layout="wide")

navigation = st.navigation([
    st.Page("pages/new_run.py", title="New run", icon=":material/rocket_launch:", default=True),
    st.Page("pages/live.py", title="Live run", icon=":material/monitoring:", url_path="live"),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/sweep.py", title="Sweep", icon=":material/tune:", url_path="sweep"),
    st.Page("pages/troubleshooting.py", title="Troubleshooting", icon=":material/build:", url_path="troubleshooting"),
])
navigation.run()
