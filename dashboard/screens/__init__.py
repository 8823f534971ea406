"""Streamlit page scripts, registered by dashboard/app.py."""
