"""Read models the web pages, the API and the reports share: what a figure says, never HTTP."""
