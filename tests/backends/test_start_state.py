"""The default start state must name real categories of the shipped model's action table:
a fighter that starts as "dead" (category 0) is out of the training distribution."""
from onchain.backends.embedded import IDLE_ACTION, default_start_state
from worldmodel import cartridge as C
from worldmodel.dataset import CAT


def test_start_state_is_idle_on_ground():
    s = default_start_state()
    assert IDLE_ACTION == CAT["idle"]
    for p in range(2):
        assert s[p, C.FIELDS.index("action")] == CAT["idle"]
        assert s[p, C.FIELDS.index("y")] == 0 and s[p, C.FIELDS.index("airborne")] == 0
        assert s[p, C.FIELDS.index("stocks")] == 4
