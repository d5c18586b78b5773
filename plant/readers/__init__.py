"""Reading plant exports, in plain Python (no Django): sniffed once (`sniff`), read in chunks
(`formats`), validated (`validation`, `parsing`, into a `report`), grouped by vehicle
(`records`)."""
