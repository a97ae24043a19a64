"""The dashboard: a multipage Streamlit app over the marts and ``ml``, as the analyst role."""
