"""The Streamlit layer: with pages/, the only code that imports Streamlit."""
