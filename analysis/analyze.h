// armfarm analyze: curves and final tables across seeds and variants of an experiment folder.
#ifndef AF_ANALYZE_H
#define AF_ANALYZE_H

// armfarm analyze DIR [--metric return|success] [--out DIR]: exit code
int af_cmd_analyze(int argc, char **argv);

#endif
