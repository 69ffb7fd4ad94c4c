"""The playtest benchmark: the model in closed loop through the rules (as worldmodel.sim.Simulator
runs it, bit-exact with the program), judged against the acceptance targets of issue 14.

    python -m worldmodel.playtest --model DIR --json [--report DIR] [--quick] [--games N]

- scripted scenarios on every supported stage (worldmodel/playtest/scenarios.py has the table of
  inputs and pass criteria), each with PASS/FAIL and its measured value;
- replay-driven full games (worldmodel/playtest/replays.py): every held-out game (eval's split)
  from its first frame with its recorded inputs, to its end or 8:00: invariant violations per
  10,000 frames (on the raw model output, after the rules, and on the replay itself), KOs per
  minute against the replay's own, airborne share, x distribution (W1 against the replay's),
  rule interventions per 10,000 frames (KOs are not interventions).
Prints a table; --report writes playtest.json, playtest.md, playtest.png.
"""
