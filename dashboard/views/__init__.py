"""Streamlit view functions; pages call these, these call dashboard.client."""
