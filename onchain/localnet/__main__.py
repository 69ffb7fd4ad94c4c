"""python -m onchain.localnet up|down|status: see onchain.localnet.stack."""
import sys

from onchain.localnet.stack import main

sys.exit(main())
