"""`python -m gateway`: runs the gateway with settings from the environment (DGXMUSIC_*)."""

from gateway.server import main

main()
