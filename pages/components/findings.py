"""One way to show a finding on every page: its title, the evidence, and the fix (or, for an info, a note)."""

import streamlit as st

BOXES = {"error": st.error, "warning": st.warning}


def finding_box(finding, icon: str) -> None:
    """An info finding asks nothing of the person: its last sentence is a note, not a fix."""
    label = "Note" if finding.severity == "info" else "Fix"
    BOXES.get(finding.severity, st.info)(f"**{finding.title}.** {finding.evidence}\n\n**{label}:** {finding.fix}",
                                         icon=icon)
