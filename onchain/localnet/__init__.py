"""The local chain stack: a base chain (the project's `basenode` over LiteSVM, or Anza's
validator) and MagicBlock's ER behind `er_proxy`, run by `stack` (`python -m onchain.localnet`)."""
