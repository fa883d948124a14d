"""The application on top of the library: the ``ssclip`` command, its presets and configs, the demo and
reports (as open_clip_train sits on top of open_clip). Nothing in the library imports from here."""
