"""The two implementations of onchain.sdk.backend.Backend: `embedded` (the compiled program in
an in-process LiteSVM, `svm`; `direct` drives its instructions without the interface) and
`remote` (JSON-RPC + PubSub to a validator or an ER), with the settings' chain `profiles`."""
