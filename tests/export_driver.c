/* Runs an exported C policy (armfarm export --format c) over the observations of a CSV on
   stdin, one row per line, and prints the actions as armfarm policy does. C99, no harness. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol.h"

int main(void) {
  char line[65536];
  float obs[POLICY_OBS_DIM], act[POLICY_ACT_DIM];
  int i, rows = 0;
  while (fgets(line, sizeof line, stdin)) {
    char *p = line, *end;
    for (i = 0; i < POLICY_OBS_DIM; i++) {
      obs[i] = strtof(p, &end);
      if (end == p) return 2;
      p = *end == ',' ? end + 1 : end;
    }
    if (policy_act(obs, act) != 0) return 3;
    for (i = 0; i < POLICY_ACT_DIM; i++) printf("%s%.9g", i ? "," : "", (double)act[i]);
    printf("\n");
    rows++;
  }
  return rows > 0 ? 0 : 4;
}
