"""The pygame client: two players on one machine, online play and spectating, replays."""
import os

# pygame prints a banner on import unless told not to; the game has its own output.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
