"""The dashboard's entry point: `crimewh dashboard up` (or `make dashboard`) runs
``streamlit run app.py`` in this folder. It is the frame around every page: the navigation,
and the constant-reporters toggle that every NIBRS trend on the site honours."""

import streamlit as st

from dashboard.data import constant_range
from dashboard.queries import CONSTANT_REPORTERS_HELP

st.set_page_config(page_title="Crime Warehouse", layout="wide")

PAGES = [
    st.Page("views/nation.py", title="Nation and states", url_path="nation", default=True),
    st.Page("views/agency.py", title="Agency", url_path="agency"),
    st.Page("views/compliance.py", title="Reporting compliance", url_path="compliance"),
    st.Page("views/chicago.py", title="Chicago", url_path="chicago"),
    st.Page("views/models.py", title="Models", url_path="models"),
]
page = st.navigation(PAGES)

# ?constant=1 keeps the toggle in a shared link; the toggle then keeps the URL in step
if "constant" not in st.session_state:
    st.session_state["constant"] = st.query_params.get("constant") == "1"
constant = st.sidebar.toggle(
    "Constant reporters only", key="constant", help=CONSTANT_REPORTERS_HELP
)
if constant:
    st.query_params["constant"] = "1"
else:
    st.query_params.pop("constant", None)
st.sidebar.caption(
    "NIBRS master files and Chicago crimes, from the warehouse's marts, read as the "
    "analyst role. Synthetic data in the demo."
)
if constant:
    st.sidebar.caption(constant_range())
page.run()
