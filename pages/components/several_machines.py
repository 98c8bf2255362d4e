"""New run's "Train on several machines": the config to copy and the command to start on each machine for one run
across them (torchrun's multi-machine rendezvous). Nothing is started from here."""

from __future__ import annotations

import json
import shlex
import socket

import streamlit as st

from core.common.safety import scrub_config
from core.config.schema import RunConfig
from core.rundir import runs
from core.runner import process
from pages.components.session import runs_dir

from core.common.errors import UserError

CONFIG_FILE = "run-config.json"


def run_folder(run_id: str) -> str:
    """The run folder as the commands name it: under the project folder when the runs live there."""
    folder = runs_dir() / run_id
    try:
        return str(folder.resolve().relative_to(process.PROJECT_ROOT))
    except ValueError:
        return str(folder)


def several_machines(config: RunConfig) -> None:
    with st.expander("Train on several machines", icon=":material/lan:"):
        st.caption("One run across several machines, each with "
                   f"{config.hardware.processes} training process{'es' if config.hardware.processes > 1 else ''} "
                   "(GPUs per machine, as set above). Every machine needs this project with the same packages, the "
                   "same config and the same data (a data file at the same path on each; a Hub model or data set "
                   "is downloaded on each), and must reach the first machine's port. The first machine writes the "
                   "run folder: start the dashboard there to watch it on Live run.")
        count_col, host_col, port_col = st.columns([1, 2, 1])
        machines = count_col.number_input("Machines", min_value=2, max_value=64, value=2, step=1,
                                          key="machines.count", help="How many machines train this run together.")
        host = host_col.text_input("Address of the first machine", value=socket.gethostname(), key="machines.host",
                                   help="Its host name or IP address as the other machines reach it.")
        port = port_col.number_input("Port", min_value=1024, max_value=65535, value=29500, step=1,
                                     key="machines.port", help="A free port on the first machine, open to the others.")
        run_id = st.session_state.setdefault("machines.run_id", runs.new_run_id(runs_dir(), config.name or "machines"))
        try:
            commands = process.node_commands(int(machines), config.hardware.processes, host.strip(), int(port),
                                             CONFIG_FILE, run_folder(run_id))
        except UserError as exc:
            st.error(exc.sentence, icon=":material/error:")
            return
        show_steps(config, commands)


def show_steps(config: RunConfig, commands: list[list[str]]) -> None:
    text = json.dumps(scrub_config(config.to_dict()), indent=2)
    st.markdown(f"**1.** Save this config as `{CONFIG_FILE}` in the project folder of every machine.")
    st.download_button(f"Download {CONFIG_FILE}", text, file_name=CONFIG_FILE, mime="application/json",
                       key="machines.download", icon=":material/download:")
    st.code(text, language="json", height=160)
    st.markdown("**2.** On each machine, from the project folder with its virtual environment active, start its "
                "command (the copy button is at the top right of each box). They wait for each other, then train "
                "as one run.")
    for rank, command in enumerate(commands):
        st.caption(f"Machine {rank + 1}" + (" (the address above; writes the run folder)" if rank == 0 else ""))
        with st.container(key=f"machines_command_{rank}"):
            st.code(shlex.join(command), language="bash", wrap_lines=True)
