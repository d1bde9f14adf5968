"""`python -m gateway`: runs the gateway with settings from the environment (DGXMUSIC_*)."""

from gateway.server import main

if __name__ == "__main__":  # not when the library's describing process (spawned) imports the main module again
    main()
