"""dgx-music inside Ardour: the editor-action scripts, their installer and the OSC bridge (`dgx-music ardour`)."""
