"""Troubleshooting: checks of this environment, then the ten common training problems and what the dashboard does."""

import pandas as pd
import streamlit as st

from core.diagnostics import environment
from core.diagnostics.findings import Finding
from core.diagnostics.troubleshooting import Case, CASES
from pages.components.findings import finding_box
from pages.components.session import runs_dir, through_app_navigation

through_app_navigation()


def show_finding(finding: Finding) -> None:
    finding_box(finding, ":material/stethoscope:")


def show_environment(findings: list[Finding]) -> None:
    st.subheader("This environment")
    report = pd.DataFrame(environment.environment_report(runs_dir()))
    st.dataframe(report, hide_index=True, key="environment_table",
                 column_config={"item": "What", "value": "Installed / found"})
    if not any(f.severity in ("error", "warning") for f in findings):
        st.success("No problem found in this environment.", icon=":material/check_circle:")
    for finding in findings:
        show_finding(finding)


def show_case(number: int, case: Case, findings: list[Finding]) -> None:
    with st.expander(f"{number}. {case.title}"):
        st.markdown(f"**What you see:** {case.symptom}\n\n**Why:** {case.cause}\n\n"
                    f"**What the dashboard does:** {case.automatic}")
        if case.check is None:
            return
        st.caption("Checked on this machine just now:")
        matching = [f for f in findings if f.code in case.codes]
        for finding in matching:
            show_finding(finding)
        if not matching and case.all_clear:
            st.success(case.all_clear, icon=":material/check_circle:")


st.title("Troubleshooting")
environment_findings = environment.all_environment_findings(runs_dir())
show_environment(environment_findings)
st.subheader("Common problems")
for index, problem in enumerate(CASES, start=1):
    show_case(index, problem, environment_findings)
