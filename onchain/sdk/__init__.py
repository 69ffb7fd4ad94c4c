"""The SDK every client uses: account codecs and PDAs, instruction builders, the wire codec,
the Backend interface, the upload and delegation sequences, the program's error names and
keypair files. It imports nothing else of onchain (only worldmodel's cartridge format)."""
