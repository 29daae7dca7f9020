"""What every part of loadtests shares: processes, servers, networking, histograms, run files."""
