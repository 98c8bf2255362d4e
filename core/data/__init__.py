"""Where texts and labels come from: built-ins, the Hub, files, column detection, stratified splits, tokenization."""
